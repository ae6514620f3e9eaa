// GET /metrics of a real agent after real HTTP and gRPC requests, real jobs and real SQLite queries: names, units,
// label sets and values as the semantic conventions and Prometheus naming want them, checked by the real promtool.

import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, REPO_ROOT, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {find, metricTypes, parseExposition, runTool, type Sample, total} from '../support/telemetry.js'

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void // eslint-disable-line @typescript-eslint/no-explicit-any

let agent: AgentProcess
let jobs: grpc.Client & Record<'Trigger' | 'Get', Unary>
const jobIds: string[] = []

function rpc<T>(method: Unary, request: object): Promise<T> {
  const metadata = new grpc.Metadata()
  metadata.set('authorization', `Bearer ${agent.token}`)
  return new Promise((resolve, reject) => method.call(jobs, request, metadata, (error, response) => (error ? reject(error) : resolve(response as T))))
}

async function scrape(): Promise<{text: string; samples: Sample[]; response: Response}> {
  const response = await fetch(`${agent.baseUrl}/metrics`)
  const text = await response.text()
  return {text, samples: parseExposition(text), response}
}

async function trigger(spec: unknown): Promise<string> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  const {id} = (await response.json()) as {id: string}
  jobIds.push(id)
  return id
}

async function finished(id: string): Promise<{state: string}> {
  return waitFor(async () => {
    const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
    // A cancelled job may take its whole jobs.killGracePeriod (10 s) to be gone: wait past it.
  }, {what: `job ${id} to finish`, timeoutMs: 25_000})
}

beforeAll(async () => {
  agent = await startAgent({env: {DANUBE_JOBS_MAX_CONCURRENT: '4'}})
  const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
  jobs = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof jobs

  // Traffic the assertions below count exactly.
  const ok = [await trigger({name: 'metrics-ok', steps: [{run: 'true'}]}), await trigger({name: 'metrics-ok', steps: [{run: 'true'}]})]
  const bad = await trigger({name: 'metrics-bad', steps: [{run: 'exit 3'}]})
  for (const id of [...ok, bad]) await finished(id)
  for (let i = 0; i < 3; i++) expect((await agent.api(`/api/v1/jobs/${ok[0]}`)).status).toBe(200)
  expect((await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'x', steps: []})})).status).toBe(400)
  await rpc(jobs.Get, {id: ok[1]})
  await rpc(jobs.Get, {id: ok[1]})
  await expect(rpc(jobs.Get, {id: 'no-such-job'})).rejects.toMatchObject({code: grpc.status.NOT_FOUND})
})

afterAll(async () => {
  jobs?.close()
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
})

describe('GET /metrics', () => {
  it('answers without a token in the Prometheus text format, and the real promtool accepts it', async () => {
    const {response, text} = await scrape()
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const checked = await runTool('promtool', ['check', 'metrics'], text)
    expect(checked.stderr + checked.stdout).toBe('')
    expect(checked.code).toBe(0)
  })

  it('names every series with its unit suffix and counters with _total, as the Collector does', async () => {
    const types = metricTypes((await scrape()).text)
    expect(types).toMatchObject({
      http_server_request_duration_seconds: 'histogram',
      rpc_server_call_duration_seconds: 'histogram',
      db_client_operation_duration_seconds: 'histogram',
      cicd_pipeline_run_duration_seconds: 'histogram',
      cicd_pipeline_run_active: 'gauge',
      cicd_pipeline_run_errors_total: 'counter',
      danube_jobs_rejected_total: 'counter',
      danube_drain_active: 'gauge',
      danube_health_check_status: 'gauge',
      target_info: 'gauge',
    })
    expect(Object.keys(types).filter((name) => name.includes('duration') && !name.endsWith('_seconds'))).toEqual([])
  })

  it('records HTTP requests by method, route template and status code, never the raw path', async () => {
    const {samples, text} = await scrape()
    const labels = {http_request_method: 'GET', http_route: '/api/v1/jobs/:id', http_response_status_code: '200', url_scheme: 'http'}
    // Three reads here and the polling in finished(): at least three.
    expect(total(samples, 'http_server_request_duration_seconds_count', labels)).toBeGreaterThanOrEqual(3)
    expect(total(samples, 'http_server_request_duration_seconds_count', {http_request_method: 'POST', http_route: '/api/v1/jobs', http_response_status_code: '400'})).toBe(1)
    expect(total(samples, 'http_server_request_duration_seconds_count', {http_request_method: 'POST', http_route: '/api/v1/jobs', http_response_status_code: '201'})).toBe(3)
    const inf = find(samples, 'http_server_request_duration_seconds_bucket', {...labels, le: '+Inf'})[0]!
    expect(inf.value).toBe(total(samples, 'http_server_request_duration_seconds_count', labels))
    expect(total(samples, 'http_server_request_duration_seconds_sum', labels)).toBeGreaterThan(0)
    for (const id of jobIds) expect(text).not.toContain(id)
  })

  it('leaves liveness and readiness probes out of the HTTP metric (their verdict is danube_health_*)', async () => {
    for (const probe of ['/health', '/health/ready', '/health/ready?verbose']) expect((await fetch(`${agent.baseUrl}${probe}`)).ok).toBe(true)
    const {samples} = await scrape()
    expect(find(samples, 'http_server_request_duration_seconds_count').map((s) => s.labels.http_route).filter((route) => route?.startsWith('/health'))).toEqual([])
    expect(total(samples, 'http_server_request_duration_seconds_count', {http_route: '/metrics'})).toBeGreaterThan(0)
  })

  it('records gRPC calls by system, fully qualified method and status code', async () => {
    const {samples} = await scrape()
    expect(total(samples, 'rpc_server_call_duration_seconds_count', {rpc_system_name: 'grpc', rpc_method: 'danube.v1.JobService/Get', rpc_status_code: 'OK'})).toBe(2)
    const notFound = find(samples, 'rpc_server_call_duration_seconds_count', {rpc_method: 'danube.v1.JobService/Get', rpc_status_code: 'NOT_FOUND'})
    expect(notFound).toHaveLength(1)
    expect(notFound[0]!.labels.error_type).toBe('NOT_FOUND')
    expect(notFound[0]!.value).toBe(1)
  })

  it('records SQLite operations by operation and table, never the statement or its parameters', async () => {
    const {samples} = await scrape()
    const inserts = find(samples, 'db_client_operation_duration_seconds_count', {db_system_name: 'sqlite', db_operation_name: 'INSERT', db_collection_name: 'jobs'})
    expect(inserts).toHaveLength(1)
    expect(inserts[0]!.value).toBe(3)
    expect(total(samples, 'db_client_operation_duration_seconds_count', {db_operation_name: 'SELECT', db_collection_name: 'jobs'})).toBeGreaterThan(0)
    const labelNames = new Set(find(samples, 'db_client_operation_duration_seconds_count').flatMap((sample) => Object.keys(sample.labels)))
    expect([...labelNames].sort()).toEqual(['db_collection_name', 'db_operation_name', 'db_system_name'])
  })

  it('records job durations by pipeline name, state and result, and failed runs by error type', async () => {
    const {samples} = await scrape()
    expect(total(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_name: 'metrics-ok', cicd_pipeline_run_state: 'executing', cicd_pipeline_result: 'success'})).toBe(2)
    expect(total(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_name: 'metrics-ok', cicd_pipeline_run_state: 'pending'})).toBe(2)
    const failed = find(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_name: 'metrics-bad', cicd_pipeline_run_state: 'executing'})
    expect(failed.map((sample) => [sample.labels.cicd_pipeline_result, sample.labels.error_type, sample.value])).toEqual([['failure', 'exit-code', 1]])
    expect(total(samples, 'cicd_pipeline_run_errors_total', {cicd_pipeline_name: 'metrics-bad', error_type: 'exit-code'})).toBe(1)
    expect(total(samples, 'cicd_pipeline_run_errors_total', {cicd_pipeline_name: 'metrics-ok'})).toBe(0)
    expect(total(samples, 'danube_jobs_rejected_total', {reason: 'invalid'})).toBe(1)
  })

  it('counts active runs from SQLite by state, and reports drain and health state', async () => {
    const {samples} = await scrape()
    expect(find(samples, 'cicd_pipeline_run_active', {cicd_pipeline_run_state: 'executing'}).map((s) => s.value)).toEqual([0])
    expect(find(samples, 'cicd_pipeline_run_active', {cicd_pipeline_run_state: 'pending'}).map((s) => s.value)).toEqual([0])
    expect(find(samples, 'danube_drain_active').map((s) => s.value)).toEqual([0])
    expect(find(samples, 'danube_drain_deadline_timestamp_seconds').map((s) => s.value)).toEqual([0])
    const health = await waitFor(async () => {
      const checks = find((await scrape()).samples, 'danube_health_check_status')
      return checks.length > 0 ? checks : undefined
    })
    const document = (await (await agent.api('/health/ready?verbose')).json()) as {checks: Record<string, Array<{status: string}>>}
    const expected = Object.fromEntries(Object.entries(document.checks).map(([key, [result]]) => [key, {pass: 0, warn: 1, fail: 2}[result!.status as 'pass']]))
    expect(Object.fromEntries(health.map((sample) => [sample.labels.check, sample.value]))).toEqual(expected)
  })

  it('counts running and waiting jobs as they are in SQLite at the scrape', async () => {
    const holders = await Promise.all(Array.from({length: 4}, () => trigger({name: 'metrics-hold', steps: [{run: 'sleep 60'}]})))
    const waiting = await trigger({name: 'metrics-wait', steps: [{run: 'true'}]})
    try {
      await waitFor(async () => {
        const {samples} = await scrape()
        return total(samples, 'cicd_pipeline_run_active', {cicd_pipeline_name: 'metrics-hold', cicd_pipeline_run_state: 'executing'}) === 4
      }, {what: 'four executing runs'})
      const {samples} = await scrape()
      expect(total(samples, 'cicd_pipeline_run_active', {cicd_pipeline_name: 'metrics-wait', cicd_pipeline_run_state: 'pending'})).toBe(1)
    } finally {
      // The waiting one first: cancelling a holder first would let it start.
      for (const id of [waiting, ...holders]) await agent.api(`/api/v1/jobs/${id}/cancel`, {method: 'POST'})
      for (const id of holders) await finished(id)
    }
    const {samples} = await scrape()
    expect(total(samples, 'cicd_pipeline_run_active', {cicd_pipeline_name: 'metrics-hold'})).toBe(0)
    expect(total(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_name: 'metrics-wait', cicd_pipeline_run_state: 'pending', cicd_pipeline_result: 'cancellation'})).toBe(1)
  })

  it('carries no secret, job id, user name or path as a label', async () => {
    const {text, samples} = await scrape()
    expect(text).not.toContain(agent.token)
    expect(text).not.toContain(agent.stateDir)
    const user = process.env.USER
    const values = samples.flatMap((sample) => Object.entries(sample.labels).filter(([key]) => key !== 'le' && key !== 'host_name').map(([, v]) => v))
    for (const value of values) {
      expect(value).not.toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/)
      expect(value.startsWith('/') && !value.startsWith('/api/') && !value.startsWith('/health') && value !== '/metrics').toBe(false)
      if (user) expect(value).not.toBe(user)
    }
  })

  it('answers scrapes while many jobs are admitted and run, each one complete and valid', async () => {
    const triggers = Array.from({length: 40}, (_, i) => trigger({name: `load-${i % 4}`, steps: [{run: 'true'}]}))
    const scrapes = Array.from({length: 10}, () => scrape())
    const results = await Promise.all(scrapes)
    for (const {response, text} of results) {
      expect(response.status).toBe(200)
      expect((await runTool('promtool', ['check', 'metrics'], text)).code).toBe(0)
    }
    const ids = await Promise.all(triggers)
    for (const id of ids) await finished(id)
    const {samples} = await scrape()
    expect(total(samples, 'cicd_pipeline_run_duration_seconds_count', {cicd_pipeline_run_state: 'executing', cicd_pipeline_result: 'success'})).toBe(42)
  })
})
