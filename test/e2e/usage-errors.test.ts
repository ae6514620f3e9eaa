// Every oclif parse error rendered by the one BaseCommand in the project's style: one line naming the
// argument or flag and the form it accepts, then the usage line, exit 2 (health: 3, UNKNOWN, with its
// report line on stdout once and only the usage line on stderr).
import {afterAll, describe, expect, it} from 'vitest'

import {makeStateDir, removeStateDir, runCli} from '../support/agent-process.js'
import {parseAs} from '../support/schemas.js'

const stateDir = makeStateDir()
afterAll(() => removeStateDir(stateDir))

const cases: [string[], string, string][] = [
  [['job', 'show'], 'danube: missing argument ID (job id)', 'usage: danube job show ID [--json] [--config <value>]'],
  [['job', 'run'], 'danube: missing required flag --file <value>: job spec file (YAML or JSON), or - for standard input', 'usage: danube job run --file <value> [--wait] [--json] [--config <value>]'],
  [['job', 'list', '--limit', 'abc'], 'danube: --limit: "abc" is not a whole number; expected at most this many jobs: a whole number from 1 to 1000', 'usage: danube job list [--state queued|deferred|running|succeeded|failed|cancelled] [--limit <n>] [--json] [--config <value>]'],
  [['job', 'list', '--limit', '0'], 'danube: --limit: "0" is less than the minimum 1; expected at most this many jobs: a whole number from 1 to 1000', 'usage: danube job list [--state queued|deferred|running|succeeded|failed|cancelled] [--limit <n>] [--json] [--config <value>]'],
  [['job', 'list', '--limit'], 'danube: --limit needs a value: at most this many jobs: a whole number from 1 to 1000', 'usage: danube job list [--state queued|deferred|running|succeeded|failed|cancelled] [--limit <n>] [--json] [--config <value>]'],
  [['job', 'list', '--state', 'done'], 'danube: --state: "done" is not one of queued, deferred, running, succeeded, failed, cancelled', 'usage: danube job list [--state queued|deferred|running|succeeded|failed|cancelled] [--limit <n>] [--json] [--config <value>]'],
  [['job', 'show', 'a', 'b'], 'danube: unexpected argument "b" (job show takes ID)', 'usage: danube job show ID [--json] [--config <value>]'],
  [['status', '--bogus'], 'danube: unknown flag --bogus (status takes --json, --config)', 'usage: danube status [--json] [--config <value>]'],
]

describe('parse errors', () => {
  it.each(cases)('danube %j: one line naming it and its form, the usage line, exit 2', async (args, first, usage) => {
    const result = await runCli(args, {stateDir})
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`${first}\n${usage}\n`)
  })

  it('with --json: one JSON envelope on stdout, exitCode 2, nothing on stderr', async () => {
    const result = await runCli(['job', 'show', '--json'], {stateDir})
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('')
    expect(parseAs('error', result.stdout)).toEqual({error: {code: 'USAGE', message: 'missing argument ID (job id)', hint: 'usage: danube job show ID [--json] [--config <value>]', exitCode: 2}})
  })

  it('an unknown command: the closest command and the list, in the same style, exit 2', async () => {
    const typo = await runCli(['jobs', 'list'], {stateDir})
    expect(typo.code).toBe(2)
    const [first, second, ...rest] = typo.stderr.split('\n')
    expect(first).toBe('danube: unknown command "jobs list" (did you mean "job list"?)')
    expect(second).toMatch(/^usage: danube COMMAND \[flags\]; commands: .*job list.*status/)
    expect(rest).toEqual([''])
    expect(typo.stdout).toBe('')
    const flag = await runCli(['--bogus'], {stateDir})
    expect(flag.code).toBe(2)
    expect(flag.stderr.split('\n')[0]).toBe('danube: unknown flag --bogus (flags go after a command, e.g. danube status --json)')
    const json = await runCli(['bogus', '--json'], {stateDir})
    expect(json.code).toBe(2)
    expect(parseAs('error', json.stdout)).toMatchObject({error: {code: 'USAGE', message: 'unknown command "bogus"', exitCode: 2}})
  })

  it('health: UNKNOWN (3), the report line once on stdout, only the usage line on stderr', async () => {
    const result = await runCli(['health', '--bogus'], {stateDir})
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('DANUBE UNKNOWN - unknown flag --bogus (health takes --timeout, --exclude, --json, --config)\n')
    expect(result.stderr).toBe('usage: danube health [--timeout <value>] [--exclude <value>] [--json] [--config <value>]\n')
  })

  it('health: an error of its own appears once (stdout), its hint on stderr', async () => {
    const result = await runCli(['health', '--exclude', 'nope:x'], {stateDir})
    expect(result.code).toBe(3)
    expect(result.stdout.split('\n')[0]).toBe('DANUBE UNKNOWN - --exclude: no health check named "nope:x"')
    expect(result.stderr).not.toContain('no health check named')
    expect(result.stderr).toMatch(/^hint: known checks: /)
  })
})
