// Telemetry must never break or slow the agent: an invalid OTLP endpoint, a collector that refuses, one that hangs,
// and OTEL_SDK_DISABLED=true, each against a real agent and a loopback receiver.

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {find, OtlpReceiver, parseExposition, type ReceiverMode, total} from '../support/telemetry.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function receiverIn(mode: ReceiverMode): Promise<{receiver: OtlpReceiver; endpoint: string}> {
  const receiver = new OtlpReceiver(mode)
  const endpoint = await receiver.start()
  cleanups.push(() => receiver.stop())
  return {receiver, endpoint}
}

async function agentWith(env: NodeJS.ProcessEnv): Promise<AgentProcess> {
  const agent = await startAgent({env})
  cleanups.push(async () => {
    await agent.stop('SIGKILL')
    removeStateDir(agent.stateDir)
  })
  return agent
}

async function runJob(agent: AgentProcess, run = 'echo "tp=${TRACEPARENT:-none}"'): Promise<{id: string; state: string; log: string}> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'fault', steps: [{run}]})})
  expect(response.status).toBe(201)
  const {id} = (await response.json()) as {id: string}
  const job = await waitFor(async () => {
    const view = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
    return ['succeeded', 'failed', 'cancelled'].includes(view.state) ? view : undefined
  }, {what: `job ${id} to finish`})
  return {id, state: job.state, log: readFileSync(path.join(agent.stateDir, 'logs', `${id}.log`), 'utf8')}
}

describe('telemetry faults', () => {
  it('starts with an invalid OTEL_EXPORTER_OTLP_ENDPOINT, names the variable once, and exports nothing', async () => {
    const {receiver, endpoint} = await receiverIn('accept')
    // host:port without a scheme: the commonest mistake; it names a reachable receiver, which must get nothing.
    const agent = await agentWith({OTEL_EXPORTER_OTLP_ENDPOINT: endpoint.replace('http://', ''), OTEL_BSP_SCHEDULE_DELAY: '50'})
    const warnings = agent.logs().split('\n').filter((line) => line.includes('OTEL_EXPORTER_OTLP_ENDPOINT'))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0]!)).toMatchObject({level: 'warn', variable: 'OTEL_EXPORTER_OTLP_ENDPOINT'})
    expect(warnings[0]).toContain('http(s) URL')
    expect((await runJob(agent)).state).toBe('succeeded')
    expect((await fetch(`${agent.baseUrl}/metrics`)).status).toBe(200)
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(receiver.requests).toBe(0)
  })

  it('keeps running jobs when the collector refuses every export, and counts the spans it could not deliver', async () => {
    const {receiver, endpoint} = await receiverIn('refuse')
    const agent = await agentWith({OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_EXPORTER_OTLP_TIMEOUT: '2000'})
    for (let i = 0; i < 3; i++) expect((await runJob(agent)).state).toBe('succeeded')
    await receiver.waitForRequests(1)
    const failed = await waitFor(async () => {
      const samples = find(parseExposition(await (await fetch(`${agent.baseUrl}/metrics`)).text()), 'otel_sdk_processor_span_processed_total')
      const errors = samples.filter((sample) => sample.labels.error_type && sample.labels.error_type !== 'queue_full')
      return errors.length > 0 ? errors : undefined
    }, {what: 'failed exports to be counted'})
    expect(failed.reduce((sum, sample) => sum + sample.value, 0)).toBeGreaterThan(0)
    expect((await agent.api('/health/ready')).status).toBe(200)
  })

  it('answers requests and finishes jobs while the collector hangs, dropping what does not fit in the bounded queue', async () => {
    const {receiver, endpoint} = await receiverIn('hang')
    const agent = await agentWith({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '10',
      OTEL_BSP_MAX_QUEUE_SIZE: '4',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1',
      OTEL_EXPORTER_OTLP_TIMEOUT: '60000',
      OTEL_BSP_EXPORT_TIMEOUT: '60000',
    })
    // A traced request (probes make no span): its export is the one the collector then holds open.
    expect((await agent.api('/api/v1/jobs')).status).toBe(200)
    await receiver.waitForRequests(1)
    // Everything below happens while the collector hangs; each request makes a span the queue cannot take.
    for (let i = 0; i < 20; i++) expect((await agent.api('/api/v1/jobs')).status).toBe(200)
    expect((await runJob(agent)).state).toBe('succeeded')
    const samples = parseExposition(await (await fetch(`${agent.baseUrl}/metrics`)).text())
    expect(total(samples, 'otel_sdk_processor_span_processed_total', {error_type: 'queue_full'})).toBeGreaterThan(0)
    expect(receiver.requests).toBe(1)
    // Shutdown flushes for a bounded time only: a hanging collector does not keep the agent from exiting cleanly.
    expect(await agent.stop('SIGTERM')).toBe(0)
  })

  it('with OTEL_SDK_DISABLED=true answers /metrics with 404 TELEMETRY_DISABLED, exports nothing and gives steps no TRACEPARENT', async () => {
    const {receiver, endpoint} = await receiverIn('accept')
    const agent = await agentWith({OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint})
    const response = await fetch(`${agent.baseUrl}/metrics`)
    expect(response.status).toBe(404)
    expect(((await response.json()) as {error: {code: string; message: string}}).error).toMatchObject({code: 'TELEMETRY_DISABLED', message: expect.stringContaining('OTEL_SDK_DISABLED')})
    const job = await runJob(agent)
    expect(job.state).toBe('succeeded')
    expect(job.log).toContain('tp=none')
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(receiver.requests).toBe(0)
  })
})

describe('the standard OTEL_* variables', () => {
  it('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is, with OTEL_EXPORTER_OTLP_HEADERS, and OTEL_SERVICE_NAME names the service', async () => {
    const {receiver, endpoint} = await receiverIn('accept')
    const agent = await agentWith({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/custom/traces`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=abc',
      OTEL_SERVICE_NAME: 'ci-agent',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    })
    const {id} = await runJob(agent)
    const run = await receiver.waitForSpan((span) => span.attributes['cicd.pipeline.run.id'] === id)
    expect(run.resource['service.name']).toBe('ci-agent')
    expect(receiver.received[0]).toMatchObject({path: '/custom/traces', headers: {'x-collector-token': 'abc', 'content-type': 'application/json'}})
    const samples = parseExposition(await (await fetch(`${agent.baseUrl}/metrics`)).text())
    expect(find(samples, 'target_info')[0]!.labels.service_name).toBe('ci-agent')
  })

  it('OTEL_TRACES_SAMPLER=always_off exports no span, and steps get an unsampled TRACEPARENT', async () => {
    const {receiver, endpoint} = await receiverIn('accept')
    const agent = await agentWith({OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'always_off', OTEL_BSP_SCHEDULE_DELAY: '50'})
    const job = await runJob(agent)
    expect(job.log).toMatch(/tp=00-[0-9a-f]{32}-[0-9a-f]{16}-00/)
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(receiver.requests).toBe(0)
  })

  it('OTEL_TRACES_EXPORTER=none exports nothing even with an endpoint; metrics stay on', async () => {
    const {receiver, endpoint} = await receiverIn('accept')
    const agent = await agentWith({OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_EXPORTER: 'none', OTEL_BSP_SCHEDULE_DELAY: '50'})
    expect((await runJob(agent)).state).toBe('succeeded')
    expect((await fetch(`${agent.baseUrl}/metrics`)).status).toBe(200)
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(receiver.requests).toBe(0)
  })
})
