// The job API over HTTP against a real agent process running real `sh` jobs.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {jobProcesses} from '../../src/agent/executors/process-group.js'
import {releaseGate} from '../support/drain.js'
import {processIsLive} from '../support/processes.js'

interface JobJson {
  id: string
  state: string
  reason: string | null
  exitCode: number | null
  steps: {name: string; state: string; exitCode: number | null}[]
}

let agent: AgentProcess

beforeAll(async () => {
  agent = await startAgent({env: {DANUBE_JOBS_MAX_CONCURRENT: '4', DANUBE_JOBS_KILL_GRACE_PERIOD: '1s'}})
})
afterAll(async () => {
  await agent.stop('SIGKILL')
  removeStateDir(agent.stateDir)
})

async function trigger(spec: unknown): Promise<JobJson> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  return (await response.json()) as JobJson
}

async function job(id: string): Promise<JobJson> {
  return (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobJson
}

async function finished(id: string, timeoutMs = 15_000): Promise<JobJson> {
  return waitFor(async () => {
    const current = await job(id)
    return ['succeeded', 'failed', 'cancelled'].includes(current.state) ? current : undefined
  }, {timeoutMs, what: `job ${id} to finish`})
}

describe('a job on the local executor', () => {
  it('goes queued → running → succeeded, with its log readable and its artifacts collected', async () => {
    const created = await trigger({
      name: 'life',
      steps: [
        {name: 'hello', run: 'echo "hello from $DANUBE_JOB_ID"; test "$(pwd)" = "$DANUBE_WORKSPACE"'},
        {name: 'write', run: 'mkdir -p "$DANUBE_OUTPUT_DIR/sub" && echo one > "$DANUBE_OUTPUT_DIR/a.txt" && echo two > "$DANUBE_OUTPUT_DIR/sub/b.txt"'},
      ],
    })
    expect(['queued', 'running']).toContain(created.state)
    const done = await finished(created.id)
    expect(done).toMatchObject({state: 'succeeded', reason: null})
    expect(done.steps.map((s) => [s.state, s.exitCode])).toEqual([['succeeded', 0], ['succeeded', 0]])
    const artifacts = path.join(agent.stateDir, 'artifacts', created.id)
    expect(readFileSync(path.join(artifacts, 'a.txt'), 'utf8')).toBe('one\n')
    expect(readFileSync(path.join(artifacts, 'sub/b.txt'), 'utf8')).toBe('two\n')
    const logs = await agent.api(`/api/v1/jobs/${created.id}/logs`)
    expect(logs.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await logs.text()).toContain(`hello from ${created.id}`)
  })

  it('streams the log with ?follow=1 until the job ends', async () => {
    const gate = releaseGate(agent.stateDir, 'follow')
    const created = await trigger({name: 'follow', steps: [{run: `echo first; ${gate.run}; echo second`}]})
    const response = await agent.api(`/api/v1/jobs/${created.id}/logs?follow=1`)
    const decoder = new TextDecoder()
    let text = ''
    const reading = (async () => {
      for await (const chunk of response.body!) text += decoder.decode(chunk, {stream: true})
    })()
    // The job cannot end before the gate opens: its first line arriving means the log is streamed while it runs.
    await waitFor(() => text.includes('first\n'), {what: 'the first line to be streamed'})
    gate.release()
    await reading
    expect(text).toMatch(/first\n[\s\S]*second\n/)
    expect((await job(created.id)).state).toBe('succeeded')
  })

  it("does not hand the agent's own environment to steps", async () => {
    const created = await trigger({name: 'env', env: {GREETING: 'hi'}, steps: [{run: 'env > "$DANUBE_OUTPUT_DIR/env.txt"'}]})
    expect((await finished(created.id)).state).toBe('succeeded')
    const env = readFileSync(path.join(agent.stateDir, 'artifacts', created.id, 'env.txt'), 'utf8')
    expect(env).toContain('GREETING=hi')
    expect(env).toContain(`DANUBE_JOB_ID=${created.id}`)
    expect(env).toMatch(/^PATH=/m)
    expect(env).not.toMatch(/^DANUBE_HOME=|^DANUBE_JOBS_MAX_CONCURRENT=|^DANUBE_KUBERNETES_ENABLED=/m)
  })

  it('fails on the first non-zero step and skips the rest', async () => {
    const created = await trigger({name: 'fail', steps: [{run: 'true'}, {run: 'exit 3'}, {run: 'echo never'}]})
    const done = await finished(created.id)
    expect(done).toMatchObject({state: 'failed', reason: 'exit-code', exitCode: 3})
    expect(done.steps.map((s) => s.state)).toEqual(['succeeded', 'failed', 'skipped'])
  })

  it('times out, killing the step', async () => {
    const created = await trigger({name: 'slow', timeout: '1s', steps: [{run: 'echo $$ > "$DANUBE_WORKSPACE/../slow.pid"; exec sleep 30'}]})
    const pidFile = path.join(agent.stateDir, 'work', created.id, 'slow.pid')
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), {what: 'the step running'})
    const pids = jobProcesses(created.id)
    expect(pids.length).toBeGreaterThan(0)
    const done = await finished(created.id)
    expect(done).toMatchObject({state: 'failed', reason: 'timeout'})
    expect(pids.filter((pid) => processIsLive(pid))).toEqual([])
  })

  it('cancel kills every process of the step, even a child that ignores SIGTERM', async () => {
    const created = await trigger({
      name: 'stubborn',
      steps: [{run: `sh -c 'trap "" TERM; echo $$ > "$DANUBE_WORKSPACE/../child.pid"; while true; do sleep 0.1; done' & wait`}],
    })
    const pidFile = path.join(agent.stateDir, 'work', created.id, 'child.pid')
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), {what: 'the child pid'})
    // Host pids: inside the sandbox's PID namespace the child's $$ means nothing out here.
    const pids = jobProcesses(created.id)
    expect(pids.length).toBeGreaterThanOrEqual(2)
    const cancel = await agent.api(`/api/v1/jobs/${created.id}/cancel`, {method: 'POST'})
    expect(cancel.status).toBe(202)
    const done = await finished(created.id)
    expect(done).toMatchObject({state: 'cancelled', reason: 'user'})
    expect(pids.filter((pid) => processIsLive(pid))).toEqual([])
  })

  it('cancels a queued job at once and refuses to cancel a finished one', async () => {
    const blockers = await Promise.all([1, 2, 3, 4].map((n) => trigger({name: `blocker-${n}`, steps: [{run: 'sleep 30'}]})))
    const queued = await trigger({name: 'waiting', steps: [{run: 'true'}]})
    expect(queued.state).toBe('queued')
    const cancelled = (await (await agent.api(`/api/v1/jobs/${queued.id}/cancel`, {method: 'POST'})).json()) as JobJson
    expect(cancelled).toMatchObject({state: 'cancelled', reason: 'user'})
    const again = await agent.api(`/api/v1/jobs/${queued.id}/cancel`, {method: 'POST'})
    expect(again.status).toBe(409)
    expect(((await again.json()) as {error: {code: string}}).error.code).toBe('JOB_FINISHED')
    await Promise.all(blockers.map((b) => agent.api(`/api/v1/jobs/${b.id}/cancel`, {method: 'POST'})))
    await Promise.all(blockers.map((b) => finished(b.id)))
  })

  it('refuses symlinks among the outputs and logs them', async () => {
    const created = await trigger({name: 'links', steps: [{run: 'echo ok > "$DANUBE_OUTPUT_DIR/real.txt"; ln -s /etc/passwd "$DANUBE_OUTPUT_DIR/passwd"'}]})
    await finished(created.id)
    const artifacts = path.join(agent.stateDir, 'artifacts', created.id)
    expect(existsSync(path.join(artifacts, 'real.txt'))).toBe(true)
    expect(existsSync(path.join(artifacts, 'passwd'))).toBe(false)
    expect(await (await agent.api(`/api/v1/jobs/${created.id}/logs`)).text()).toContain('refused output passwd: symbolic link')
  })

  it('starts queued jobs first-in first-out within jobs.maxConcurrent', async () => {
    // Start order is observed, not inferred from millisecond timestamps (ties): four blockers fill the
    // slots, then each release frees exactly one slot, and the test sees which queued job takes it.
    const blockers = [0, 1, 2, 3].map((n) => releaseGate(agent.stateDir, `fifo-blocker-${n}`))
    const blockerIds = await Promise.all(blockers.map(async (gate, n) => (await trigger({name: `fifo-blocker-${n}`, steps: [{run: gate.run}]})).id))
    await Promise.all(blockerIds.map((id) => waitFor(async () => (await job(id)).state === 'running', {what: `${id} running`})))
    const holds = [0, 1, 2, 3].map((n) => releaseGate(agent.stateDir, `fifo-hold-${n}`))
    const ids: string[] = []
    for (let n = 0; n < 4; n++) ids.push((await trigger({name: `fifo-${n}`, steps: [{run: holds[n]!.run}]})).id)
    const order: string[] = []
    for (const gate of blockers) {
      gate.release()
      const next = await waitFor(async () => {
        const running = (await Promise.all(ids.filter((id) => !order.includes(id)).map((id) => job(id)))).filter((j) => j.state === 'running')
        return running.length > 0 ? running : undefined
      }, {what: 'the next queued job to start'})
      expect(next).toHaveLength(1)
      order.push(next[0]!.id)
    }
    for (const gate of holds) gate.release()
    const done = await Promise.all(ids.map((id) => finished(id)))
    expect(done.every((j) => j.state === 'succeeded')).toBe(true)
    expect(order).toEqual(ids)
  })
})

describe('admission', () => {
  it('admits 50 concurrent triggers exactly once each', async () => {
    const responses = await Promise.all(
      Array.from({length: 50}, (_, n) => agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: `burst-${n}`, steps: [{run: 'true'}]})})),
    )
    expect(responses.map((r) => r.status)).toEqual(Array.from({length: 50}, () => 201))
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as JobJson).id))
    expect(new Set(ids).size).toBe(50)
    const {jobs} = (await (await agent.api('/api/v1/jobs?limit=1000')).json()) as {jobs: {id: string; name: string}[]}
    const burst = jobs.filter((j) => j.name.startsWith('burst-'))
    expect(burst).toHaveLength(50)
    expect(new Set(burst.map((j) => j.name)).size).toBe(50)
    await Promise.all(ids.map((id) => finished(id, 30_000)))
  })
})

describe('bad input over HTTP', () => {
  async function post(body: string, headers: Record<string, string> = {'Content-Type': 'application/json'}) {
    const response = await fetch(`${agent.baseUrl}/api/v1/jobs`, {method: 'POST', body, headers: {Authorization: `Bearer ${agent.token}`, ...headers}})
    return {status: response.status, body: (await response.json()) as {error: {code: string; message: string; details?: {path: string; message: string}[]}}}
  }

  it('answers malformed JSON with 400 INVALID_JSON', async () => {
    const {status, body} = await post('{"name": ')
    expect(status).toBe(400)
    expect(body.error.code).toBe('INVALID_JSON')
  })

  it('answers an unknown spec key with 400 and the path', async () => {
    const {status, body} = await post(JSON.stringify({name: 'x', steps: [{run: 'true'}], retries: 3}))
    expect(status).toBe(400)
    expect(body.error).toMatchObject({code: 'INVALID_SPEC', details: [{path: '(root)', message: 'unknown key "retries"'}]})
  })

  it('answers empty steps and a unitless timeout with 400', async () => {
    expect((await post(JSON.stringify({name: 'x', steps: []}))).body.error.details?.[0]?.path).toBe('steps')
    expect((await post(JSON.stringify({name: 'x', steps: [{run: 'true'}], timeout: '10'}))).body.error.details?.[0]).toMatchObject({path: 'timeout'})
  })

  it('answers a body over 1 MiB with 413', async () => {
    const {status, body} = await post(JSON.stringify({name: 'big', steps: [{run: 'x'.repeat(1024 * 1024 + 10)}]}))
    expect(status).toBe(413)
    expect(body.error.code).toBe('BODY_TOO_LARGE')
  })

  it('answers a body that is not JSON with 415', async () => {
    const {status} = await post('name: x', {'Content-Type': 'application/yaml'})
    expect(status).toBe(415)
  })

  it('answers a missing or wrong token with 401 and writes nothing', async () => {
    const before = ((await (await agent.api('/api/v1/jobs?limit=1000')).json()) as {jobs: unknown[]}).jobs.length
    const missing = await fetch(`${agent.baseUrl}/api/v1/jobs`, {method: 'POST', body: '{}', headers: {'Content-Type': 'application/json'}})
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/)
    const wrong = await fetch(`${agent.baseUrl}/api/v1/jobs`, {method: 'POST', body: JSON.stringify({name: 'x', steps: [{run: 'true'}]}), headers: {'Content-Type': 'application/json', Authorization: `Bearer ${'0'.repeat(64)}`}})
    expect(wrong.status).toBe(401)
    const after = ((await (await agent.api('/api/v1/jobs?limit=1000')).json()) as {jobs: unknown[]}).jobs.length
    expect(after).toBe(before)
  })

  it('answers an unknown job id with 404, a wrong method with 405 and a bad filter with 400', async () => {
    const missing = await agent.api('/api/v1/jobs/00000000-0000-0000-0000-000000000000')
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as {error: {code: string}}).error.code).toBe('JOB_NOT_FOUND')
    const method = await agent.api('/api/v1/jobs', {method: 'DELETE'})
    expect(method.status).toBe(405)
    expect(method.headers.get('allow')).toBe('POST, GET, HEAD')
    expect((await agent.api('/api/v1/jobs?state=done')).status).toBe(400)
    expect((await agent.api('/api/v1/jobs?limit=0')).status).toBe(400)
  })
})
