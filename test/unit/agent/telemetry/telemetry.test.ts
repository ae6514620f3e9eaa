// The telemetry module in process, with an in-memory span exporter: a job span with its step spans and the trigger
// link, TRACEPARENT naming each step's own span before the step starts, Kubernetes call spans parented on the job,
// and the naming rules (/metrics names, SQL operations, pipeline-name cap, OTLP endpoint variables).

import {context, SpanKind, trace} from '@opentelemetry/api'
import {InMemorySpanExporter, SimpleSpanProcessor} from '@opentelemetry/sdk-trace-base'
import {DataPointType} from '@opentelemetry/sdk-metrics'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {DanubeConfig} from '../../../../src/lib/config/index.js'
import type {Job} from '../../../../src/lib/jobs/model.js'
import {silentLogger} from '../../../../src/agent/logger.js'
import {prometheusName} from '../../../../src/agent/telemetry/prometheus.js'
import {otlpTarget, PipelineNames, startTelemetry, type Telemetry} from '../../../../src/agent/telemetry/sdk.js'
import {sqlOperation} from '../../../../src/agent/telemetry/sql.js'

const memory = new InMemorySpanExporter()
let telemetry: Telemetry
const config = {telemetry: {}} as unknown as DanubeConfig

function job(overrides: Partial<Job> = {}): Job {
  return {
    id: '6f1c2a9e-1111-4222-8333-944455556666',
    name: 'build',
    state: 'running',
    reason: null,
    executor: 'local',
    executorHandle: null,
    exitCode: null,
    createdAt: '2026-12-01T10:00:00.000Z',
    startedAt: '2026-12-01T10:00:01.000Z',
    finishedAt: null,
    updatedAt: '2026-12-01T10:00:01.000Z',
    spec: {name: 'build', steps: [{name: 'compile', run: 'make'}, {run: 'make test'}], timeout: '1h'} as Job['spec'],
    steps: [],
    provenance: null,
    ...overrides,
  }
}

beforeAll(async () => {
  telemetry = await startTelemetry({config, version: '0.0.0-test', logger: silentLogger, env: {}, spanProcessors: [new SimpleSpanProcessor(memory)]})
})

afterAll(async () => {
  await telemetry.shutdown()
})

describe('job traces', () => {
  it('makes RUN <job> with a child span per step, linked to the span the trigger arrived in', () => {
    memory.reset()
    const tracer = trace.getTracer('test')
    const trigger = tracer.startSpan('POST /api/v1/jobs', {kind: SpanKind.SERVER})
    const admitted = job()
    context.with(trace.setSpan(context.active(), trigger), () => telemetry.jobAdmitted(admitted))
    trigger.end()

    const run = telemetry.jobStarted(admitted)
    const env0 = run.stepEnv(0)
    const env1 = run.stepEnv(1)
    run.stepStarted(0)
    run.stepFinished(0, 'succeeded', 0)
    run.stepStarted(1)
    run.stepFinished(1, 'failed', 2)
    run.end(job({state: 'failed', reason: 'exit-code', finishedAt: '2026-12-01T10:00:09.000Z'}))

    const spans = memory.getFinishedSpans()
    const runSpan = spans.find((span) => span.name === 'RUN build')!
    const [compile, second] = ['compile', 'step-2'].map((name) => spans.find((span) => span.name === name)!)
    expect(runSpan.kind).toBe(SpanKind.SERVER)
    expect(runSpan.parentSpanContext).toBeUndefined()
    expect(runSpan.attributes).toMatchObject({'cicd.pipeline.name': 'build', 'cicd.pipeline.run.id': admitted.id, 'cicd.pipeline.result': 'failure', 'error.type': 'exit-code'})
    expect(runSpan.links.map((link) => link.context.spanId)).toEqual([trigger.spanContext().spanId])
    for (const step of [compile!, second!]) {
      expect(step.kind).toBe(SpanKind.INTERNAL)
      expect(step.parentSpanContext?.spanId).toBe(runSpan.spanContext().spanId)
      expect(step.spanContext().traceId).toBe(runSpan.spanContext().traceId)
    }
    expect(compile!.attributes).toMatchObject({'cicd.pipeline.task.name': 'compile', 'cicd.pipeline.task.run.result': 'success', 'process.exit.code': 0})
    expect(second!.attributes).toMatchObject({'cicd.pipeline.task.name': 'step-2', 'cicd.pipeline.task.run.result': 'failure', 'process.exit.code': 2})
    // Asked for before the steps started (as the Kubernetes executor does), the variables name the spans that ran.
    expect(env0).toEqual({TRACEPARENT: `00-${runSpan.spanContext().traceId}-${compile!.spanContext().spanId}-01`})
    expect(env1).toEqual({TRACEPARENT: `00-${runSpan.spanContext().traceId}-${second!.spanContext().spanId}-01`})
  })

  it('parents Kubernetes calls on the job: made inside it, or naming its Kubernetes Job; other calls make no span', () => {
    memory.reset()
    const running = job({id: 'AAAA-bbbb'})
    const run = telemetry.jobStarted(running)
    run.within(() => telemetry.onKubeCall({verb: 'create', resource: 'jobs', namespace: 'danube-jobs', statusCode: 201, durationMs: 12}))
    telemetry.onKubeCall({verb: 'get', resource: 'pods/log', namespace: 'danube-jobs', name: 'danube-aaaa-bbbb-x7k2p', statusCode: 200, durationMs: 3})
    telemetry.onKubeCall({verb: 'list', resource: 'pods', namespace: 'danube-system', statusCode: 200, durationMs: 4})
    run.end(job({id: 'AAAA-bbbb', state: 'succeeded', finishedAt: '2026-12-01T10:00:02.000Z'}))
    const spans = memory.getFinishedSpans()
    const runSpan = spans.find((span) => span.name === 'RUN build')!
    const calls = spans.filter((span) => span.kind === SpanKind.CLIENT)
    expect(calls.map((span) => [span.name, span.parentSpanContext?.spanId])).toEqual([
      ['create jobs', runSpan.spanContext().spanId],
      ['get pods/log', runSpan.spanContext().spanId],
    ])
    expect(calls[0]!.attributes).toMatchObject({'k8s.verb': 'create', 'k8s.resource': 'jobs', 'http.response.status_code': 201, 'k8s.namespace.name': 'danube-jobs'})
  })
})

describe('names', () => {
  it('names metrics as the Collector exports them', () => {
    const name = (otel: string, unit: string, dataPointType = DataPointType.HISTOGRAM) =>
      prometheusName({descriptor: {name: otel, unit, description: '', type: 'HISTOGRAM', valueType: 1} as never, dataPointType}).name
    expect(name('http.server.request.duration', 's')).toBe('http_server_request_duration_seconds')
    expect(name('cicd.pipeline.run.active', '{run}', DataPointType.SUM)).toBe('cicd_pipeline_run_active')
    expect(name('danube.drain.deadline.timestamp', 's', DataPointType.GAUGE)).toBe('danube_drain_deadline_timestamp_seconds')
    expect(name('process.memory.usage', 'By', DataPointType.GAUGE)).toBe('process_memory_usage_bytes')
    expect(name('system.cpu.utilization', '1', DataPointType.GAUGE)).toBe('system_cpu_utilization_ratio')
    expect(name('danube.drain.active', '', DataPointType.GAUGE)).toBe('danube_drain_active')
  })

  it('reduces SQL to its operation and table, never its text or parameters', () => {
    expect(sqlOperation("SELECT name, state FROM jobs WHERE id = ? AND state IN ('queued')")).toEqual({operation: 'SELECT', collection: 'jobs'})
    expect(sqlOperation('INSERT INTO job_steps (job_id) VALUES (?)')).toEqual({operation: 'INSERT', collection: 'job_steps'})
    expect(sqlOperation('UPDATE drain_state SET state = ?')).toEqual({operation: 'UPDATE', collection: 'drain_state'})
    expect(sqlOperation('DELETE FROM kube_orphans')).toEqual({operation: 'DELETE', collection: 'kube_orphans'})
    expect(sqlOperation('PRAGMA user_version')).toEqual({operation: 'PRAGMA'})
  })

  it('counts two statements with the same operation and table in one series, and a failed one apart', async () => {
    telemetry.onQuery({sql: 'SELECT id FROM kube_orphans WHERE id = ?', durationMs: 2, ok: true})
    telemetry.onQuery({sql: "SELECT name FROM kube_orphans WHERE state = 'x'", durationMs: 4, ok: true})
    telemetry.onQuery({sql: 'SELECT id FROM kube_orphans WHERE id = ?', durationMs: 1, ok: false, errorCode: 'SQLITE_BUSY'})
    const lines = (await telemetry.renderMetrics()).split('\n').filter((line) => line.startsWith('db_client_operation_duration_seconds_count') && line.includes('kube_orphans'))
    expect(lines).toEqual([
      'db_client_operation_duration_seconds_count{db_system_name="sqlite",db_operation_name="SELECT",db_collection_name="kube_orphans"} 2',
      'db_client_operation_duration_seconds_count{db_system_name="sqlite",db_operation_name="SELECT",db_collection_name="kube_orphans",error_type="SQLITE_BUSY"} 1',
    ])
  })

  it('caps distinct pipeline names, the rest as other', () => {
    const names = new PipelineNames(3)
    expect(['a', 'b', 'a', 'c', 'd', 'e', 'b'].map((n) => names.label(n))).toEqual(['a', 'b', 'a', 'c', 'other', 'other', 'b'])
  })

  it('reads the OTLP endpoint from the variables the specification names, and names the wrong one', () => {
    const withEndpoint = (endpoint?: string) => ({telemetry: {otlp: {endpoint}}}) as unknown as DanubeConfig
    expect(otlpTarget(withEndpoint(), {})).toEqual({off: 'unset'})
    expect(otlpTarget(withEndpoint('http://c:4318/'), {OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/'})).toEqual({url: 'http://c:4318/v1/traces'})
    expect(otlpTarget(withEndpoint('c:4318'), {OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318'})).toEqual({invalid: 'OTEL_EXPORTER_OTLP_ENDPOINT'})
    expect(otlpTarget(withEndpoint('ftp://c'), {})).toEqual({invalid: 'telemetry.otlp.endpoint'})
    expect(otlpTarget(withEndpoint(), {OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/t'})).toEqual({url: 'https://c/t'})
    expect(otlpTarget(withEndpoint('http://c:4318'), {OTEL_TRACES_EXPORTER: 'none'})).toEqual({off: 'none'})
  })
})
