// Issue 14 (and issue 12's HTTP/gRPC bullets) through a real agent: hostile or huge input gets a small,
// quick answer; job lists are summaries; logs stream with constant memory per reader; the small
// inconsistencies of the HTTP and gRPC APIs (one bearer parser, duplicate Authorization, decimal limit,
// HEAD, //paths, malformed percent-escapes); client aborts logged as what they are.
import {readFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, REPO_ROOT, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void // eslint-disable-line @typescript-eslint/no-explicit-any

let agent: AgentProcess
let jobs: grpc.Client & Record<'Trigger' | 'Get' | 'List' | 'Cancel', Unary>

beforeAll(async () => {
  agent = await startAgent({env: {DANUBE_JOBS_LOG_MAX_BYTES: String(80 * 1024 * 1024)}})
  const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
  // The client may send up to 8 MiB: what is refused must be the agent's limit, not the client's.
  jobs = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure(), {'grpc.max_send_message_length': 8 * 1024 * 1024}) as unknown as typeof jobs
})

afterAll(async () => {
  jobs?.close()
  await agent.stop('SIGKILL')
  removeStateDir(agent.stateDir)
})

function grpcCall<T>(method: Unary, request: object, authorization: string[] = [`Bearer ${agent.token}`]): Promise<T> {
  const metadata = new grpc.Metadata()
  for (const value of authorization) metadata.add('authorization', value)
  return new Promise((resolve, reject) => method.call(jobs, request, metadata, (error, response) => (error ? reject(error) : resolve(response as T))))
}

/** A raw HTTP/1.1 request, for what fetch cannot send (two Authorization headers, //paths, bad escapes). */
function raw(method: string, target: string, headers: [string, string][] = [['Authorization', `Bearer ${agent.token}`]], body?: string): Promise<{status: number; headers: http.IncomingHttpHeaders; body: string}> {
  const [host, port] = agent.httpAddr.split(':')
  return new Promise((resolve, reject) => {
    // Raw header pairs (so a header can repeat); node:http then adds no Host, which HTTP/1.1 requires.
    const request = http.request({host, port: Number(port), method, path: target, headers: [['Host', 'agent'], ...headers].flat() as unknown as http.OutgoingHttpHeaders})
    request.once('error', reject)
    request.once('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.once('end', () => resolve({status: response.statusCode!, headers: response.headers, body: text}))
    })
    request.end(body)
  })
}

function agentRssBytes(): number {
  const status = readFileSync(`/proc/${agent.child.pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024
}

async function finished(id: string): Promise<{state: string}> {
  return waitFor(async () => {
    const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
  }, {timeoutMs: 60_000, what: `job ${id} to finish`})
}

describe('bounded validation (HTTP)', () => {
  it('answers a 1 MiB steps array with a small 400 while /health keeps answering', async () => {
    const body = `{"name":"x","steps":[${Array.from({length: 524_270}, () => '1').join(',')}]}`
    expect(body.length).toBeLessThan(1024 * 1024)
    const posts = Array.from({length: 4}, () => agent.api('/api/v1/jobs', {method: 'POST', body}).then(async (r) => ({status: r.status, text: await r.text()})))
    const health = await fetch(`${agent.baseUrl}/health`)
    const answers = await Promise.all(posts)
    expect(health.status).toBe(200)
    for (const answer of answers) {
      expect(answer.status).toBe(400)
      expect(answer.text.length).toBeLessThan(4096)
      // Refused by the body parser's worker thread before the spec is looked at: no list in any API takes 10,000 entries.
      expect(JSON.parse(answer.text)).toMatchObject({error: {code: 'BODY_TOO_COMPLEX', message: 'request body: steps has 524270 entries; no list or mapping may have more than 10000'}})
    }
  })

  it('answers a mapping of 60,000 unknown keys with a small 400', async () => {
    const body = `{"name":"x","steps":[{"run":"true"}],${Array.from({length: 60_000}, (_v, i) => `"bad${i}":1`).join(',')}}`
    const response = await agent.api('/api/v1/jobs', {method: 'POST', body})
    const text = await response.text()
    expect(response.status).toBe(400)
    expect(text.length).toBeLessThan(4096)
    expect(JSON.parse(text)).toMatchObject({error: {code: 'BODY_TOO_COMPLEX', message: 'request body: (root) has 60002 entries; no list or mapping may have more than 10000'}})
    // Under the parser's bound, the spec's own: at most 64 keys in a mapping.
    const fewer = await agent.api('/api/v1/jobs', {method: 'POST', body: `{"name":"x","steps":[{"run":"true"}],${Array.from({length: 5000}, (_v, i) => `"bad${i}":1`).join(',')}}`})
    expect(fewer.status).toBe(400)
    expect(((await fewer.json()) as {error: {message: string}}).error.message).toBe('invalid job spec: has 5002 keys; at most 64 are allowed')
  })

  it('caps details at 20 and says how many more there were', async () => {
    const steps = Array.from({length: 40}, () => ({run: '', extra: 1}))
    const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'x', steps})})
    const {error} = (await response.json()) as {error: {details: {path: string; message: string}[]}}
    expect(error.details).toHaveLength(21)
    expect(error.details[20]).toEqual({path: '(more)', message: 'and 60 more'})
  })

  it('refuses the spec limits over HTTP with the field named: steps, run size, env size, NUL', async () => {
    const post = async (spec: unknown) => {
      const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
      return {status: response.status, error: ((await response.json()) as {error: {code: string; message: string}}).error}
    }
    expect(await post({name: 'x', steps: Array.from({length: 257}, () => ({run: 'true'}))})).toMatchObject({status: 400, error: {code: 'INVALID_SPEC', message: 'invalid job spec: steps: has 257 steps; at most 256 are allowed'}})
    expect((await post({name: 'x', steps: [{run: 'x'.repeat(70_000)}]})).error.message).toMatch(/^invalid job spec: steps\[0\]\.run: has more than 65536/)
    expect((await post({name: 'x', steps: [{run: 'true'}], env: {BIG: 'v'.repeat(200_000)}})).error.message).toMatch(/^invalid job spec: env: keys and values are \d+ bytes together/)
    expect((await post({name: 'x', steps: [{run: 'echo \u0000'}]})).error.message).toBe('invalid job spec: steps[0].run: contains a NUL byte, which no command or variable can carry')
    expect((await post({name: 'x', steps: [{run: 'true'}], env: {A: 'a\u0000b'}})).error.message).toMatch(/^invalid job spec: env\.A: contains a NUL byte/)
  })

  it('refuses an env key __proto__ instead of dropping it, and a name with a lone surrogate', async () => {
    const proto = await agent.api('/api/v1/jobs', {method: 'POST', body: '{"name":"x","steps":[{"run":"true"}],"env":{"__proto__":"1"}}'})
    expect(proto.status).toBe(400)
    expect(((await proto.json()) as {error: {message: string}}).error.message).toContain('"__proto__" is not accepted')
    const surrogate = await agent.api('/api/v1/jobs', {method: 'POST', body: '{"name":"bad\\ud800","steps":[{"run":"true"}]}'})
    expect(surrogate.status).toBe(400)
    expect(((await surrogate.json()) as {error: {message: string}}).error.message).toMatch(/^invalid job spec: name: contains a lone UTF-16 surrogate/)
  })
})

describe('the same limits over gRPC and `danube job run`', () => {
  it('gRPC: the steps limit is INVALID_ARGUMENT naming steps; a message over api.maxRequestBytes is RESOURCE_EXHAUSTED', async () => {
    await expect(grpcCall(jobs.Trigger, {spec: {name: 'x', steps: Array.from({length: 257}, () => ({run: 'true'}))}})).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid job spec: steps: has 257 steps; at most 256 are allowed',
    })
    await expect(grpcCall(jobs.Trigger, {spec: {name: 'x', steps: [{run: 'echo \u0000'}]}})).rejects.toMatchObject({code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('NUL byte')})
    // protobufjs keeps a map key __proto__ as an own key: refused as over HTTP, not dropped.
    await expect(grpcCall(jobs.Trigger, {spec: JSON.parse('{"name":"x","steps":[{"run":"true"}],"env":{"__proto__":"v"}}') as object})).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid job spec: env: "__proto__" is not accepted as a variable name',
    })
    // 2 MiB: under grpc-js's own 4 MiB default, over the agent's 1 MiB.
    await expect(grpcCall(jobs.Trigger, {spec: {name: 'x', steps: [{run: 'x'.repeat(2 * 1024 * 1024)}]}})).rejects.toMatchObject({code: grpc.status.RESOURCE_EXHAUSTED})
  })

  it('gRPC: one bearer parser with HTTP; a trailing space, which HTTP/2 drops in transit, is named; secrets travel', async () => {
    const job = await grpcCall<{id: string; spec: {secrets: string[]}}>(jobs.Trigger, {spec: {name: 'grpc-secrets', steps: [{run: 'true'}], env: {T: 's'}, secrets: ['T']}}, [`bearer   ${agent.token}`])
    expect(job.spec.secrets).toEqual(['T'])
    const http = await fetch(`${agent.baseUrl}/api/v1/jobs/${job.id}`, {headers: {Authorization: `bearer \t${agent.token} `}})
    expect(http.status).toBe(200)
    await expect(grpcCall(jobs.Get, {id: job.id}, [`Bearer ${agent.token} `])).rejects.toMatchObject({code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining('HTTP/2 drops a value with leading or trailing spaces')})
  })

  it('gRPC List returns summaries without the spec', async () => {
    await grpcCall(jobs.Trigger, {spec: {name: 'listed', steps: [{run: 'true'}]}})
    const listed = await grpcCall<{jobs: {id: string; spec: unknown; steps: unknown[]}[]}>(jobs.List, {limit: 5})
    expect(listed.jobs.length).toBeGreaterThan(0)
    for (const job of listed.jobs) expect(job.spec).toBeNull()
  })

  it('job run names a YAML error by line, column and the offending line, and a typo with what was meant', async () => {
    const yaml = await runCli(['job', 'run', '--file', '-'], {stateDir: agent.stateDir, input: 'name: x\nsteps:\n  - run: make\n   bad: [1\n', env: {DANUBE_HTTP_ADDR: agent.httpAddr}})
    expect(yaml.code).toBe(2)
    expect(yaml.stderr.split('\n')[0]).toMatch(/^danube: standard input is not valid YAML or JSON: line 4, column \d+: .+: " {3}bad: \[1"$/)
    const typo = await runCli(['job', 'run', '--file', '-'], {stateDir: agent.stateDir, input: 'name: x\nstesp:\n  - run: make\n', env: {DANUBE_HTTP_ADDR: agent.httpAddr}})
    expect(typo.code).toBe(2)
    expect(typo.stderr.split('\n')[0]).toBe('danube: invalid job spec: unknown key "stesp" (did you mean "steps"?)')
  })

  it('job run refuses the same limits before sending anything, exit 2', async () => {
    const spec = JSON.stringify({name: 'x', steps: Array.from({length: 257}, () => ({run: 'true'}))})
    const result = await runCli(['job', 'run', '--file', '-'], {stateDir: agent.stateDir, input: spec, env: {DANUBE_HTTP_ADDR: agent.httpAddr}})
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('danube: invalid job spec: steps: has 257 steps; at most 256 are allowed')
  })
})

describe('job lists', () => {
  it('GET /api/v1/jobs returns summaries (no spec, no step text); GET /api/v1/jobs/{id} the whole job', async () => {
    const created = (await (await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'summary', steps: [{run: `echo ${'s'.repeat(1000)}`}]})})).json()) as {id: string}
    const list = (await (await agent.api('/api/v1/jobs?limit=5')).json()) as {jobs: Record<string, unknown>[]}
    const item = list.jobs.find((job) => job.id === created.id)!
    expect(item).toMatchObject({id: created.id, name: 'summary'})
    expect(item).not.toHaveProperty('spec')
    expect(JSON.stringify(list)).not.toContain('s'.repeat(1000))
    const one = (await (await agent.api(`/api/v1/jobs/${created.id}`)).json()) as {spec: {steps: {run: string}[]}}
    expect(one.spec.steps[0]!.run).toContain('s'.repeat(1000))
  })
})

describe('logs stream from the file', () => {
  it('16 concurrent slow readers of a 64 MiB log keep the agent within +64 MiB of resident memory', async () => {
    const size = 64 * 1024 * 1024
    const created = (await (await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'big-log', steps: [{run: `head -c ${size} /dev/zero | tr '\\0' 'x'`}]})})).json()) as {id: string}
    expect((await finished(created.id)).state).toBe('succeeded')
    const before = agentRssBytes()
    let peak = before
    const [host, port] = agent.httpAddr.split(':')
    // Each reader takes its first chunk, then stalls (a slow client), then drains at its own pace.
    const readers = Array.from({length: 16}, () =>
      new Promise<{bytes: number; stall: () => void; resume: () => Promise<number>}>((resolve, reject) => {
        http.get({host, port: Number(port), path: `/api/v1/jobs/${created.id}/logs`, headers: {Authorization: `Bearer ${agent.token}`}}, (response) => {
          let bytes = 0
          let done: (n: number) => void
          const ended = new Promise<number>((r) => (done = r))
          response.on('data', (chunk: Buffer) => (bytes += chunk.length))
          response.once('end', () => done(bytes))
          response.once('data', () => {
            response.pause()
            resolve({bytes, stall: () => response.pause(), resume: () => (response.resume(), ended)})
          })
        }).once('error', reject)
      }),
    )
    const started = await Promise.all(readers)
    // Not synchronisation: resident memory is sampled over a window (10 x 50 ms) while all 16 readers are stalled.
    for (let n = 0; n < 10; n++) {
      peak = Math.max(peak, agentRssBytes())
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const sampler = setInterval(() => (peak = Math.max(peak, agentRssBytes())), 50)
    const totals = await Promise.all(started.map((reader) => reader.resume()))
    clearInterval(sampler)
    const expectedBytes = readFileSync(path.join(agent.stateDir, 'logs', `${created.id}.log`)).length
    expect(expectedBytes).toBeGreaterThan(size)
    for (const total of totals) expect(total).toBe(expectedBytes)
    expect(peak - before).toBeLessThan(64 * 1024 * 1024)
  })

  it('answers HEAD on the log route (and every GET route) with headers and no body', async () => {
    const created = (await (await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'head', steps: [{run: 'echo hi'}]})})).json()) as {id: string}
    await finished(created.id)
    const logs = await raw('HEAD', `/api/v1/jobs/${created.id}/logs`)
    expect(logs).toMatchObject({status: 200, body: ''})
    expect(logs.headers['content-type']).toMatch(/^text\/plain/)
    const job = await raw('HEAD', `/api/v1/jobs/${created.id}`)
    expect(job).toMatchObject({status: 200, body: ''})
    expect(Number(job.headers['content-length'])).toBeGreaterThan(0)
    expect((await raw('HEAD', '/health', [])).status).toBe(200)
  })
})

describe('small inconsistencies', () => {
  it('two Authorization headers are a 400, not the first one taken', async () => {
    const response = await raw('GET', '/api/v1/jobs', [['Authorization', `Bearer ${agent.token}`], ['Authorization', 'Bearer nope']])
    expect(response.status).toBe(400)
    expect(JSON.parse(response.body)).toMatchObject({error: {code: 'DUPLICATE_AUTHORIZATION'}})
  })

  it('limit accepts decimal digits only', async () => {
    expect((await agent.api('/api/v1/jobs?limit=0x10')).status).toBe(400)
    expect((await agent.api('/api/v1/jobs?limit=1e1')).status).toBe(400)
    expect((await agent.api('/api/v1/jobs?limit=16')).status).toBe(200)
  })

  it('//api/v1/jobs is a 404 naming the path as sent', async () => {
    const response = await raw('GET', '//api/v1/jobs')
    expect(response.status).toBe(404)
    expect(JSON.parse(response.body)).toMatchObject({error: {code: 'NOT_FOUND', message: 'no route //api/v1/jobs'}})
  })

  it('a malformed percent-escape in the path is a 400 with a clear error, not a 500', async () => {
    const response = await raw('GET', '/api/v1/jobs/%E0%A4%A')
    expect(response.status).toBe(400)
    expect(JSON.parse(response.body)).toMatchObject({error: {code: 'INVALID_PATH', message: expect.stringContaining('malformed percent-escape')}})
    expect(agent.logs()).not.toContain('"code":"INTERNAL"')
  })
})

describe('client aborts', () => {
  it('logs an abandoned upload at info with CLIENT_ABORTED, never as an INTERNAL error', async () => {
    const [host, port] = agent.httpAddr.split(':')
    const socket = net.connect(Number(port), host)
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(`POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${agent.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`)
    await waitFor(() => true)
    socket.destroy()
    const line = await waitFor(() => agent.logs().split('\n').find((l) => l.includes('"CLIENT_ABORTED"')), {what: 'the abort to be logged'})
    expect(JSON.parse(line)).toMatchObject({level: 'info', msg: 'request abandoned by the client', code: 'CLIENT_ABORTED'})
    expect(agent.logs()).not.toMatch(/"level":"error".*"aborted"/)
  })
})

describe('api.maxRequestBytes', () => {
  it('is the one limit of HTTP bodies and gRPC messages', async () => {
    const small = await startAgent({env: {DANUBE_API_MAX_REQUEST_BYTES: String(64 * 1024)}})
    const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
    const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
    const client = new proto.danube.v1.JobService(small.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof jobs
    try {
      const spec = {name: 'x', steps: [{run: `echo ${'x'.repeat(60 * 1024)}`}, {run: `echo ${'y'.repeat(10 * 1024)}`}]}
      const response = await small.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
      expect(response.status).toBe(413)
      expect(((await response.json()) as {error: {message: string}}).error.message).toBe('request body is over the 65536 byte limit (api.maxRequestBytes)')
      const metadata = new grpc.Metadata()
      metadata.set('authorization', `Bearer ${small.token}`)
      const error = await new Promise<grpc.ServiceError | null>((resolve) => client.Trigger.call(client, {spec}, metadata, (e) => resolve(e)))
      expect(error).toMatchObject({code: grpc.status.RESOURCE_EXHAUSTED})
      // Under the limit, both admit.
      expect((await small.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'ok', steps: [{run: 'true'}]})})).status).toBe(201)
    } finally {
      client.close()
      await small.stop('SIGKILL')
      removeStateDir(small.stateDir)
    }
  })
})
