// `danube drain` with the kubernetes executor: a real agent process (jobs.executor kubernetes) against the Kubernetes
// test API server in this process, which plays the cluster; the test plays the kubelet. Each test has its own agent
// (its own drain) and its own namespace.

import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, makeStateDir, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {drainRow, getJob, query, spawnCli, trigger, waitForState} from '../support/drain.js'
import {KubeApiServer, type RecordedRequest} from '../support/kube-api-server.js'
import {fillOutputs, isCopy, isRelease} from '../support/kube-outputs.js'

let server: KubeApiServer
let kubeconfig: string
let agent: AgentProcess | undefined

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  kubeconfig = server.writeKubeconfig()
})

afterEach(async () => {
  server.hangTerminating(false)
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
  agent = undefined
})

afterAll(async () => {
  await server.stop()
})

async function launch(namespace: string, env: NodeJS.ProcessEnv): Promise<AgentProcess> {
  agent = await startAgent({
    stateDir: makeStateDir(),
    env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      KUBECONFIG: kubeconfig,
      DANUBE_JOBS_EXECUTOR: 'kubernetes',
      DANUBE_KUBERNETES_JOB_NAMESPACE: namespace,
      DANUBE_KUBERNETES_REQUEST_TIMEOUT: '2s',
      ...env,
    },
  })
  return agent
}

/** A one-step job whose step the test starts: running on the cluster, as a drain finds it. */
async function runningKubeJob(namespace: string): Promise<{id: string; pod: string}> {
  const triggered = await trigger(agent!, {name: 'long', steps: [{name: 'work', run: 'sleep 600'}]})
  expect(triggered.status).toBe(201)
  const id = triggered.body.id!
  const pod = await waitFor(() => (server.jobPods(namespace, `danube-${id}`).length > 0 ? server.jobPodName(namespace, `danube-${id}`) : undefined), {what: `pod of ${id}`})
  server.runInitContainer(pod, 'step-1')
  await waitForState(agent!, id, 'running')
  return {id, pod}
}

function graceOf(request: RecordedRequest): string | undefined {
  const body = request.body as {gracePeriodSeconds?: number} | undefined
  return request.query.gracePeriodSeconds ?? (body?.gracePeriodSeconds === undefined ? undefined : String(body.gracePeriodSeconds))
}

describe('danube drain with the kubernetes executor', () => {
  it('--force --grace-period 1s: deletes the pod and the Job (Foreground) with a 1 s grace period, records the job killed only once its pod is gone, exits 0', async () => {
    const ns = 'drain-grace'
    // The pods' own terminationGracePeriodSeconds is 30: only the drain's 1 s can make this quick.
    const {stateDir} = await launch(ns, {DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '30', DANUBE_KUBERNETES_CANCEL_CAP: '60s'})
    const {id, pod} = await runningKubeJob(ns)
    expect(server.getPod(pod).spec.terminationGracePeriodSeconds).toBe(30)
    server.clearRequests()

    const started = Date.now()
    const drain = spawnCli(['drain', '--timeout', '2s', '--force', '--grace-period', '1s', '--json'], stateDir)
    await waitFor(() => server.getPod(pod).metadata.deletionTimestamp, {what: 'pod terminating', intervalMs: 20})
    // The pod has its 1 s to go: the job is not recorded yet.
    expect((await getJob(agent!, id)).state).toBe('running')
    const result = await drain.result
    const elapsed = Date.now() - started
    expect(result.code, result.stderr).toBe(0)
    expect(elapsed).toBeLessThan(2000 + 1000 + 3000)

    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({state: 'drained', result: 'drained', outcome: 'forced', gracePeriodSeconds: 1, running: []})
    expect(report.jobsKilled).toEqual([{id, name: 'long', state: 'cancelled', reason: 'drain-timeout'}])
    expect(server.jobPods(ns, `danube-${id}`)).toEqual([])
    expect(server.getJob(ns, `danube-${id}`)).toBeUndefined()

    const deletes = server.requests({method: 'DELETE'})
    const podDelete = deletes.findIndex((r) => r.path === `/api/v1/namespaces/${ns}/pods/${pod}`)
    const jobDelete = deletes.findIndex((r) => r.path === `/apis/batch/v1/namespaces/${ns}/jobs/danube-${id}`)
    expect(podDelete).toBeGreaterThanOrEqual(0)
    expect(graceOf(deletes[podDelete]!)).toBe('1')
    expect(jobDelete).toBeGreaterThan(podDelete)
    expect(deletes[jobDelete]!.query).toMatchObject({propagationPolicy: 'Foreground'})
    expect(graceOf(deletes[jobDelete]!)).toBe('1')

    const log = readFileSync(path.join(stateDir, 'logs', `${id}.log`), 'utf8')
    expect(log).toContain(`deleted Kubernetes Job ${ns}/danube-${id}; its pods are gone`)
    expect(query<{left_behind: string | null}>(stateDir, 'SELECT left_behind FROM jobs WHERE id = ?', [id])[0]!.left_behind).toBeNull()
  })

  it('pods stuck in Terminating: the job stays running until kubernetes.cancelCap, then the drain names it and its pod and exits 1', async () => {
    const ns = 'drain-stuck'
    const {stateDir} = await launch(ns, {DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '1', DANUBE_KUBERNETES_CANCEL_CAP: '2s'})
    const {id, pod} = await runningKubeJob(ns)
    server.hangTerminating(true)

    const started = Date.now()
    const drain = spawnCli(['drain', '--timeout', '1s', '--force', '--grace-period', '1s'], stateDir)
    await waitFor(() => server.getPod(pod).metadata.deletionTimestamp, {what: 'pod terminating', intervalMs: 20})
    const result = await drain.result
    // Deadline (1 s) plus the cap (2 s): the job was visible as running, not gone, until the agent gave up on its pod.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000)
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).toContain(`Drained, but killed jobs left these behind when the agent stopped waiting for them at kubernetes.cancelCap`)
    expect(result.stderr).toContain(`${id} (long): ${ns}/${pod}`)
    expect(server.jobPods(ns, `danube-${id}`).map((p) => p.metadata.name)).toEqual([pod])

    expect(await getJob(agent!, id)).toMatchObject({state: 'cancelled', reason: 'drain-timeout'})
    expect(drainRow(stateDir).state).toBe('drained')
    expect(readFileSync(path.join(stateDir, 'logs', `${id}.log`), 'utf8')).toContain(`pods still terminating after 2s: ${pod} (namespace ${ns})`)
    // A later look at the drained drain: exit 0 (nothing runs under danube), but the JSON still says what was left.
    const monitor = await runCli(['drain', '--monitor', '--json'], {stateDir})
    expect(monitor.code, monitor.stderr).toBe(0)
    expect(JSON.parse(monitor.stdout).jobsKilled).toEqual([{id, name: 'long', state: 'cancelled', reason: 'drain-timeout', leftBehind: [`${ns}/${pod}`]}])
  })

  it('while draining, a trigger gets 503 DRAINING and no Job is created; a deferred job reaches the cluster only after --cancel', async () => {
    const ns = 'drain-admission'
    const {stateDir} = await launch(ns, {DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '1'})
    const detached = await runCli(['drain', '--timeout', '1m', '--detach', '-m', 'upgrade'], {stateDir})
    expect(detached.code, detached.stderr).toBe(0)
    await waitFor(() => drainRow(stateDir).state === 'drained', {what: 'drained'})
    const creates = () => server.countRequests({method: 'POST', path: `/apis/batch/v1/namespaces/${ns}/jobs`})
    expect(creates()).toBe(0)

    const refused = await trigger(agent!, {name: 'late', steps: [{run: 'true'}]})
    expect(refused.status).toBe(503)
    expect(refused.body.error).toMatchObject({code: 'DRAINING'})
    expect(refused.body.error!.message).toMatch(/danube is draining since \S+Z \(reason: upgrade\); not accepting new jobs/)
    expect(Number(refused.retryAfter)).toBeGreaterThan(0)
    const deferred = await trigger(agent!, {name: 'deferred', steps: [{run: 'true'}], defer: true})
    expect(deferred.status).toBe(202)
    expect(deferred.body.state).toBe('deferred')
    // Give the dispatcher a chance to (wrongly) start something.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(creates()).toBe(0)
    expect(server.list('jobs', ns)).toEqual([])

    const cancel = await runCli(['drain', '--cancel'], {stateDir})
    expect(cancel.code, cancel.stderr).toBe(0)
    const id = deferred.body.id!
    await waitFor(() => server.getJob(ns, `danube-${id}`), {what: 'the deferred job\'s Job'})
    expect(creates()).toBe(1)
    const stop = await agent!.api(`/api/v1/jobs/${id}/cancel`, {method: 'POST'})
    expect(stop.status).toBe(202)
    await waitForState(agent!, id, 'cancelled')
  })
  it('--force while the agent copies a job\'s outputs: the exec is closed, nothing is kept, the job is killed drain-timeout', async () => {
    const ns = 'drain-copy'
    const {stateDir} = await launch(ns, {DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '1'})
    const {id, pod} = await runningKubeJob(ns)
    server.finishInitContainer(pod, 'step-1', 0)
    fillOutputs(server, pod, {'a.bin': Buffer.alloc(1 << 20, 1)})
    // A copy that stalls after 64 KiB (a slow node): the drain's deadline comes while it is in flight.
    server.overrideExec(pod, (command) => command[0] === 'sh' && command[2]?.includes('tar -C /outputs -cf - .')
      ? [command[0], command[1]!, command[2].replace('tar -C /outputs -cf - .', 'tar -C /outputs -cf - . | { head -c 65536; sleep 60; cat; }')]
      : undefined)
    server.startPod(pod)
    const copy = await waitFor(() => server.execs(pod).find((record) => isCopy(record) && record.stdoutBytes > 0), {what: 'the copy in flight'})
    const result = await spawnCli(['drain', '--timeout', '1s', '--force', '--grace-period', '1s', '--json'], stateDir).result
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout).jobsKilled).toEqual([{id, name: 'long', state: 'cancelled', reason: 'drain-timeout'}])
    expect(copy.closed).toBe(true)
    expect(server.execs(pod).filter(isRelease)).toEqual([])
    const artifacts = path.join(stateDir, 'artifacts')
    expect(existsSync(path.join(artifacts, id)) ? readdirSync(path.join(artifacts, id)) : []).toEqual([])
    expect(readdirSync(artifacts).filter((name) => name.startsWith(`.${id}.staging-`))).toEqual([])
    expect(readFileSync(path.join(stateDir, 'logs', `${id}.log`), 'utf8')).toContain('outputs not copied: the copy was stopped; nothing was kept')
  })
})
