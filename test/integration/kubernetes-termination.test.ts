// The kubernetes executor records why a job ended in both Job termination orders: Kubernetes ≥ 1.31 (FailureTarget,
// pods terminated and shown Failed, then Failed: https://kubernetes.io/docs/concepts/workloads/controllers/job/#termination-of-job-pods)
// and ≤ 1.30 (Failed at once). A real `danube agent` talks to one test API server per order; the test plays the kubelet
// and, through expireJobDeadline, the job controller's activeDeadlineSeconds timer (the job's own timeout is far away,
// so only Kubernetes can end it).

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, makeStateDir, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {KubeApiServer, type JobTermination} from '../support/kube-api-server.js'
import {rawRequest} from '../support/kube/test-client.js'

interface JobView {
  state: string
  reason: string | null
  exitCode: number | null
  steps: Array<{state: string; exitCode: number | null}>
}

const threeSteps = {name: 'three', timeout: '10m', steps: [{run: 'echo 1'}, {run: 'echo 2'}, {run: 'echo 3'}]}

describe.each<JobTermination>(['failure-target-first', 'failed-at-once'])('kubernetes executor, Job termination order %s', (order) => {
  const ns = 'ending'
  let server: KubeApiServer
  let agent: AgentProcess
  let stateDir: string

  beforeAll(async () => {
    server = new KubeApiServer({jobTermination: order})
    await server.start()
    stateDir = makeStateDir()
    agent = await startAgent({stateDir, env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      KUBECONFIG: server.writeKubeconfig(),
      DANUBE_JOBS_EXECUTOR: 'kubernetes',
      DANUBE_KUBERNETES_JOB_NAMESPACE: ns,
      DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '1',
      DANUBE_KUBERNETES_CANCEL_CAP: '5s',
      DANUBE_KUBERNETES_REQUEST_TIMEOUT: '2s',
    }})
  })

  afterAll(async () => {
    await agent?.stop('SIGKILL')
    removeStateDir(stateDir)
    await server.stop()
  })

  async function trigger(spec: unknown): Promise<string> {
    const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
    expect(response.status).toBe(201)
    return ((await response.json()) as {id: string}).id
  }

  async function view(id: string): Promise<JobView> {
    return (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobView
  }

  function finished(id: string): Promise<JobView> {
    return waitFor(async () => {
      const job = await view(id)
      return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
    }, {timeoutMs: 15_000, what: `job ${id} to finish`})
  }

  /** As kubectl delete pod would: a plain graceful DELETE. */
  async function fetchAsClient(method: string, url: string): Promise<void> {
    expect((await rawRequest(server, method, url)).status).toBe(200)
  }

  function podOf(id: string): Promise<string> {
    return waitFor(() => (server.jobPods(ns, `danube-${id}`).length > 0 ? server.jobPodName(ns, `danube-${id}`) : undefined), {what: `pod of job ${id}`})
  }

  it('records timeout, not the killed step\'s 137, when Kubernetes ends the Job at activeDeadlineSeconds', async () => {
    const id = await trigger(threeSteps)
    const pod = await podOf(id)
    server.runInitContainer(pod, 'step-1')
    await waitFor(async () => (await view(id)).steps[0]!.state === 'running', {what: 'step 1 running'})
    server.expireJobDeadline(ns, `danube-${id}`)
    const job = await finished(id)
    expect(job).toMatchObject({state: 'failed', reason: 'timeout', exitCode: null})
    expect(job.steps.map((step) => [step.state, step.exitCode])).toEqual([['failed', null], ['skipped', null], ['skipped', null]])
    expect(server.jobPods(ns, `danube-${id}`)).toEqual([])
  })

  it('records executor-error, not the killed step\'s 137, when someone else deletes the job\'s pod', async () => {
    const id = await trigger(threeSteps)
    const pod = await podOf(id)
    server.runInitContainer(pod, 'step-1')
    await waitFor(async () => (await view(id)).steps[0]!.state === 'running', {what: 'step 1 running'})
    await fetchAsClient('DELETE', `/api/v1/namespaces/${ns}/pods/${pod}`)
    const job = await finished(id)
    expect(job).toMatchObject({state: 'failed', reason: 'executor-error', exitCode: null})
    expect(job.steps[0]).toMatchObject({state: 'failed', exitCode: null})
    // Seen either as the killed pod (Failed, being deleted) or, when its removal arrives before the Job's condition, as
    // the pod gone: the same outcome either way.
    expect(readFileSync(path.join(stateDir, 'logs', `${id}.log`), 'utf8')).toMatch(new RegExp(`the pod (${pod} )?of Kubernetes Job danube-${id} was deleted outside danube`))
  })

  it('records exit-code with the step\'s own exit code when a step fails', async () => {
    const id = await trigger(threeSteps)
    const pod = await podOf(id)
    server.runInitContainer(pod, 'step-1')
    server.finishInitContainer(pod, 'step-1', 0)
    server.runInitContainer(pod, 'step-2')
    server.finishInitContainer(pod, 'step-2', 3)
    const job = await finished(id)
    expect(job).toMatchObject({state: 'failed', reason: 'exit-code', exitCode: 3})
    expect(job.steps.map((step) => [step.state, step.exitCode])).toEqual([['succeeded', 0], ['failed', 3], ['skipped', null]])
    const conditions = server.getJob(ns, `danube-${id}`)?.status.conditions?.map((condition) => condition.type) ?? []
    expect(conditions).toContain('Failed')
    expect(conditions.includes('FailureTarget')).toBe(order === 'failure-target-first')
  })
})
