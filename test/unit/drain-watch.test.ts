import {describe, expect, it} from 'vitest'

import {drainMode, drainRequestFromFlags, type DrainSnapshot, type JobSummary} from '../../src/agent/drain/session.js'
import {watchDrain} from '../../src/agent/drain/watch.js'
import {viewMode} from '../../src/cli/drain-render.js'
import type {DrainRecord, DrainState} from '../../src/lib/store/drain.js'

describe('drain flags', () => {
  it('turn into a request with a default 1h deadline', () => {
    expect(drainRequestFromFlags({}, 'alice')).toEqual({timeoutMs: 3_600_000, force: false, gracePeriodMs: null, message: null, requestedBy: 'alice'})
    expect(drainRequestFromFlags({timeout: '1h30m', force: true, gracePeriod: '30s', message: ' upgrade '}, 'bob')).toEqual({
      timeoutMs: 5_400_000, force: true, gracePeriodMs: 30_000, message: 'upgrade', requestedBy: 'bob',
    })
    expect(drainRequestFromFlags({noTimeout: true}, 'alice').timeoutMs).toBeNull()
  })

  it.each([
    [{timeout: '10'}, /not a duration/],
    [{timeout: '-5s'}, /not a duration/],
    [{timeout: '1.5m'}, /not a duration/],
    [{timeout: '9999h'}, /maximum of 720h/],
    [{noTimeout: true, force: true}, /--force needs a deadline/],
    [{noTimeout: true, timeout: '1m'}, /exclude each other/],
    [{force: true, timeout: '1m', gracePeriod: '10'}, /--grace-period: "10" is not a duration/],
    [{force: true, timeout: '1m', gracePeriod: '2h'}, /maximum of 1h/],
    [{timeout: '1m', gracePeriod: '10s'}, /only applies with --force/],
    [{message: 'x'.repeat(501)}, /at most 500/],
  ])('refuse %j with a usage error (exit 2)', (flags, message) => {
    expect(() => drainRequestFromFlags(flags, 'alice')).toThrowError(message)
    try {
      drainRequestFromFlags(flags, 'alice')
    } catch (error) {
      expect(error).toMatchObject({exitCode: 2})
    }
  })

  it('pick one mode and refuse flags that do not belong to it', () => {
    expect(drainMode({timeout: '1m', force: true, detach: true})).toBe('enable')
    expect(drainMode({monitor: true})).toBe('monitor')
    expect(drainMode({cancel: true, message: 'done'})).toBe('cancel')
    expect(() => drainMode({monitor: true, cancel: true})).toThrowError(/exclude each other/)
    expect(() => drainMode({cancel: true, force: true, timeout: '1m'})).toThrowError('--cancel does not take --timeout, --force')
    expect(() => drainMode({monitor: true, message: 'x'})).toThrowError('--monitor does not take --message')
    expect(() => drainMode({cancel: true, message: ' '})).toThrowError(/must not be empty/)
  })
})

describe('watchDrain (fake snapshots, fixed clock)', () => {
  const T0 = Date.parse('2026-11-27T08:00:00.000Z')
  const drainState = (over: Partial<DrainState> = {}): DrainState => ({
    state: 'draining', historyId: 7, requestedAt: new Date(T0).toISOString(), deadlineAt: new Date(T0 + 10_000).toISOString(),
    force: true, gracePeriodMs: 5000, message: null, requestedBy: 'alice', updatedAt: new Date(T0).toISOString(), ...over,
  })

  /** Plays a script of snapshots, one per poll; the clock follows each snapshot's time. */
  function scripted(frames: {t: number; drain?: Partial<DrainState>; running?: string[]; agentUp?: boolean; killed?: string[]}[], jobs: Record<string, JobSummary> = {}) {
    let i = 0
    let now = T0
    const session = {
      snapshot(): DrainSnapshot {
        const frame = frames[Math.min(i++, frames.length - 1)]!
        now = T0 + frame.t
        return {
          at: new Date(now), drain: drainState(frame.drain), record: frame.killed ? record(frame.killed) : undefined, queued: 0, deferred: 0,
          running: (frame.running ?? []).map((id) => ({id, name: id, startedAt: null})), agent: {running: frame.agentUp ?? true, pid: 1},
        }
      },
      job: (id: string) => jobs[id] ?? {id, name: id, state: 'succeeded' as const, reason: null},
    }
    return {session, clock: {now: () => new Date(now)}, sleep: async () => {}, killGraceMs: 10_000, historyId: 7}
  }

  const record = (jobsKilled: string[]): DrainRecord => ({
    id: 7, startedAt: new Date(T0).toISOString(), endedAt: new Date(T0 + 20_000).toISOString(), outcome: 'forced', deadlineAt: new Date(T0 + 10_000).toISOString(),
    force: true, message: null, requestedBy: 'alice', endedBy: null, endMessage: null, lastAdmittedSeq: 0, jobsWaitedFor: jobsKilled, jobsKilled,
  })

  it('reports each job that ends, then drained', async () => {
    const ended: string[] = []
    const result = await watchDrain({
      ...scripted([{t: 0, running: ['a', 'b']}, {t: 200, running: ['b']}, {t: 400, running: [], drain: {state: 'drained'}}], {b: {id: 'b', name: 'b', state: 'cancelled', reason: 'drain-timeout'}}),
      listener: {jobEnded: (job) => ended.push(`${job.id}:${job.state}`)},
    })
    expect(result.end).toBe('drained')
    expect(ended).toEqual(['a:succeeded', 'b:cancelled'])
  })

  it('ends timed-out at a deadline without force, but keeps waiting with force', async () => {
    expect((await watchDrain(scripted([{t: 0, running: ['a']}, {t: 10_000, running: ['a'], drain: {force: false}}]))).end).toBe('timed-out')
    expect((await watchDrain(scripted([{t: 10_000, running: ['a']}, {t: 12_000, running: [], drain: {state: 'drained'}}]))).end).toBe('drained')
  })

  it('names jobs still not gone 60 s after a forced deadline plus grace period (pods stuck in Terminating)', async () => {
    const result = await watchDrain(scripted([{t: 10_000, running: ['pod']}, {t: 10_000 + 5000 + 59_999, running: ['pod']}, {t: 10_000 + 5000 + 60_000, running: ['pod']}]))
    expect(result.end).toBe('stuck')
    expect(result.snapshot.running.map((j) => j.id)).toEqual(['pod'])
  })

  it('ends stuck, not drained, when a killed job\'s executor stopped waiting with pods still terminating (kubernetes.cancelCap)', async () => {
    const killed = {id: 'k', name: 'k', state: 'cancelled' as const, reason: 'drain-timeout'}
    const frames = [{t: 10_000, running: ['k']}, {t: 13_000, running: [], drain: {state: 'drained' as const}, killed: ['k']}]
    expect((await watchDrain(scripted(frames, {k: {...killed, leftBehind: ['ns/danube-k-abcde']}}))).end).toBe('stuck')
    expect((await watchDrain(scripted(frames, {k: killed}))).end).toBe('drained')
  })

  it('ends cancelled when the row is active again or names another drain, agent-down when the agent is gone, interrupted on abort', async () => {
    expect((await watchDrain(scripted([{t: 0, running: ['a']}, {t: 200, drain: {state: 'active', historyId: null}}]))).end).toBe('cancelled')
    expect((await watchDrain(scripted([{t: 0, running: ['a']}, {t: 200, running: ['a'], drain: {historyId: 8}}]))).end).toBe('cancelled')
    expect((await watchDrain(scripted([{t: 0, running: ['a']}, {t: 200, running: ['a'], agentUp: false}]))).end).toBe('agent-down')
    const controller = new AbortController()
    controller.abort()
    expect((await watchDrain({...scripted([{t: 0, running: ['a']}]), signal: controller.signal})).end).toBe('interrupted')
  })
})

describe('drain view mode', () => {
  const tty = (columns: number | undefined) => ({isTTY: true, columns}) as NodeJS.WriteStream
  it('uses the spinner only on a TTY that reports a width (ora loops forever on 0 columns)', () => {
    const xterm = {TERM: 'xterm-256color'}
    expect(viewMode(true, tty(120), tty(120), xterm)).toBe('quiet')
    expect(viewMode(false, tty(120), tty(120), xterm)).toBe('spinner')
    expect(viewMode(false, tty(120), tty(120), {TERM: 'dumb'})).toBe('lines')
    expect(viewMode(false, tty(0), tty(0), xterm)).toBe('lines')
    expect(viewMode(false, {isTTY: false} as NodeJS.WriteStream, tty(120), xterm)).toBe('lines')
  })
})
