// Issue 14 items 6-8 through real agents: work/<id>/ never outlives its job (also across a SIGKILL),
// a capped log still ends with danube's own final lines, and shutdownGracePeriod bounds the whole shutdown.
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, makeStateDir, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {processIsLive} from '../support/processes.js'

const started: AgentProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const agent of started.splice(0)) await agent.stop('SIGKILL')
  for (const dir of dirs.splice(0)) removeStateDir(dir)
})

async function launch(env: NodeJS.ProcessEnv = {}, stateDir = makeStateDir()): Promise<AgentProcess> {
  if (!dirs.includes(stateDir)) dirs.push(stateDir)
  const agent = await startAgent({stateDir, env})
  started.push(agent)
  return agent
}

async function trigger(agent: AgentProcess, spec: unknown): Promise<string> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  return ((await response.json()) as {id: string}).id
}

async function job(agent: AgentProcess, id: string): Promise<{state: string; reason: string | null}> {
  return (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string; reason: string | null}
}

function finished(agent: AgentProcess, id: string, timeoutMs = 30_000) {
  return waitFor(async () => {
    const current = await job(agent, id)
    return ['succeeded', 'failed', 'cancelled'].includes(current.state) ? current : undefined
  }, {timeoutMs, what: `job ${id} to finish`})
}

/** Live processes carrying this job's DANUBE_JOB_ID, seen from the host (sandboxed or not). */
function jobProcesses(jobId: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`DANUBE_JOB_ID=${jobId}`) && processIsLive(pid)
      } catch {
        return false
      }
    })
}

describe('work directories', () => {
  it('are removed when a job ends', async () => {
    const agent = await launch()
    const id = await trigger(agent, {name: 'scratch', steps: [{run: 'echo x > scratch.txt && echo y > "$DANUBE_OUTPUT_DIR/o.txt"'}]})
    expect((await finished(agent, id)).state).toBe('succeeded')
    expect(existsSync(path.join(agent.stateDir, 'work', id))).toBe(false)
  })

  it.each(['none', 'auto'])('of jobs a SIGKILLed agent left running are removed by recovery, after their processes are killed (jobs.local.sandbox %s)', async (sandbox) => {
    const env = {DANUBE_JOBS_LOCAL_SANDBOX: sandbox}
    const first = await launch(env)
    const id = await trigger(first, {name: 'orphaned', steps: [{run: 'echo partial > "$DANUBE_OUTPUT_DIR/out.txt"; exec sleep 300'}]})
    const work = path.join(first.stateDir, 'work', id)
    await waitFor(() => existsSync(path.join(work, 'outputs', 'out.txt')) && jobProcesses(id).length > 0, {what: 'the step to start'})
    // A work dir a crash left behind for a job that is not running at all goes too.
    const stray = path.join(first.stateDir, 'work', '00000000-0000-4000-8000-000000000000')
    mkdirSync(stray, {recursive: true})
    writeFileSync(path.join(stray, 'left.txt'), 'x')
    await first.stop('SIGKILL')
    // Unsandboxed the step outlives the agent; in bubblewrap (--die-with-parent) it may already be gone.
    expect(existsSync(work)).toBe(true)

    if (sandbox === 'none') expect(jobProcesses(id).length).toBeGreaterThan(0)

    const second = await launch(env, first.stateDir)
    expect(await job(second, id)).toMatchObject({state: 'failed', reason: 'agent-restart'})
    expect(jobProcesses(id)).toEqual([])
    expect(existsSync(work)).toBe(false)
    expect(existsSync(stray)).toBe(false)
  })
})

describe('a capped log', () => {
  it("keeps danube's final lines (artifacts, outcome) after job output hits jobs.logMaxBytes", async () => {
    const cap = 1024 * 1024
    const agent = await launch({DANUBE_JOBS_LOG_MAX_BYTES: String(cap)})
    const id = await trigger(agent, {name: 'chatty', steps: [{run: `head -c ${3 * cap} /dev/zero | tr '\\0' 'y'; echo done > "$DANUBE_OUTPUT_DIR/a.txt"`}]})
    expect((await finished(agent, id)).state).toBe('succeeded')
    const file = path.join(agent.stateDir, 'logs', `${id}.log`)
    const text = readFileSync(file, 'utf8')
    expect(statSync(file).size).toBeLessThanOrEqual(cap)
    expect(text).toContain('[danube] log truncated')
    expect(text.endsWith('[danube] collected 1 artifact(s)\n[danube] job succeeded\n')).toBe(true)
  })
})

describe('shutdown', () => {
  it('ends within shutdownGracePeriod: SIGTERM to jobs at grace - kill grace, SIGKILL at grace, then exits', async () => {
    const graceMs = 4000
    const killGraceMs = 3000
    const agent = await launch({DANUBE_SHUTDOWN_GRACE_PERIOD: `${graceMs}ms`, DANUBE_JOBS_KILL_GRACE_PERIOD: `${killGraceMs}ms`})
    // Ignores SIGTERM (saying so): only SIGKILL ends it.
    const id = await trigger(agent, {name: 'stubborn', steps: [{run: "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.1; done"}]})
    const log = path.join(agent.stateDir, 'logs', `${id}.log`)
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('ready'), {what: 'the step to start'})
    const sent = Date.now()
    const code = await agent.stop('SIGTERM')
    const elapsed = Date.now() - sent
    expect(code).toBe(0)
    // The old behaviour took grace + kill grace (7 s here); the promise is grace plus a few seconds to exit.
    expect(elapsed).toBeLessThan(graceMs + 2500)
    expect(elapsed).toBeGreaterThanOrEqual(graceMs - 250)
    expect(readFileSync(log, 'utf8')).toContain('got-term')
    const restarted = await launch({}, agent.stateDir)
    expect(await job(restarted, id)).toMatchObject({state: 'cancelled', reason: 'agent-shutdown'})
  })
})
