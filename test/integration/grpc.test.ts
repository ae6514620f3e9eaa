// The gRPC job API and grpc.health.v1 with a real @grpc/grpc-js client against a real agent.
import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, REPO_ROOT, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void // eslint-disable-line @typescript-eslint/no-explicit-any

let agent: AgentProcess
let jobs: grpc.Client & Record<'Trigger' | 'Get' | 'List' | 'Cancel', Unary>
let health: grpc.Client & {Check: (request: object, callback: (error: grpc.ServiceError | null, response: {status: string}) => void) => void}

function call<T>(method: Unary, request: object, token: string | null = agent.token): Promise<T> {
  const metadata = new grpc.Metadata()
  if (token !== null) metadata.set('authorization', `Bearer ${token}`)
  return new Promise((resolve, reject) => method.call(jobs, request, metadata, (error, response) => (error ? reject(error) : resolve(response as T))))
}

beforeAll(async () => {
  agent = await startAgent()
  const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
  jobs = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof jobs
  const healthDefinition = await loader.load(path.join(REPO_ROOT, 'node_modules/grpc-health-check/proto/health/v1/health.proto'), {keepCase: true, enums: String})
  const healthProto = grpc.loadPackageDefinition(healthDefinition) as unknown as {grpc: {health: {v1: {Health: grpc.ServiceClientConstructor}}}}
  health = new healthProto.grpc.health.v1.Health(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof health
})

afterAll(async () => {
  jobs?.close()
  health?.close()
  await agent.stop('SIGKILL')
  removeStateDir(agent.stateDir)
})

describe('danube.v1.JobService', () => {
  it('sends the identity of its state directory (metadata danube-state-id) with answers and errors', async () => {
    const stateId = /"stateId":"([0-9a-f]{32})"/.exec(agent.logs())![1]!
    const metadataOf = (token: string | null) =>
      new Promise<string | undefined>((resolve) => {
        const metadata = new grpc.Metadata()
        if (token !== null) metadata.set('authorization', `Bearer ${token}`)
        const pending = jobs.List.call(jobs, {}, metadata, () => {}) as unknown as grpc.ClientUnaryCall
        pending.on('metadata', (received: grpc.Metadata) => resolve(received.get('danube-state-id')[0]?.toString()))
        pending.on('status', (status: grpc.StatusObject) => resolve(status.metadata.get('danube-state-id')[0]?.toString()))
      })
    expect(await metadataOf(agent.token)).toBe(stateId)
    expect(await metadataOf(null)).toBe(stateId)
  })

  it('triggers, gets and lists a job like the HTTP API', async () => {
    const created = await call<{id: string; state: string; spec: {timeout: string}}>(jobs.Trigger, {spec: {name: 'grpc-job', steps: [{name: 'hi', run: 'echo hi'}], env: {A: 'b'}}})
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(created.spec.timeout).toBe('1h')
    const done = await waitFor(async () => {
      const job = await call<{state: string; steps: {exitCode: number}[]; provenance?: {state: string; reason: string}}>(jobs.Get, {id: created.id})
      return job.state === 'succeeded' ? job : undefined
    })
    expect(done.steps[0]?.exitCode).toBe(0)
    // No key in this state directory: the provenance outcome travels over gRPC as over HTTP.
    expect(done.provenance).toMatchObject({state: 'skipped', reason: 'no signing key'})
    const listed = await call<{jobs: {id: string}[]}>(jobs.List, {state: 'succeeded', limit: 10})
    expect(listed.jobs.map((j) => j.id)).toContain(created.id)
    const http = (await (await agent.api(`/api/v1/jobs/${created.id}`)).json()) as {name: string}
    expect(http.name).toBe('grpc-job')
  })

  it('answers an invalid spec with INVALID_ARGUMENT naming the field', async () => {
    await expect(call(jobs.Trigger, {spec: {name: 'bad', steps: []}})).rejects.toMatchObject({code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('steps')})
  })

  it('answers a missing or wrong token with UNAUTHENTICATED', async () => {
    await expect(call(jobs.List, {}, null)).rejects.toMatchObject({code: grpc.status.UNAUTHENTICATED})
    await expect(call(jobs.List, {}, 'nope')).rejects.toMatchObject({code: grpc.status.UNAUTHENTICATED})
  })

  it('answers an unknown id with NOT_FOUND', async () => {
    await expect(call(jobs.Get, {id: 'missing'})).rejects.toMatchObject({code: grpc.status.NOT_FOUND})
  })
})

describe('grpc.health.v1.Health', () => {
  it('reports SERVING without a token', async () => {
    const response = await new Promise<{status: string}>((resolve, reject) => health.Check({service: ''}, (error, r) => (error ? reject(error) : resolve(r))))
    expect(response.status).toBe('SERVING')
  })
})
