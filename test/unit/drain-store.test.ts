import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {DanubeError} from '../../src/lib/errors.js'
import {validateJobSpec} from '../../src/lib/jobs/spec.js'
import {DrainStore, readDrainState} from '../../src/lib/store/drain.js'
import {Store} from '../../src/lib/store/index.js'
import {JobStore} from '../../src/lib/store/jobs.js'
import {makeStateDir, removeStateDir} from '../support/agent-process.js'

/** A clock that stands still until the test moves it. */
function fixedClock(iso = '2026-11-27T08:00:00.000Z') {
  let now = Date.parse(iso)
  return {now: () => new Date(now), advance: (ms: number) => (now += ms)}
}

const spec = (name: string, extra: Record<string, unknown> = {}) => validateJobSpec({name, steps: [{run: 'true'}], ...extra})
const request = {timeoutMs: 600_000, force: true, gracePeriodMs: 5000, message: 'upgrade to 0.9', requestedBy: 'alice'}

describe('DrainStore (real SQLite, fixed clock)', () => {
  let dir: string
  let store: Store
  let clock: ReturnType<typeof fixedClock>
  let drains: DrainStore
  let jobs: JobStore

  beforeEach(() => {
    dir = makeStateDir('danube-drain-unit-')
    store = Store.openInStateDir(dir, {create: true})
    clock = fixedClock()
    drains = new DrainStore(store, clock)
    jobs = new JobStore(store, clock)
  })
  afterEach(() => {
    store.close()
    removeStateDir(dir)
  })

  it('starts active; a request computes an absolute deadline and records who, why and what was running', () => {
    expect(readDrainState(store)).toMatchObject({state: 'active', historyId: null, deadlineAt: null, force: false})
    const running = jobs.admitJob(spec('build'), 'local')
    expect(jobs.markRunning(running.id)).toBe(true)
    const queued = jobs.admitJob(spec('test'), 'local')

    const result = drains.request(request)
    expect(result.outcome).toBe('started')
    expect(result.drain).toMatchObject({
      state: 'draining',
      requestedAt: '2026-11-27T08:00:00.000Z',
      deadlineAt: '2026-11-27T08:10:00.000Z',
      force: true,
      gracePeriodMs: 5000,
      message: 'upgrade to 0.9',
      requestedBy: 'alice',
    })
    const record = drains.record(result.drain.historyId!)!
    expect(record).toMatchObject({outcome: null, endedAt: null, jobsWaitedFor: [running.id], jobsKilled: []})
    expect(record.lastAdmittedSeq).toBe(2)
    // Queued jobs stay queued and cannot start; new triggers are refused or deferred.
    expect(jobs.markRunning(queued.id)).toBe(false)
    expect(() => jobs.admitJob(spec('late'), 'local')).toThrowError(/danube is draining since 2026-11-27T08:00:00Z \(reason: upgrade to 0.9\); not accepting new jobs/)
    expect(jobs.admitJob(spec('webhook', {defer: true}), 'local').state).toBe('deferred')
  })

  it('refuses a trigger with DRAINING, HTTP 503, exit 75 and a Retry-After of the time left (a minute past the deadline)', () => {
    drains.request({...request, timeoutMs: 90_000})
    const refusal = () => {
      try {
        jobs.admitJob(spec('late'), 'local')
      } catch (error) {
        expect(error).toBeInstanceOf(DanubeError)
        return error
      }
      return expect.unreachable()
    }
    clock.advance(30_000)
    expect(refusal()).toMatchObject({code: 'DRAINING', httpStatus: 503, exitCode: 75, retryAfterSeconds: 60})
    clock.advance(50_000)
    expect(refusal()).toMatchObject({retryAfterSeconds: 10})
    clock.advance(50_000)
    expect(refusal()).toMatchObject({retryAfterSeconds: 60})
  })

  it('a second request while draining updates deadline and force, not the requester or the start', () => {
    const first = drains.request(request).drain
    clock.advance(60_000)
    const second = drains.request({...request, timeoutMs: 30_000, force: false, message: null, requestedBy: 'bob'})
    expect(second.outcome).toBe('updated')
    expect(second.drain).toMatchObject({
      historyId: first.historyId,
      requestedAt: first.requestedAt,
      requestedBy: 'alice',
      message: 'upgrade to 0.9',
      deadlineAt: '2026-11-27T08:01:30.000Z',
      force: false,
    })
    expect(drains.record(first.historyId!)).toMatchObject({deadlineAt: '2026-11-27T08:01:30.000Z', force: false})
  })

  it('refuses --force without a deadline and negative or absurd grace periods', () => {
    expect(() => drains.request({...request, timeoutMs: null})).toThrowError(/--force needs a deadline/)
    expect(() => drains.request({...request, timeoutMs: -1})).toThrowError(/non-negative/)
    expect(() => drains.request({...request, gracePeriodMs: 2 * 3_600_000})).toThrowError(/--grace-period/)
    expect(readDrainState(store).state).toBe('active')
  })

  it('completes only when no job runs, only the drain it names, and records the killed jobs as forced', () => {
    const job = jobs.admitJob(spec('e2e'), 'local')
    jobs.markRunning(job.id)
    const drain = drains.request(request).drain
    expect(drains.complete(drain.historyId!)).toBeUndefined()
    clock.advance(600_000)
    jobs.finishJob(job.id, {state: 'cancelled', reason: 'drain-timeout'})
    expect(drains.complete(drain.historyId! + 1)).toBeUndefined()
    const record = drains.complete(drain.historyId!)!
    expect(record).toMatchObject({outcome: 'forced', jobsKilled: [job.id], endedAt: '2026-11-27T08:10:00.000Z'})
    expect(readDrainState(store).state).toBe('drained')
    // Ended drains stay ended: no second completion, no timed_out afterwards.
    expect(drains.complete(drain.historyId!)).toBeUndefined()
    expect(drains.markTimedOut(drain.historyId!)).toBe(false)
    expect(drains.request(request).outcome).toBe('already-drained')
  })

  it('a deadline without force leaves timed_out, which a later completion keeps', () => {
    const job = jobs.admitJob(spec('slow'), 'local')
    jobs.markRunning(job.id)
    const drain = drains.request({...request, force: false}).drain
    expect(drains.markTimedOut(drain.historyId!)).toBe(true)
    expect(drains.markTimedOut(drain.historyId!)).toBe(false)
    jobs.finishJob(job.id, {state: 'succeeded', reason: null, exitCode: 0})
    expect(drains.complete(drain.historyId!)).toMatchObject({outcome: 'timed_out', jobsKilled: []})
  })

  it('cancel ends the drain, resumes deferred jobs in admission order, and is a no-op when not draining', () => {
    expect(drains.cancel({by: 'bob', message: null})).toMatchObject({outcome: 'not-draining', resumed: 0})
    const queued = jobs.admitJob(spec('before'), 'local')
    const drain = drains.request(request).drain
    const deferred = [jobs.admitJob(spec('d1', {defer: true}), 'local'), jobs.admitJob(spec('d2', {defer: true}), 'local')]
    clock.advance(1000)
    const result = drains.cancel({by: 'bob', message: 'upgrade postponed'})
    expect(result).toMatchObject({outcome: 'cancelled', resumed: 2})
    expect(readDrainState(store)).toMatchObject({state: 'active', historyId: null, deadlineAt: null})
    expect(drains.record(drain.historyId!)).toMatchObject({outcome: 'cancelled', endedBy: 'bob', endMessage: 'upgrade postponed', endedAt: '2026-11-27T08:00:01.000Z'})
    expect(jobs.jobIdsInState('queued')).toEqual([queued.id, ...deferred.map((j) => j.id)])
    // A completion meant for the cancelled drain cannot resurrect or end anything.
    expect(drains.complete(drain.historyId!)).toBeUndefined()
    expect(readDrainState(store).state).toBe('active')
    expect(jobs.markRunning(queued.id)).toBe(true)
  })

  it('cancel after drained returns to active and keeps the drained outcome in history', () => {
    const drain = drains.request(request).drain
    drains.complete(drain.historyId!)
    expect(drains.cancel({by: 'alice', message: null}).outcome).toBe('cancelled')
    expect(drains.last()).toMatchObject({id: drain.historyId, outcome: 'drained', endedBy: null})
  })

  it('survives reopening the database (a restart of the agent or the CLI)', () => {
    const drain = drains.request(request).drain
    store.close()
    store = Store.openInStateDir(dir)
    expect(readDrainState(store)).toEqual(drain)
  })
})
