// The CLI as an operator runs it: bin/run.js in a child process, exit codes, stdout and stderr.
import {chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, makeStateDir, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {jobProcesses} from '../../src/agent/executors/process-group.js'
import {releaseGate} from '../support/drain.js'
import {processIsLive} from '../support/processes.js'
import {parseAs} from '../support/schemas.js'

const twoStep = 'name: e2e\nsteps:\n  - name: build\n    run: echo building\n  - name: package\n    run: echo hi > "$DANUBE_OUTPUT_DIR/out.txt"\n'

describe('with the agent running', () => {
  let agent: AgentProcess
  let specFile: string
  beforeAll(async () => {
    agent = await startAgent()
    specFile = path.join(agent.stateDir, 'job.yaml')
    writeFileSync(specFile, twoStep)
  })
  afterAll(async () => {
    await agent.stop('SIGKILL')
    removeStateDir(agent.stateDir)
  })

  it('job run --wait --json prints exactly one JSON document and exits 0 when the job succeeds', async () => {
    const result = await runCli(['job', 'run', '--file', specFile, '--wait', '--json'], {stateDir: agent.stateDir})
    expect(result.code).toBe(0)
    const job = parseAs<{id: string; state: string}>('job-run', result.stdout)
    expect(job.state).toBe('succeeded')
    expect(readFileSync(path.join(agent.stateDir, 'artifacts', job.id, 'out.txt'), 'utf8')).toBe('hi\n')

    const shown = await runCli(['job', 'show', job.id, '--json'], {stateDir: agent.stateDir})
    expect(parseAs('job-show', shown.stdout)).toMatchObject({id: job.id, state: 'succeeded', steps: [{name: 'build'}, {name: 'package'}]})
    const logs = await runCli(['job', 'logs', job.id], {stateDir: agent.stateDir})
    expect(logs.stdout).toContain('building')
    const list = await runCli(['job', 'list', '--state', 'succeeded', '--json'], {stateDir: agent.stateDir})
    expect(parseAs<{jobs: {id: string}[]}>('job-list', list.stdout).jobs.map((j) => j.id)).toContain(job.id)
  })

  it('job run reads the spec from standard input and exits 1 under --wait when the job fails', async () => {
    const result = await runCli(['job', 'run', '--file', '-', '--wait'], {stateDir: agent.stateDir, input: '{"name": "fails", "steps": [{"run": "exit 4"}]}'})
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/job [0-9a-f-]+ failed \(exit-code\)/)
  })

  it('job logs --follow prints until the job ends', async () => {
    const gate = releaseGate(agent.stateDir, 'follow')
    const spec = JSON.stringify({name: 'slow', steps: [{run: `echo one; ${gate.run}; echo two`}]})
    const started = await runCli(['job', 'run', '--file', '-', '--json'], {stateDir: agent.stateDir, input: spec})
    const {id} = JSON.parse(started.stdout) as {id: string}
    let printed = ''
    const following = runCli(['job', 'logs', id, '--follow'], {stateDir: agent.stateDir, onStdout: (chunk) => (printed += chunk)})
    // The job cannot end before the gate opens: its first line printed means the CLI is following a running job.
    await waitFor(() => printed.includes('one\n'), {what: 'the first line to be followed'})
    gate.release()
    const followed = await following
    expect(followed.code).toBe(0)
    expect(followed.stdout).toMatch(/one\n[\s\S]*two\n[\s\S]*job succeeded/)
  })

  it('job cancel cancels a running job', async () => {
    const started = await runCli(['job', 'run', '--file', '-', '--json'], {stateDir: agent.stateDir, input: 'name: long\nsteps:\n  - run: echo $$ > "$DANUBE_WORKSPACE/../long.pid"; exec sleep 60\n'})
    const {id} = JSON.parse(started.stdout) as {id: string}
    const pidFile = path.join(agent.stateDir, 'work', id, 'long.pid')
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), {what: 'the step running'})
    // Host pids: inside the sandbox's PID namespace the step's $$ means nothing out here.
    const pids = jobProcesses(id)
    expect(pids.length).toBeGreaterThan(0)
    const cancelled = await runCli(['job', 'cancel', id], {stateDir: agent.stateDir})
    expect(cancelled.code).toBe(0)
    expect(cancelled.stdout).toMatch(new RegExp(`^job ${id} (cancelling|cancelled)\n$`))
    const job = await waitFor(async () => {
      const shown = parseAs<{state: string; reason: string | null}>('job-show', (await runCli(['job', 'show', id, '--json'], {stateDir: agent.stateDir})).stdout)
      return shown.state === 'running' ? undefined : shown
    }, {what: 'the job to end'})
    expect(job).toMatchObject({state: 'cancelled', reason: 'user'})
    expect(pids.filter((pid) => processIsLive(pid))).toEqual([])
  })

  it('status --json reports the running agent', async () => {
    const result = await runCli(['status', '--json'], {stateDir: agent.stateDir})
    const status = parseAs<{agent: {state: string; pid: number; httpAddr: string}; drain: {state: string}}>('status', result.stdout)
    expect(status.agent).toMatchObject({state: 'running', pid: agent.child.pid, httpAddr: agent.httpAddr})
    expect(status.drain.state).toBe('active')
  })

  it('refuses a malformed spec with exit 2 and one line, and admits nothing', async () => {
    const before = JSON.parse((await runCli(['job', 'list', '--json', '--limit', '1000'], {stateDir: agent.stateDir})).stdout).jobs.length
    const result = await runCli(['job', 'run', '--file', '-'], {stateDir: agent.stateDir, input: 'name: x\nsteps:\n  - run: [unclosed\n'})
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n')[0]).toMatch(/^danube: standard input is not valid YAML or JSON/)
    const unknown = await runCli(['job', 'run', '--file', '-', '--json'], {stateDir: agent.stateDir, input: 'name: x\nsteps: [{run: "true"}]\ntimeout: 10\n'})
    expect(unknown.code).toBe(2)
    expect(parseAs('error', unknown.stdout)).toMatchObject({error: {code: 'INVALID_SPEC', exitCode: 2}})
    const after = JSON.parse((await runCli(['job', 'list', '--json', '--limit', '1000'], {stateDir: agent.stateDir})).stdout).jobs.length
    expect(after).toBe(before)
  })

  it('says which job id is unknown, exit 1', async () => {
    const result = await runCli(['job', 'show', 'no-such-job'], {stateDir: agent.stateDir})
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no job with id no-such-job')
  })
})

describe('with the agent down', () => {
  const stateDir = makeStateDir()
  const stopped = makeStateDir()
  beforeAll(async () => {
    // A state directory whose agent ran once and stopped: a database, an agent row, a token.
    const agent = await startAgent({stateDir: stopped})
    await agent.stop('SIGTERM')
  })
  afterAll(() => {
    removeStateDir(stateDir)
    removeStateDir(stopped)
  })

  it('status works and reports the agent down, never that jobs are accepted', async () => {
    const result = await runCli(['status', '--json'], {stateDir: stopped})
    expect(result.code).toBe(0)
    expect(parseAs('status', result.stdout)).toMatchObject({agent: {state: 'down'}, jobs: {queued: 0}, stateId: expect.stringMatching(/^[0-9a-f]{32}$/)})
    const human = await runCli(['status'], {stateDir: stopped})
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^Drain +not draining \(the agent is down: no job is accepted or started until it runs\)$/m)
    expect(human.stdout).not.toMatch(/accepting jobs|active/)
  })

  it('status with a state directory that does not exist, or sits under a file: exit 1 naming the path, and --json says so', async () => {
    const missing = path.join(stateDir, 'no-such-dir')
    const result = await runCli(['status'], {stateDir: missing})
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`danube: state directory ${missing} does not exist\nhint: point DANUBE_HOME (or stateDir in the config file) at the agent's state directory, or start the agent once (danube agent) to create it\n`)
    const json = await runCli(['status', '--json'], {stateDir: missing})
    expect(json.code).toBe(1)
    expect(parseAs('error', json.stdout)).toMatchObject({error: {code: 'STATE_DIR_MISSING', exitCode: 1, message: expect.stringContaining(missing)}})
    const file = path.join(stateDir, 'a-file')
    writeFileSync(file, '')
    const underFile = await runCli(['status', '--json'], {stateDir: path.join(file, 'state')})
    expect(underFile.code).toBe(1)
    expect(parseAs('error', underFile.stdout)).toMatchObject({error: {code: 'STATE_DIR_MISSING', message: expect.stringContaining('a part of its path is a file')}})
    const noDatabase = await runCli(['status', '--json'], {stateDir})
    expect(noDatabase.code).toBe(1)
    expect(parseAs('error', noDatabase.stdout)).toMatchObject({error: {code: 'NO_DATABASE', message: `no danube database at ${path.join(stateDir, 'danube.db')}`}})
  })

  it('job run says the agent is not reachable, exit 1', async () => {
    const result = await runCli(['job', 'run', '--file', '-'], {stateDir: stopped, input: twoStep, env: {DANUBE_HTTP_ADDR: '127.0.0.1:9'}})
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/the agent is not reachable at 127.0.0.1:9/)
    expect(result.stderr).toContain('hint: start it with `danube agent` (or `systemctl start danube`); if it listens elsewhere, set http.addr (DANUBE_HTTP_ADDR) to its address')
  })

  it('job run with no database says so, whatever listens on the network, exit 1', async () => {
    const result = await runCli(['job', 'run', '--file', '-'], {stateDir, input: twoStep})
    expect(result.code).toBe(1)
    expect(result.stderr.split('\n')[0]).toBe(`danube: no danube database at ${path.join(stateDir, 'danube.db')}`)
  })

  it('job list says there is no database yet and how to create it', async () => {
    const result = await runCli(['job', 'list'], {stateDir})
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/no danube database at .*danube.db\nhint: start the agent once/)
  })

  it('refuses a database file that is not SQLite, without changing it', async () => {
    const dir = makeStateDir()
    const db = path.join(dir, 'danube.db')
    writeFileSync(db, 'not sqlite '.repeat(1000))
    const before = statSync(db).mtimeMs
    const list = await runCli(['job', 'list'], {stateDir: dir})
    expect(list.code).toBe(1)
    expect(list.stderr).toContain(`${db} is not a SQLite database`)
    const agent = await runCli(['agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'], {stateDir: dir})
    expect(agent.code).toBe(1)
    expect(agent.stderr).toContain('is not a SQLite database')
    expect(statSync(db).mtimeMs).toBe(before)
    removeStateDir(dir)
  })

  it('refuses a state directory it cannot write, naming it', async () => {
    const parent = makeStateDir()
    chmodSync(parent, 0o755)
    const locked = path.join(parent, 'locked')
    mkdirSync(locked, {mode: 0o555})
    const stateDir = path.join(locked, 'state')
    // Root ignores permission bits, so as root the agent runs as nobody (uid 65534) here.
    const asNobody = process.getuid?.() === 0
    const result = await runCli(['agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'], {stateDir, uid: asNobody ? 65_534 : undefined, env: {HOME: parent}})
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`cannot create state directory ${stateDir}: EACCES`))
    removeStateDir(parent)
  })

  it('refuses a config file with an unknown key, exit 2, naming key and file', async () => {
    const file = path.join(stateDir, 'config.yaml')
    writeFileSync(file, 'jobs:\n  maxconcurrent: 3\n')
    const result = await runCli(['config', 'show', '--config', file], {stateDir})
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n')[0]).toBe(`danube: unknown key "jobs.maxconcurrent" in ${file}`)
  })

  it('config show --json gives every key with its source', async () => {
    const result = await runCli(['config', 'show', '--json'], {stateDir, env: {DANUBE_JOBS_MAX_CONCURRENT: '3'}})
    const shown = parseAs<{settings: {key: string; value: unknown; source: string; env: string}[]}>('config-show', result.stdout)
    expect(shown.settings.find((s) => s.key === 'jobs.maxConcurrent')).toEqual({key: 'jobs.maxConcurrent', value: 3, source: 'env', env: 'DANUBE_JOBS_MAX_CONCURRENT'})
    expect(shown.settings.find((s) => s.key === 'stateDir')).toMatchObject({value: stateDir, source: 'env', env: 'DANUBE_HOME'})
  })

  it('help lists each command with its exit statuses, the meanings in one column', async () => {
    const result = await runCli(['job', 'run', '--help'], {stateDir, env: {COLUMNS: '200'}})
    const section = result.stdout.slice(result.stdout.indexOf('EXIT STATUS')).split('\n\n')[0]!.split('\n').slice(1)
    expect(section.map((line) => line.trim().split(/\s+/)[0])).toEqual(['0', '1', '2', '75'])
    const columns = new Set(section.map((line) => line.search(/(?<=\d\s+)\S/)))
    expect(columns.size).toBe(1)
    expect(result.stdout).toMatch(/75 +the agent is draining/)
  })

  it('an unknown flag is a usage error naming the flag, then the usage line, exit 2', async () => {
    const result = await runCli(['status', '--bogus'], {stateDir})
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('danube: unknown flag --bogus (status takes --json, --config)\nusage: danube status [--json] [--config <value>]\n')
  })
})
