// Bad input to `danube drain`, end to end through bin/run.js: usage errors exit 2 and change nothing.

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Store} from '../../src/lib/store/index.js'
import {makeStateDir, removeStateDir, runCli} from '../support/agent-process.js'
import {parseAs} from '../support/schemas.js'
import {drainRow} from '../support/drain.js'

describe('danube drain: bad input and no-op requests', () => {
  let stateDir: string
  beforeAll(() => {
    stateDir = makeStateDir('danube-drain-usage-')
    Store.openInStateDir(stateDir, {create: true}).close()
  })
  afterAll(() => removeStateDir(stateDir))

  // The rest of the flag rules are unit-tested in test/unit/drain-watch.test.ts; these go through oclif.
  it.each([
    [['--timeout', '10'], /--timeout: "10" is not a duration; use a number with a unit/],
    [['--timeout=-5s'], /--timeout: "-5s" is not a duration/],
    [['--force', '--no-timeout'], /--force needs a deadline/],
  ])('danube drain %j exits 2', async (args, message) => {
    const result = await runCli(['drain', ...args], {stateDir})
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(drainRow(stateDir).state).toBe('active')
  })

  it('--json usage errors are a JSON envelope with exitCode 2', async () => {
    const result = await runCli(['drain', '--timeout', '10', '--json'], {stateDir})
    expect(result.code).toBe(2)
    expect(parseAs('error', result.stdout)).toMatchObject({error: {code: 'INVALID_DURATION', exitCode: 2}})
  })

  it('--cancel when not draining exits 0 and says so; --monitor with no drain is an error', async () => {
    const cancel = await runCli(['drain', '--cancel'], {stateDir})
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toContain('Not draining; nothing to cancel.')
    const monitor = await runCli(['drain', '--monitor'], {stateDir})
    expect(monitor.code).toBe(1)
    expect(monitor.stderr).toContain('no drain in progress')
  })
})
