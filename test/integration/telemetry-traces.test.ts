// Spans of a real agent, exported over OTLP/HTTP to a loopback receiver that decodes them: a SERVER span per HTTP
// request and gRPC call, a `RUN <job>` span with a child per step, the trigger's traceparent as a link, and each
// step's $TRACEPARENT naming its own step span.

import {readFileSync} from 'node:fs'
import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, REPO_ROOT, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {OtlpReceiver, type ReceivedSpan, SPAN_KIND} from '../support/telemetry.js'

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void // eslint-disable-line @typescript-eslint/no-explicit-any

let agent: AgentProcess
let receiver: OtlpReceiver
let jobs: grpc.Client & Record<'Trigger' | 'Get', Unary>

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN = '00f067aa0ba902b7'

function rpc<T>(method: Unary, request: object, extra: Record<string, string> = {}): Promise<T> {
  const metadata = new grpc.Metadata()
  metadata.set('authorization', `Bearer ${agent.token}`)
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value)
  return new Promise((resolve, reject) => method.call(jobs, request, metadata, (error, response) => (error ? reject(error) : resolve(response as T))))
}

async function trigger(spec: unknown, headers: Record<string, string> = {}): Promise<string> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec), headers})
  expect(response.status).toBe(201)
  return ((await response.json()) as {id: string}).id
}

async function finished(id: string): Promise<{state: string}> {
  return waitFor(async () => {
    const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
  }, {what: `job ${id} to finish`})
}

const jobSpan = (id: string) => (span: ReceivedSpan) => span.name.startsWith('RUN ') && span.attributes['cicd.pipeline.run.id'] === id

beforeAll(async () => {
  receiver = new OtlpReceiver()
  const endpoint = await receiver.start()
  agent = await startAgent({env: {OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test'}})
  const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
  jobs = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof jobs
})

afterAll(async () => {
  jobs?.close()
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
  await receiver?.stop()
})

describe('spans', () => {
  it('exports a SERVER span per HTTP request, named by the route template, under the resource of the agent', async () => {
    const id = await trigger({name: 'http-span', steps: [{run: 'true'}]})
    await finished(id)
    const response = await agent.api(`/api/v1/jobs/${id}`, {headers: {traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`}})
    expect(response.status).toBe(200)
    const span = await receiver.waitForSpan((s) => s.name === 'GET /api/v1/jobs/:id' && s.traceId === CALLER_TRACE)
    expect(span.kind).toBe(SPAN_KIND.SERVER)
    expect(span.parentSpanId).toBe(CALLER_SPAN)
    expect(span.attributes).toMatchObject({
      'http.route': '/api/v1/jobs/:id',
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'url.scheme': 'http',
      'url.path': `/api/v1/jobs/${id}`,
      'network.protocol.version': '1.1',
      'client.address': '127.0.0.1',
    })
    expect(span.resource).toMatchObject({'service.name': 'danube-agent', 'service.version': '0.1.0', 'deployment.environment.name': 'test'})
    expect(typeof span.resource['host.name']).toBe('string')
  })

  it('exports a SERVER span per gRPC call, a child of the caller named in the metadata', async () => {
    const id = await trigger({name: 'grpc-span', steps: [{run: 'true'}]})
    await rpc(jobs.Get, {id}, {traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`})
    const span = await receiver.waitForSpan((s) => s.name === 'grpc.danube.v1.JobService/Get' && s.traceId === CALLER_TRACE)
    expect(span.kind).toBe(SPAN_KIND.SERVER)
    expect(span.parentSpanId).toBe(CALLER_SPAN)
    expect(span.attributes).toMatchObject({'rpc.system': 'grpc', 'rpc.service': 'danube.v1.JobService', 'rpc.method': 'Get'})
  })

  it('traces a job: RUN <name> linked to the trigger, a child span per step, and each step sees its own span in $TRACEPARENT', async () => {
    const id = await trigger(
      {name: 'traced', steps: [{name: 'compile', run: 'echo "tp=$TRACEPARENT"'}, {name: 'check', run: 'echo "tp=$TRACEPARENT"; exit 4'}]},
      {traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`},
    )
    expect((await finished(id)).state).toBe('failed')
    const run = await receiver.waitForSpan(jobSpan(id))
    expect(run.name).toBe('RUN traced')
    expect(run.kind).toBe(SPAN_KIND.SERVER)
    expect(run.parentSpanId).toBe('')
    expect(run.attributes).toMatchObject({'cicd.pipeline.name': 'traced', 'cicd.pipeline.run.id': id, 'cicd.pipeline.result': 'failure', 'error.type': 'exit-code'})
    // The link points at the trigger request's span, which is in the caller's trace.
    expect(run.links).toHaveLength(1)
    expect(run.links[0]!.traceId).toBe(CALLER_TRACE)
    const triggerSpan = await receiver.waitForSpan((s) => s.spanId === run.links[0]!.spanId)
    expect(triggerSpan).toMatchObject({name: 'POST /api/v1/jobs', parentSpanId: CALLER_SPAN})

    const compile = await receiver.waitForSpan((s) => s.name === 'compile' && s.parentSpanId === run.spanId)
    const check = await receiver.waitForSpan((s) => s.name === 'check' && s.parentSpanId === run.spanId)
    expect(compile).toMatchObject({kind: SPAN_KIND.INTERNAL, traceId: run.traceId})
    expect(compile.attributes).toMatchObject({'cicd.pipeline.task.name': 'compile', 'cicd.pipeline.task.run.result': 'success', 'process.exit.code': 0})
    expect(check.attributes).toMatchObject({'cicd.pipeline.task.name': 'check', 'cicd.pipeline.task.run.result': 'failure', 'process.exit.code': 4})
    expect(check.status.code).toBe(2)

    const log = readFileSync(path.join(agent.stateDir, 'logs', `${id}.log`), 'utf8')
    const printed = [...log.matchAll(/tp=(\S*)/g)].map((match) => match[1])
    expect(printed).toEqual([`00-${run.traceId}-${compile.spanId}-01`, `00-${run.traceId}-${check.spanId}-01`])
  })

  it('links a job triggered over gRPC to the caller named in the metadata', async () => {
    const created = await rpc<{id: string}>(jobs.Trigger, {spec: {name: 'grpc-traced', steps: [{run: 'true'}]}}, {traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`})
    await finished(created.id)
    const run = await receiver.waitForSpan(jobSpan(created.id))
    expect(run.links.map((link) => link.traceId)).toEqual([CALLER_TRACE])
  })

  it('ignores a malformed traceparent on a trigger: the job runs, in a trace of its own', async () => {
    const id = await trigger({name: 'malformed', steps: [{run: 'echo "tp=$TRACEPARENT"'}]}, {traceparent: '00-not-a-trace-id-01'})
    expect((await finished(id)).state).toBe('succeeded')
    const run = await receiver.waitForSpan(jobSpan(id))
    expect(run.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(run.links.every((link) => link.traceId !== CALLER_TRACE && /^[0-9a-f]{32}$/.test(link.traceId))).toBe(true)
    const log = readFileSync(path.join(agent.stateDir, 'logs', `${id}.log`), 'utf8')
    expect(log).toMatch(new RegExp(`tp=00-${run.traceId}-[0-9a-f]{16}-01`))
  })
})
