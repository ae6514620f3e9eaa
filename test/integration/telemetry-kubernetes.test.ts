// Telemetry of the kubernetes executor: a real agent against the Kubernetes test API server. Kubernetes API metrics
// by verb, resource and status code, watch streams counted apart (open, restarts, 410 relists), job spans with the
// Kubernetes calls made for them as children, and each step container's TRACEPARENT naming its step span.

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {KubeApiServer} from '../support/kube-api-server.js'
import {finishWithOutputs} from '../support/kube-outputs.js'
import {find, OtlpReceiver, parseExposition, runTool, SPAN_KIND, total} from '../support/telemetry.js'

const ns = 'telemetry'
let server: KubeApiServer
let receiver: OtlpReceiver
let agent: AgentProcess

async function metrics(): Promise<string> {
  return (await fetch(`${agent.baseUrl}/metrics`)).text()
}

async function finished(id: string): Promise<{state: string}> {
  return waitFor(async () => {
    const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
  }, {what: `job ${id} to finish`})
}

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  const kubeconfig = server.writeKubeconfig()
  receiver = new OtlpReceiver()
  const endpoint = await receiver.start()
  agent = await startAgent({
    env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      KUBECONFIG: kubeconfig,
      DANUBE_JOBS_EXECUTOR: 'kubernetes',
      DANUBE_KUBERNETES_JOB_NAMESPACE: ns,
      DANUBE_KUBERNETES_REQUEST_TIMEOUT: '2s',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  })
})

afterAll(async () => {
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
  await receiver?.stop()
  await server?.stop()
})

describe('telemetry of the kubernetes executor', () => {
  it('traces a Kubernetes job: step containers get TRACEPARENT naming their step span, and the calls made for the job are its children', async () => {
    const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'kube-traced', steps: [{name: 'one', run: 'true'}, {name: 'two', run: 'true'}]})})
    const {id} = (await response.json()) as {id: string}
    const pod = await waitFor(() => (server.jobPods(ns, `danube-${id}`).length > 0 ? server.jobPodName(ns, `danube-${id}`) : undefined), {what: 'the pod'})
    const created = server.getJob(ns, `danube-${id}`)!
    const containers = created.spec.template.spec.initContainers as unknown as Array<{env?: Array<{name: string; value?: string}>}>
    const envOf = (index: number) => Object.fromEntries((containers[index]!.env ?? []).map((v) => [v.name, v.value]))
    const parents = [envOf(0).TRACEPARENT, envOf(1).TRACEPARENT]
    for (const parent of parents) expect(parent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    expect(parents[0]).not.toBe(parents[1])
    for (const step of [1, 2]) {
      server.runInitContainer(pod, `step-${step}`)
      server.finishInitContainer(pod, `step-${step}`, 0)
    }
    await finishWithOutputs(server, pod)
    expect((await finished(id)).state).toBe('succeeded')

    const run = await receiver.waitForSpan((s) => s.name === 'RUN kube-traced')
    const one = await receiver.waitForSpan((s) => s.name === 'one' && s.parentSpanId === run.spanId)
    const two = await receiver.waitForSpan((s) => s.name === 'two' && s.parentSpanId === run.spanId)
    expect(parents).toEqual([`00-${run.traceId}-${one.spanId}-01`, `00-${run.traceId}-${two.spanId}-01`])
    const create = await receiver.waitForSpan((s) => s.name === 'create jobs' && s.parentSpanId === run.spanId)
    expect(create.kind).toBe(SPAN_KIND.CLIENT)
    expect(create.attributes).toMatchObject({'k8s.verb': 'create', 'k8s.resource': 'jobs', 'http.response.status_code': 201, 'k8s.namespace.name': ns})
    // The step logs are read when the watch reports a container ended: found by the Job's name, still the job's children.
    await receiver.waitForSpan((s) => s.name === 'get pods/log' && s.parentSpanId === run.spanId)
  })

  it('records Kubernetes API requests by verb, resource and status code, and counts watches apart', async () => {
    const text = await metrics()
    expect((await runTool('promtool', ['check', 'metrics'], text)).code).toBe(0)
    const samples = parseExposition(text)
    expect(total(samples, 'danube_k8s_client_request_duration_seconds_count', {k8s_verb: 'create', k8s_resource: 'jobs', http_response_status_code: '201'})).toBe(1)
    expect(total(samples, 'danube_k8s_client_request_duration_seconds_count', {k8s_verb: 'list', k8s_resource: 'jobs', http_response_status_code: '200'})).toBeGreaterThanOrEqual(1)
    expect(find(samples, 'danube_k8s_client_request_duration_seconds_count', {k8s_verb: 'watch'})).toEqual([])
    // The job of the first test, run by the kubernetes executor, is counted like a local one.
    expect(total(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_name: 'kube-traced', cicd_pipeline_run_state: 'executing', cicd_pipeline_result: 'success'})).toBe(1)
    expect(find(samples, 'db_client_operation_duration_seconds_count', {db_operation_name: 'INSERT', db_collection_name: 'jobs'}).map((s) => s.value)).toEqual([1])
    const open = find(samples, 'danube_k8s_watch_active')
    expect(open.map((s) => [s.labels.k8s_resource, s.value]).sort()).toEqual([['jobs', 1], ['pods', 1]])
  })

  it('counts a watch ended by the server as a restart, and a 410 Gone as a relist', async () => {
    const before = parseExposition(await metrics())
    const restarts = total(before, 'danube_k8s_watch_restarts_total')
    const relists = total(before, 'danube_k8s_watch_relists_total')
    server.expireNextWatch(/\/jobs/)
    expect(server.dropWatches()).toBeGreaterThan(0)
    const after = await waitFor(async () => {
      const samples = parseExposition(await metrics())
      return total(samples, 'danube_k8s_watch_relists_total') > relists && total(samples, 'danube_k8s_watch_active') === 2 ? samples : undefined
    }, {what: 'the watches to be re-established after a 410'})
    expect(total(after, 'danube_k8s_watch_restarts_total')).toBeGreaterThan(restarts)
    expect(total(after, 'danube_k8s_watch_relists_total', {k8s_resource: 'jobs'})).toBe(relists + 1)
  })
})
