// The agent as systemd sees it: SIGTERM with jobs running, SIGKILL and restart, a second agent.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, makeStateDir, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {jobProcesses} from '../../src/agent/executors/process-group.js'
import {processIsLive} from '../support/processes.js'

const started: AgentProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const agent of started.splice(0)) await agent.stop('SIGKILL')
  for (const dir of dirs.splice(0)) removeStateDir(dir)
})

async function launch(stateDir: string, env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const agent = await startAgent({stateDir, env})
  started.push(agent)
  return agent
}

async function trigger(agent: AgentProcess, spec: unknown): Promise<string> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  return ((await response.json()) as {id: string}).id
}

async function state(agent: AgentProcess, id: string): Promise<{state: string; reason: string | null}> {
  return (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string; reason: string | null}
}

describe('agent shutdown and restart', () => {
  it('on SIGTERM stops admitting, lets a short job finish, cancels a long one with agent-shutdown, and exits 0', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const agent = await launch(stateDir, {DANUBE_SHUTDOWN_GRACE_PERIOD: '1500ms', DANUBE_JOBS_KILL_GRACE_PERIOD: '500ms'})
    const short = await trigger(agent, {name: 'short', steps: [{run: 'sleep 0.5'}]})
    const long = await trigger(agent, {name: 'long', steps: [{run: 'sleep 60'}]})
    await waitFor(async () => (await state(agent, long)).state === 'running', {what: 'long job running'})
    agent.child.kill('SIGTERM')
    await waitFor(async () => {
      const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'late', steps: [{run: 'true'}]})})
      return response.status === 503 ? response : undefined
    }, {what: 'triggers refused while stopping'}).then(async (response) => {
      expect(response.headers.get('retry-after')).toBeTruthy()
      expect(((await response.json()) as {error: {code: string}}).error.code).toBe('SHUTTING_DOWN')
    })
    expect(await agent.stop()).toBe(0)
    const restarted = await launch(stateDir)
    expect(await state(restarted, short)).toMatchObject({state: 'succeeded'})
    expect(await state(restarted, long)).toMatchObject({state: 'cancelled', reason: 'agent-shutdown'})
  })

  it('after SIGKILL, a restarted agent marks the running job failed (agent-restart), kills its unsandboxed leftovers and runs what was queued', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    // Leftovers exist only unsandboxed; the sandboxed case is the next test.
    const env = {DANUBE_JOBS_MAX_CONCURRENT: '1', DANUBE_JOBS_LOCAL_SANDBOX: 'none'}
    const agent = await launch(stateDir, env)
    const done = await trigger(agent, {name: 'done', steps: [{run: 'echo done'}]})
    await waitFor(async () => (await state(agent, done)).state === 'succeeded', {what: 'first job'})
    const victim = await trigger(agent, {name: 'victim', steps: [{run: 'echo $$ > "$DANUBE_WORKSPACE/../pid"; echo started; sleep 60'}]})
    const queued = await trigger(agent, {name: 'queued', steps: [{run: 'echo later'}]})
    const pidFile = path.join(stateDir, 'work', victim, 'pid')
    const pid = Number(await waitFor(() => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : undefined), {what: 'victim pid'}))
    expect(await agent.stop('SIGKILL')).toBe('SIGKILL')
    expect(processIsLive(pid)).toBe(true)

    const restarted = await launch(stateDir, env)
    expect(await state(restarted, victim)).toMatchObject({state: 'failed', reason: 'agent-restart'})
    await waitFor(() => !processIsLive(pid), {what: 'the leftover step process to be killed'})
    expect(await state(restarted, done)).toMatchObject({state: 'succeeded'})
    await waitFor(async () => (await state(restarted, queued)).state === 'succeeded', {what: 'queued job to run after restart'})
    const log = await (await restarted.api(`/api/v1/jobs/${victim}/logs`)).text()
    expect(log).toContain('started')
    expect(log).toContain('agent-restart')
  })

  it('after SIGKILL, a sandboxed job dies with its agent and the restarted agent marks it failed (agent-restart)', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const agent = await launch(stateDir, {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'})
    const victim = await trigger(agent, {name: 'victim', steps: [{run: 'setsid sleep 60 & touch "$DANUBE_WORKSPACE/../started"; sleep 60'}]})
    await waitFor(() => existsSync(path.join(stateDir, 'work', victim, 'started')), {what: 'victim started'})
    const pids = await waitFor(() => {
      const live = jobProcesses(victim)
      return live.length >= 3 ? live : undefined
    }, {what: 'the step and its sleepers'})
    expect(await agent.stop('SIGKILL')).toBe('SIGKILL')
    await waitFor(() => pids.every((pid) => !processIsLive(pid)), {what: 'the sandbox to die with its agent'})
    const restarted = await launch(stateDir)
    expect(await state(restarted, victim)).toMatchObject({state: 'failed', reason: 'agent-restart'})
  })

  it('refuses to start a second agent on the same state directory', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    await launch(stateDir)
    await expect(startAgent({stateDir})).rejects.toThrow(/another agent \(pid \d+\) is running/)
  })

  it('creates the token file once, mode 0600', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const agent = await launch(stateDir)
    const {statSync} = await import('node:fs')
    expect(statSync(path.join(stateDir, 'agent.token')).mode & 0o777).toBe(0o600)
    expect(agent.token).toMatch(/^[0-9a-f]{64}$/)
    await agent.stop()
    const again = await launch(stateDir)
    expect(again.token).toBe(agent.token)
  })
})
