// Hostile job steps against a real agent and real bubblewrap: what a step must not read, signal, write or
// outlive, as root and as an unprivileged user (uid 65534, through a user namespace); network none; and
// the modes: `bubblewrap` refusing to start without bwrap, `auto` running unsandboxed and saying so.
//
// The state directories live under /var/tmp, not os.tmpdir(): the sandbox gives every step a private /tmp,
// which would hide a state dir under /tmp whatever the masks do. Under /var/tmp (read-only, visible in the
// sandbox) only the masks hide them, so these tests check the masks themselves. Each is removed afterwards.

import {chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {jobProcesses} from '../../src/agent/executors/process-group.js'
import {type AgentProcess, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {processIsLive} from '../support/processes.js'

interface JobJson {
  id: string
  state: string
  reason: string | null
  exitCode: number | null
  steps: {state: string; exitCode: number | null}[]
}

const SANDBOX_BASE = '/var/tmp'
const AGENT_SECRET = 'agent-only-secret-4f1c'

/** A state dir with everything a step must not see around it: keys.dir, a kubeconfig and a hidden path outside it. */
function makeLayout(uid?: number) {
  const base = mkdtempSync(path.join(SANDBOX_BASE, 'danube-sandbox-test-'))
  const layout = {
    base,
    state: path.join(base, 'state'),
    keys: path.join(base, 'keys'),
    hidden: path.join(base, 'hidden'),
    kubeconfig: path.join(base, 'kubeconfig.yaml'),
    outside: path.join(base, 'outside'),
  }
  for (const dir of [layout.state, layout.keys, layout.hidden, layout.outside]) mkdirSync(dir, {mode: 0o700})
  writeFileSync(path.join(layout.keys, 'signing.key'), 'KEY-MATERIAL\n', {mode: 0o600})
  writeFileSync(path.join(layout.hidden, 'secret.txt'), 'HIDDEN-SECRET\n', {mode: 0o600})
  writeFileSync(layout.kubeconfig, 'KUBE-SECRET\n', {mode: 0o600})
  if (uid !== undefined) chownTree(base, uid)
  return layout
}

function chownTree(target: string, uid: number): void {
  chownSync(target, uid, uid)
  if (statSync(target).isDirectory()) for (const entry of readdirSync(target)) chownTree(path.join(target, entry), uid)
}

function layoutEnv(layout: ReturnType<typeof makeLayout>, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: layout.base,
    DANUBE_KEYS_DIR: layout.keys,
    DANUBE_JOBS_LOCAL_HIDDEN_PATHS: layout.hidden,
    DANUBE_KUBERNETES_KUBECONFIG: layout.kubeconfig,
    DANUBE_JOBS_MAX_CONCURRENT: '4',
    DANUBE_JOBS_KILL_GRACE_PERIOD: '1s',
    AGENT_ONLY_SECRET: AGENT_SECRET,
    ...extra,
  }
}

async function trigger(agent: AgentProcess, spec: unknown): Promise<JobJson> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  return (await response.json()) as JobJson
}

async function finished(agent: AgentProcess, id: string, timeoutMs = 20_000): Promise<JobJson> {
  return waitFor(async () => {
    const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobJson
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
  }, {timeoutMs, what: `job ${id} to finish`})
}

/** Each attempt prints "name: denied" or "name: ALLOWED"; the list is what the issue names, plus the paths around it. */
const HOSTILE_STEP = String.raw`
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: ALLOWED"; else echo "$name: denied"; fi; }
try token-relative cat "$DANUBE_WORKSPACE/../../../agent.token"
try token-absolute cat "$STATE/agent.token"
try database cat "$STATE/danube.db"
try keys-dir cat "$KEYS/signing.key"
try kubeconfig grep -q KUBE-SECRET "$KUBE"
try hidden-path cat "$HIDDEN/secret.txt"
try agent-environ cat "/proc/$AGENT_PID/environ"
try any-environ sh -c 'cat /proc/[0-9]*/environ 2>/dev/null | tr "\0" "\n" | grep -q AGENT_ONLY_SECRET'
try other-workspace cat "$OTHER/secret.txt"
try other-work-dirs sh -c 'ls -A "$STATE/work" | grep -v "^$DANUBE_JOB_ID\$" | grep -q .'
try signal-agent kill -0 "$AGENT_PID"
try term-agent kill -TERM "$AGENT_PID"
try write-artifacts touch "$STATE/artifacts/planted"
try write-own-log sh -c 'echo planted >> "$STATE/logs/$DANUBE_JOB_ID.log"'
try write-state touch "$STATE/planted"
try write-outside touch "$OUTSIDE/planted"
try write-root touch /planted-by-a-step
echo mine > own.txt && cp own.txt "$DANUBE_OUTPUT_DIR/own.txt"
`
const ATTEMPTS = [...HOSTILE_STEP.matchAll(/^try (\S+)/gm)].map((match) => match[1])

const IS_ROOT = process.getuid?.() === 0
// As root the suite runs twice: as root, and as uid 65534 (a user namespace). Run by anyone else, the agent
// is unprivileged already; only the root case cannot be had, and is left out for that reason.
const AGENT_USERS = IS_ROOT
  ? [
      {who: 'as root', uid: undefined},
      {who: 'unprivileged (uid 65534, user namespace)', uid: 65534},
    ]
  : [{who: `unprivileged (uid ${process.getuid?.()}, user namespace)`, uid: undefined}]

describe.each(AGENT_USERS)('a sandboxed step $who', ({uid}) => {
  let layout: ReturnType<typeof makeLayout>
  let agent: AgentProcess

  beforeAll(async () => {
    layout = makeLayout(uid)
    agent = await startAgent({stateDir: layout.state, uid, env: layoutEnv(layout, {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'})})
  })
  afterAll(async () => {
    await agent?.stop('SIGKILL')
    rmSync(layout.base, {recursive: true, force: true})
  })

  it('cannot read the token, database, keys, kubeconfig, hidden paths, the agent environment or another job; cannot signal the agent or write outside its own work', async () => {
    // The other job runs until the test cancels it (600 s is only a backstop): with 'sleep 30' a slow hostile job on a
    // loaded machine let it succeed on its own before the cancel.
    const other = await trigger(agent, {name: 'other', steps: [{run: 'echo other-secret > secret.txt; sleep 600'}]})
    const otherWorkspace = path.join(layout.state, 'work', other.id, 'workspace')
    await waitFor(() => existsSync(path.join(otherWorkspace, 'secret.txt')), {what: 'the other job to write its secret'})
    const env = {STATE: layout.state, KEYS: layout.keys, HIDDEN: layout.hidden, KUBE: layout.kubeconfig, OUTSIDE: layout.outside, OTHER: otherWorkspace, AGENT_PID: String(agent.child.pid)}
    const hostile = await trigger(agent, {name: 'hostile', env, steps: [{name: 'attempts', run: HOSTILE_STEP}]})
    const done = await finished(agent, hostile.id)
    expect(done).toMatchObject({state: 'succeeded', exitCode: 0})

    const log = await (await agent.api(`/api/v1/jobs/${hostile.id}/logs`)).text()
    const verdicts = Object.fromEntries([...log.matchAll(/^(\S+): (denied|ALLOWED)$/gm)].map((match) => [match[1], match[2]]))
    expect(verdicts).toEqual(Object.fromEntries(ATTEMPTS.map((name) => [name, 'denied'])))
    expect(log).not.toContain('planted')

    // The job's own work is as it always was; nothing was planted anywhere else.
    expect(readFileSync(path.join(layout.state, 'artifacts', hostile.id, 'own.txt'), 'utf8')).toBe('mine\n')
    for (const planted of [path.join(layout.state, 'artifacts', 'planted'), path.join(layout.state, 'planted'), path.join(layout.outside, 'planted'), '/planted-by-a-step']) {
      expect(existsSync(planted)).toBe(false)
    }
    expect(processIsLive(agent.child.pid!)).toBe(true)
    expect(readFileSync(path.join(otherWorkspace, 'secret.txt'), 'utf8')).toBe('other-secret\n')
    await agent.api(`/api/v1/jobs/${other.id}/cancel`, {method: 'POST'})
    expect((await finished(agent, other.id)).state).toBe('cancelled')
  })

  it('cannot escape cancel with setsid: every process of the sandbox dies', async () => {
    const job = await trigger(agent, {
      name: 'escape',
      steps: [{run: 'for n in 1 2 3 4 5; do setsid sleep 1000 & done; setsid sh -c "trap \\"\\" TERM; sleep 1000" & touch "$DANUBE_WORKSPACE/../started"; wait'}],
    })
    await waitFor(() => existsSync(path.join(layout.state, 'work', job.id, 'started')), {what: 'the step to start its sleepers'})
    const pids = await waitFor(() => {
      const live = jobProcesses(job.id)
      return live.length >= 7 ? live : undefined
    }, {what: 'the sleepers to be visible'})
    const cancel = await agent.api(`/api/v1/jobs/${job.id}/cancel`, {method: 'POST'})
    expect(cancel.status).toBe(202)
    expect((await finished(agent, job.id)).state).toBe('cancelled')
    expect(pids.filter((pid) => processIsLive(pid))).toEqual([])
  })

  it('is reported as bubblewrap by status --json, status and the health report', async () => {
    const json = await runCli(['status', '--json'], {stateDir: layout.state})
    expect(JSON.parse(json.stdout)).toMatchObject({sandbox: {mode: 'bubblewrap', setting: 'bubblewrap', network: 'host'}})
    expect((await runCli(['status'], {stateDir: layout.state})).stdout).toMatch(/Sandbox\s+bubblewrap \(network host\)/)
    const ready = (await (await agent.api('/health/ready?verbose')).json()) as {checks: Record<string, {status: string; observedValue: string}[]>}
    expect(ready.checks['executor:isolation']?.[0]).toMatchObject({status: 'pass', observedValue: 'bubblewrap'})
  })

  it("leaves no process behind when a step ends with setsid'd children still running", async () => {
    const job = await trigger(agent, {name: 'daemon', steps: [{run: 'setsid sleep 1000 >/dev/null 2>&1 </dev/null & setsid sh -c "sleep 1000" & exit 0'}]})
    expect((await finished(agent, job.id)).state).toBe('succeeded')
    expect(jobProcesses(job.id)).toEqual([])
  })
})

describe('stopping a sandboxed step', () => {
  let layout: ReturnType<typeof makeLayout>
  let agent: AgentProcess

  beforeAll(async () => {
    layout = makeLayout()
    // A grace far longer than the test waits: a step that got no SIGTERM could only end by the SIGKILL after it.
    agent = await startAgent({stateDir: layout.state, env: layoutEnv(layout, {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap', DANUBE_JOBS_KILL_GRACE_PERIOD: '60s'})})
  })
  afterAll(async () => {
    await agent?.stop('SIGKILL')
    rmSync(layout.base, {recursive: true, force: true})
  })

  it('sends a cancelled step SIGTERM once, and leaves what its trap starts the grace', async () => {
    const job = await trigger(agent, {
      name: 'trapped',
      steps: [{run: `trap 'echo got-term; sleep 0.3 && echo cleaned-up; exit 0' TERM; touch "$DANUBE_WORKSPACE/../trapped"; sleep 600 & wait`}],
    })
    // Cancelled once the trap is set: a SIGTERM before it (a cancel right at the start) ends the shell outright.
    await waitFor(() => existsSync(path.join(layout.state, 'work', job.id, 'trapped')), {what: 'the step to set its trap'})
    expect((await agent.api(`/api/v1/jobs/${job.id}/cancel`, {method: 'POST'})).status).toBe(202)
    expect((await finished(agent, job.id)).state).toBe('cancelled')
    const log = await (await agent.api(`/api/v1/jobs/${job.id}/logs`)).text()
    expect(log).toContain('got-term')
    expect(log).toContain('cleaned-up')
  })
})

describe('jobs.local.network', () => {
  const connect = String.raw`"$NODE" -e 'require("net").connect(Number(process.env.PORT), "127.0.0.1").on("connect", () => process.exit(0)).on("error", () => process.exit(7))'`
  let layout: ReturnType<typeof makeLayout>
  let isolated: AgentProcess
  let shared: AgentProcess

  beforeAll(async () => {
    layout = makeLayout()
    isolated = await startAgent({stateDir: path.join(layout.base, 'state'), env: layoutEnv(layout, {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap', DANUBE_JOBS_LOCAL_NETWORK: 'none'})})
    mkdirSync(path.join(layout.base, 'state-host'), {mode: 0o700})
    shared = await startAgent({stateDir: path.join(layout.base, 'state-host'), env: layoutEnv(layout, {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'})})
  })
  afterAll(async () => {
    await Promise.all([isolated?.stop('SIGKILL'), shared?.stop('SIGKILL')])
    rmSync(layout.base, {recursive: true, force: true})
  })

  it("none: a step cannot reach the agent's HTTP port", async () => {
    const port = isolated.httpAddr.split(':').at(-1)!
    const job = await trigger(isolated, {name: 'reach', env: {NODE: process.execPath, PORT: port}, steps: [{run: connect}]})
    expect(await finished(isolated, job.id)).toMatchObject({state: 'failed', exitCode: 7})
  })

  it("host: a step reaches the agent's loopback port (which the token protects)", async () => {
    const port = shared.httpAddr.split(':').at(-1)!
    const job = await trigger(shared, {name: 'reach', env: {NODE: process.execPath, PORT: port}, steps: [{run: connect}]})
    expect(await finished(shared, job.id)).toMatchObject({state: 'succeeded', exitCode: 0})
  })
})

describe('jobs.local.sandbox without bubblewrap on PATH', () => {
  let layout: ReturnType<typeof makeLayout>
  let binDir: string

  beforeAll(() => {
    layout = makeLayout()
    // Every tool the steps below use, and no bwrap.
    binDir = path.join(layout.base, 'bin')
    mkdirSync(binDir)
    for (const tool of ['sh', 'cat', 'ls', 'grep', 'sleep', 'setsid', 'touch', 'tr', 'env', 'seq']) {
      const found = ['/usr/bin', '/bin'].map((dir) => path.join(dir, tool)).find((candidate) => existsSync(candidate))!
      symlinkSync(found, path.join(binDir, tool))
    }
  })
  afterAll(() => rmSync(layout.base, {recursive: true, force: true}))

  it('bubblewrap: refuses to start, naming the cause and the fix', async () => {
    const start = startAgent({stateDir: layout.state, env: layoutEnv(layout, {PATH: binDir, DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'})})
    await expect(start).rejects.toThrow(/bubblewrap \(bwrap\) is not installed or not on PATH[\s\S]*apt-get install bubblewrap/)
  })

  describe('auto', () => {
    let agent: AgentProcess
    beforeAll(async () => {
      agent = await startAgent({stateDir: layout.state, env: layoutEnv(layout, {PATH: binDir, DANUBE_JOBS_LOCAL_SANDBOX: 'auto'})})
    })
    afterAll(async () => {
      await agent?.stop('SIGKILL')
    })

    it('runs jobs unsandboxed and warns in the log, status, status --json and the health report', async () => {
      const warning = agent.logs().split('\n').find((line) => line.includes('"job steps run unsandboxed"'))
      expect(JSON.parse(warning!)).toMatchObject({level: 'warn', sandbox: 'auto', reason: 'bubblewrap (bwrap) is not installed or not on PATH', fix: 'install it (apt-get install bubblewrap)'})

      // Unsandboxed means what the sandbox prevents works: the token is one relative path away.
      const job = await trigger(agent, {name: 'exposed', steps: [{run: 'cat "$DANUBE_WORKSPACE/../../../agent.token" > /dev/null'}]})
      expect(await finished(agent, job.id)).toMatchObject({state: 'succeeded'})

      const json = await runCli(['status', '--json'], {stateDir: layout.state, env: {PATH: binDir}})
      expect(JSON.parse(json.stdout)).toMatchObject({sandbox: {mode: 'none', setting: 'auto', reason: 'bubblewrap (bwrap) is not installed or not on PATH'}})
      const human = await runCli(['status'], {stateDir: layout.state, env: {PATH: binDir}})
      expect(human.stdout).toMatch(/Sandbox\s+none: steps run UNSANDBOXED/)

      const health = await runCli(['health', '--json'], {stateDir: layout.state, env: {PATH: binDir}})
      const document = JSON.parse(health.stdout) as {status: string; checks: Record<string, {status: string; observedValue: string; output: string}[]>}
      expect(document.checks['executor:isolation']?.[0]).toMatchObject({status: 'warn', observedValue: 'none'})
      expect(document.checks['executor:isolation']?.[0]?.output).toContain('apt-get install bubblewrap')
      expect(document.status).toBe('warn')
    })

    it('kills every process carrying the job id when a step ends (setsid escapes the group, not the job)', async () => {
      const job = await trigger(agent, {name: 'twenty', steps: [{run: 'for n in $(seq 20); do setsid sleep 300 >/dev/null 2>&1 </dev/null & done; exit 0'}]})
      expect((await finished(agent, job.id)).state).toBe('succeeded')
      expect(jobProcesses(job.id)).toEqual([])
    })

    it('kills every process carrying the job id at cancel', async () => {
      const job = await trigger(agent, {name: 'escape', steps: [{run: 'for n in 1 2 3 4 5; do setsid sleep 1000 >/dev/null 2>&1 </dev/null & done; touch "$DANUBE_WORKSPACE/../started"; sleep 1000'}]})
      await waitFor(() => existsSync(path.join(layout.state, 'work', job.id, 'started')), {what: 'the step to start its sleepers'})
      const pids = await waitFor(() => {
        const live = jobProcesses(job.id)
        return live.length >= 7 ? live : undefined
      }, {what: 'the sleepers to be visible'})
      await agent.api(`/api/v1/jobs/${job.id}/cancel`, {method: 'POST'})
      expect((await finished(agent, job.id)).state).toBe('cancelled')
      expect(pids.filter((pid) => processIsLive(pid))).toEqual([])
    })
  })
})
