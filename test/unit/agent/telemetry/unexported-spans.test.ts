// The default agent: telemetry on, no OTLP endpoint, so no span processor. An HTTP request then gets no SERVER span
// (nothing could read it) but is still timed in http.server.request.duration, and a job still gets spans, because
// their ids are the TRACEPARENT its steps see. Its own file: the SDK registers process-wide providers.

import http from 'node:http'
import type {AddressInfo} from 'node:net'

import {context, trace} from '@opentelemetry/api'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {DanubeConfig} from '../../../../src/lib/config/index.js'
import type {Job} from '../../../../src/lib/jobs/model.js'
import {silentLogger} from '../../../../src/agent/logger.js'
import {startTelemetry, type Telemetry} from '../../../../src/agent/telemetry/sdk.js'

let telemetry: Telemetry
let server: http.Server
let activeInHandler: unknown = 'not called'

beforeAll(async () => {
  telemetry = await startTelemetry({config: {telemetry: {}} as unknown as DanubeConfig, version: '0.0.0-test', logger: silentLogger, env: {}})
  server = http.createServer((req, res) => {
    void telemetry.observeHttpRequest(req, res, '/api/v1/jobs/:id', async () => {
      activeInHandler = trace.getSpan(context.active())
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  await telemetry.shutdown()
})

describe('telemetry with no span processor', () => {
  it('makes no SERVER span for an HTTP request, and still times it by route', async () => {
    const {port} = server.address() as AddressInfo
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/jobs/1234?x=1`, {
      headers: {traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'},
    })
    expect(response.status).toBe(200)
    await response.text()
    expect(activeInHandler).toBeUndefined()
    const text = await telemetry.renderMetrics()
    expect(text).toMatch(/^http_server_request_duration_seconds_count\{[^}]*http_route="\/api\/v1\/jobs\/:id"[^}]*http_response_status_code="200"[^}]*\} 1$/m)
  })

  it('still gives each step a sampled TRACEPARENT naming a span of the job', () => {
    const job = {id: 'a1', name: 'build', executor: 'local', spec: {name: 'build', steps: [{run: 'make'}], timeout: '1h'}} as unknown as Job
    const run = telemetry.jobStarted(job)
    const env = run.stepEnv(0)
    expect(env.TRACEPARENT).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    expect(env.TRACEPARENT).not.toMatch(/^00-0{32}-/)
    run.end({...job, state: 'succeeded', reason: null} as Job)
  })
})
