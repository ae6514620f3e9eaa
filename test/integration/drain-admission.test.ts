// Admission while a drain is being enabled: 200 concurrent triggers against a real agent, the drain
// written mid-burst through a second SQLite connection exactly as `danube drain` writes it.

import path from 'node:path'

import type * as Grpc from '@grpc/grpc-js'
import {afterEach, describe, expect, it} from 'vitest'

import {systemClock} from '../../src/lib/clock.js'
import {DrainStore} from '../../src/lib/store/drain.js'
import {Store} from '../../src/lib/store/index.js'
import {type AgentProcess, REPO_ROOT, removeStateDir, startAgent} from '../support/agent-process.js'
import {query, trigger, type Triggered} from '../support/drain.js'

interface JobRow {
  id: string
  seq: number
  state: string
  created_at: string
  started_at: string | null
}

describe('admission during a drain (real agent)', () => {
  let agent: AgentProcess | undefined
  afterEach(async () => {
    await agent?.stop('SIGKILL')
    if (agent) removeStateDir(agent.stateDir)
    agent = undefined
  })

  it('200 concurrent triggers: each admitted before the drain committed, deferred, or refused with DRAINING; none lost or duplicated', async () => {
    agent = await startAgent({env: {DANUBE_JOBS_MAX_CONCURRENT: '2'}})
    const {stateDir} = agent
    const drainStore = Store.openInStateDir(stateDir)
    let drainCommittedAt: number | undefined
    let answered = 0
    let committed!: () => void
    const drainCommitted = new Promise<void>((resolve) => (committed = resolve))
    const results = await Promise.all(
      Array.from({length: 200}, async (_, i): Promise<Triggered & {defer: boolean}> => {
        const defer = i % 5 === 0
        // The last 50 are sent once the drain is committed: on a loaded machine the agent may answer all the others
        // before the test sees its 30th answer, and then nothing would be refused or deferred.
        if (i >= 150) await drainCommitted
        const result = await trigger(agent!, {name: `t${i}`, steps: [{run: 'true'}], ...(defer ? {defer: true} : {})})
        // Enable the drain once a few answers are in and the rest are still in flight.
        if (++answered === 30) {
          new DrainStore(drainStore, systemClock).request({timeoutMs: 60_000, force: false, gracePeriodMs: null, message: 'race', requestedBy: 'test'})
          drainCommittedAt = Date.now()
          committed()
        }
        return {...result, defer}
      }),
    )
    drainStore.close()
    expect(drainCommittedAt).toBeDefined()

    const admitted = results.filter((r) => r.status === 201)
    const deferred = results.filter((r) => r.status === 202)
    const refused = results.filter((r) => r.status === 503)
    expect(admitted.length + deferred.length + refused.length).toBe(200)
    expect(admitted.length).toBeGreaterThanOrEqual(30)
    expect(refused.length).toBeGreaterThan(0)
    expect(deferred.length).toBeGreaterThan(0)
    for (const r of refused) {
      expect(r.defer).toBe(false)
      expect(r.body.error).toEqual(expect.objectContaining({code: 'DRAINING'}))
      expect(r.body.error!.message).toMatch(/^danube is draining since \S+Z \(reason: race\); not accepting new jobs$/)
      expect(Number(r.retryAfter)).toBeGreaterThan(0)
    }
    for (const r of deferred) expect(r.body.state).toBe('deferred')

    const [drain] = query<{requested_at: string; last_admitted_seq: number}>(stateDir, 'SELECT started_at AS requested_at, last_admitted_seq FROM drain_history')
    const jobs = query<JobRow>(stateDir, 'SELECT id, seq, state, created_at, started_at FROM jobs ORDER BY seq')
    const ids = new Set(jobs.map((j) => j.id))
    expect(ids.size).toBe(jobs.length)
    expect([...ids].sort()).toEqual([...admitted, ...deferred].map((r) => r.body.id).sort())
    for (const job of jobs) {
      const asQueued = admitted.some((r) => r.body.id === job.id)
      if (asQueued) {
        // Committed before the drain: lower seq, earlier timestamp; and it runs, ran, or waits.
        expect(job.seq).toBeLessThanOrEqual(drain!.last_admitted_seq)
        expect(job.created_at <= drain!.requested_at).toBe(true)
        expect(['queued', 'running', 'succeeded']).toContain(job.state)
      } else {
        expect(job.seq).toBeGreaterThan(drain!.last_admitted_seq)
        expect(job.created_at >= drain!.requested_at).toBe(true)
        expect(job.state).toBe('deferred')
      }
      // Nothing starts after the drain is committed.
      if (job.started_at) expect(job.started_at <= drain!.requested_at).toBe(true)
    }
  })

  it('gRPC: UNAVAILABLE with the same DRAINING message, or a deferred job when spec.defer is set', async () => {
    agent = await startAgent()
    const store = Store.openInStateDir(agent.stateDir)
    new DrainStore(store, systemClock).request({timeoutMs: 60_000, force: false, gracePeriodMs: null, message: 'grpc', requestedBy: 'test'})
    store.close()

    const grpc = await import('@grpc/grpc-js')
    const loader = await import('@grpc/proto-loader')
    const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true})
    const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: Grpc.ServiceClientConstructor}}}
    const client = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure())
    const metadata = new grpc.Metadata()
    metadata.set('authorization', `Bearer ${agent.token}`)
    const call = (spec: Record<string, unknown>) =>
      new Promise<{error: Grpc.ServiceError | null; job?: {state: string}}>((resolve) => {
        client.Trigger!({spec}, metadata, (error: Grpc.ServiceError | null, job?: {state: string}) => resolve({error, job}))
      })
    try {
      const refused = await call({name: 'g', steps: [{run: 'true'}]})
      expect(refused.error?.code).toBe(grpc.status.UNAVAILABLE)
      expect(refused.error?.details).toMatch(/^danube is draining since \S+Z \(reason: grpc\); not accepting new jobs$/)
      expect(refused.error?.metadata.get('danube-error-code')).toEqual(['DRAINING'])
      const deferred = await call({name: 'g', steps: [{run: 'true'}], defer: true})
      expect(deferred.error).toBeNull()
      expect(deferred.job?.state).toBe('deferred')
    } finally {
      client.close()
    }
  })
})
