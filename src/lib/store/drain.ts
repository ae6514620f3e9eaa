// Owns the drain in SQLite: the singleton drain_state row and the drain_history table. Every transition is
// one BEGIN IMMEDIATE transaction whose UPDATE is conditional on the state it leaves and on the drain it
// belongs to (history_id), so a restart or a race can neither resurrect a drain nor end the wrong one.
// The CLI writes requests and cancels here directly (works while the agent is down); the agent's drain
// controller makes the other transitions; admission reads the row in the transaction that inserts a job.

import {type Clock, isoNow} from '../clock.js'
import {DanubeError, usageError} from '../errors.js'
import type {Store} from './index.js'

export const DRAIN_STATES = ['active', 'draining', 'drained'] as const
export type DrainStateName = (typeof DRAIN_STATES)[number]
export const DRAIN_OUTCOMES = ['drained', 'forced', 'timed_out', 'cancelled'] as const
export type DrainOutcome = (typeof DRAIN_OUTCOMES)[number]

/** The drain-state row. Fields other than state and updatedAt are null while active. */
export interface DrainState {
  state: DrainStateName
  /** drain_history.id of the drain in progress (or ended as drained), null while active. */
  historyId: number | null
  requestedAt: string | null
  /** Absolute; computed when the drain is requested. Null: no deadline (--no-timeout). */
  deadlineAt: string | null
  force: boolean
  /** SIGTERM-to-SIGKILL time for force-killed jobs; null: the executor's jobs.killGracePeriod. */
  gracePeriodMs: number | null
  message: string | null
  requestedBy: string | null
  updatedAt: string
}

/** One drain_history row. */
export interface DrainRecord {
  id: number
  startedAt: string
  endedAt: string | null
  /** Null while the drain is in progress; timed_out is set at a deadline passed without force. */
  outcome: DrainOutcome | null
  deadlineAt: string | null
  force: boolean
  message: string | null
  requestedBy: string | null
  endedBy: string | null
  endMessage: string | null
  lastAdmittedSeq: number
  jobsWaitedFor: string[]
  jobsKilled: string[]
}

export interface DrainRequest {
  /** From now until the deadline; null for no deadline. */
  timeoutMs: number | null
  force: boolean
  gracePeriodMs: number | null
  message: string | null
  requestedBy: string
}

export interface DrainRequestResult {
  /** started: a new drain; updated: deadline/force of the drain in progress changed; already-drained: nothing to do. */
  outcome: 'started' | 'updated' | 'already-drained'
  previous: DrainState
  drain: DrainState
}

export interface DrainCancelResult {
  outcome: 'cancelled' | 'not-draining'
  previous: DrainState
  /** Deferred jobs moved back to queued. */
  resumed: number
}

/** Longest SIGTERM-to-SIGKILL window a drain accepts: anything longer is a typo. */
export const MAX_GRACE_PERIOD_MS = 3_600_000

interface StateRow {
  state: DrainStateName
  history_id: number | null
  requested_at: string | null
  deadline_at: string | null
  force: number
  grace_period_ms: number | null
  message: string | null
  requested_by: string | null
  updated_at: string
}

interface HistoryRow {
  id: number
  started_at: string
  ended_at: string | null
  outcome: DrainOutcome | null
  deadline_at: string | null
  force: number
  message: string | null
  requested_by: string | null
  ended_by: string | null
  end_message: string | null
  last_admitted_seq: number
  jobs_waited_for: string
  jobs_killed: string
}

/** The drain-state row; the one read shared by admission, the agent, `danube status` and the health check. */
export function readDrainState(store: Store): DrainState {
  const row = store.get<StateRow>('SELECT * FROM drain_state WHERE id = 1')
  if (!row) throw new DanubeError('DATABASE_INVALID', `${store.file} has no drain_state row`, {httpStatus: 503})
  return {
    state: row.state,
    historyId: row.history_id,
    requestedAt: row.requested_at,
    deadlineAt: row.deadline_at,
    force: row.force === 1,
    gracePeriodMs: row.grace_period_ms,
    message: row.message,
    requestedBy: row.requested_by,
    updatedAt: row.updated_at,
  }
}

/** RFC 3339 to the second, as messages show times. */
export function shortTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z')
}

/** The error a trigger gets while the drain is not active (HTTP 503 + Retry-After, gRPC UNAVAILABLE, exit 75). */
export function drainingError(drain: DrainState, now: Date): DanubeError {
  const since = drain.requestedAt ? ` since ${shortTime(drain.requestedAt)}` : ''
  const reason = drain.message ? ` (reason: ${drain.message})` : ''
  // Until the deadline, when the drain should be over; past it (drained, awaiting an upgrade) a minute.
  const left = drain.deadlineAt ? Math.ceil((Date.parse(drain.deadlineAt) - now.getTime()) / 1000) : 0
  return new DanubeError('DRAINING', `danube is draining${since}${reason}; not accepting new jobs`, {
    httpStatus: 503,
    exitCode: 75,
    retryAfterSeconds: left > 0 ? Math.min(3600, left) : 60,
    hint: 'retry after the drain ends, or send the job with "defer: true" to have it queued then',
  })
}

/** The state a new job is admitted in: queued while active, deferred while draining if it asked to be; else DRAINING. */
export function admissionState(drain: DrainState, defer: boolean, now: Date): 'queued' | 'deferred' {
  if (drain.state === 'active') return 'queued'
  if (defer) return 'deferred'
  throw drainingError(drain, now)
}

export class DrainStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  read(): DrainState {
    return readDrainState(this.store)
  }

  /**
   * Starts a drain, or changes the deadline, force flag and grace period of the one in progress. From the
   * moment this returns no job can be admitted as queued or start running.
   */
  request(request: DrainRequest): DrainRequestResult {
    validateRequest(request)
    return this.store.immediate(() => {
      const previous = this.read()
      const now = this.clock.now()
      const at = now.toISOString()
      const deadline = request.timeoutMs === null ? null : new Date(now.getTime() + request.timeoutMs).toISOString()
      if (previous.state === 'drained') return {outcome: 'already-drained', previous, drain: previous}
      if (previous.state === 'active') {
        const lastSeq = this.store.get<{seq: number}>('SELECT COALESCE(MAX(seq), 0) AS seq FROM jobs')!.seq
        const waitedFor = this.store.all<{id: string}>(`SELECT id FROM jobs WHERE state = 'running' ORDER BY seq`).map((r) => r.id)
        const historyId = Number(
          this.store.run(
            `INSERT INTO drain_history (started_at, deadline_at, force, message, requested_by, last_admitted_seq, jobs_waited_for) VALUES (?, ?, ?, ?, ?, ?, ?)`,
            [at, deadline, request.force ? 1 : 0, request.message, request.requestedBy, lastSeq, JSON.stringify(waitedFor)],
          ).lastInsertRowid,
        )
        const changed = this.store.run(
          `UPDATE drain_state SET state = 'draining', history_id = ?, requested_at = ?, deadline_at = ?, force = ?, grace_period_ms = ?,
             message = ?, requested_by = ?, updated_at = ? WHERE id = 1 AND state = 'active'`,
          [historyId, at, deadline, request.force ? 1 : 0, request.gracePeriodMs, request.message, request.requestedBy, at],
        ).changes
        if (changed !== 1) throw new Error('BUG: drain_state changed inside BEGIN IMMEDIATE')
        return {outcome: 'started', previous, drain: this.read()}
      }
      this.store.run(
        `UPDATE drain_state SET deadline_at = ?, force = ?, grace_period_ms = ?, message = COALESCE(?, message), updated_at = ?
           WHERE id = 1 AND state = 'draining' AND history_id = ?`,
        [deadline, request.force ? 1 : 0, request.gracePeriodMs, request.message, at, previous.historyId],
      )
      // A new deadline reopens the verdict: a drain that had timed out may now complete or be forced.
      this.store.run(`UPDATE drain_history SET deadline_at = ?, force = ?, message = COALESCE(?, message), outcome = NULL WHERE id = ? AND ended_at IS NULL`, [
        deadline,
        request.force ? 1 : 0,
        request.message,
        previous.historyId,
      ])
      return {outcome: 'updated', previous, drain: this.read()}
    })
  }

  /** Ends a drain (draining or drained → active) and moves deferred jobs back to queued, oldest first. */
  cancel(options: {by: string; message: string | null}): DrainCancelResult {
    return this.store.immediate(() => {
      const previous = this.read()
      if (previous.state === 'active') return {outcome: 'not-draining', previous, resumed: 0}
      const at = isoNow(this.clock)
      const changed = this.store.run(
        `UPDATE drain_state SET state = 'active', history_id = NULL, requested_at = NULL, deadline_at = NULL, force = 0, grace_period_ms = NULL,
           message = NULL, requested_by = NULL, updated_at = ? WHERE id = 1 AND state = ? AND history_id IS ?`,
        [at, previous.state, previous.historyId],
      ).changes
      if (changed !== 1) throw new Error('BUG: drain_state changed inside BEGIN IMMEDIATE')
      this.store.run(`UPDATE drain_history SET ended_at = ?, outcome = 'cancelled', ended_by = ?, end_message = ? WHERE id = ? AND ended_at IS NULL`, [
        at,
        options.by,
        options.message,
        previous.historyId,
      ])
      const resumed = this.store.run(`UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'deferred'`, [at]).changes
      return {outcome: 'cancelled', previous, resumed}
    })
  }

  /**
   * draining → drained, only for drain historyId and only if no job is running (checked in the same
   * transaction). Records the outcome: forced when jobs were killed at the deadline, else drained (or the
   * timed_out a deadline without force left). Undefined when the drain did not end.
   */
  complete(historyId: number): DrainRecord | undefined {
    return this.store.immediate(() => {
      const running = this.store.get<{n: number}>(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'running'`)!.n
      if (running > 0) return undefined
      const at = isoNow(this.clock)
      const changed = this.store.run(`UPDATE drain_state SET state = 'drained', updated_at = ? WHERE id = 1 AND state = 'draining' AND history_id = ?`, [at, historyId]).changes
      if (changed !== 1) return undefined
      const record = this.record(historyId)
      if (!record) return undefined
      const killed = this.killedSince(record.startedAt)
      this.store.run(
        `UPDATE drain_history SET ended_at = ?, jobs_killed = ?,
           outcome = CASE WHEN ? > 0 THEN 'forced' ELSE COALESCE(outcome, 'drained') END WHERE id = ? AND ended_at IS NULL`,
        [at, JSON.stringify(killed), killed.length, historyId],
      )
      return this.record(historyId)
    })
  }

  /** Notes that drain historyId reached its deadline without force while jobs still ran; false if already noted or ended. */
  markTimedOut(historyId: number): boolean {
    return this.store.run(`UPDATE drain_history SET outcome = 'timed_out' WHERE id = ? AND ended_at IS NULL AND outcome IS NULL`, [historyId]).changes === 1
  }

  /** Jobs a drain that started at startedAt killed so far (reason drain-timeout). */
  killedSince(startedAt: string): string[] {
    return this.store.all<{id: string}>(`SELECT id FROM jobs WHERE reason = 'drain-timeout' AND finished_at >= ? ORDER BY seq`, [startedAt]).map((r) => r.id)
  }

  record(id: number): DrainRecord | undefined {
    const row = this.store.get<HistoryRow>('SELECT * FROM drain_history WHERE id = ?', [id])
    return row ? toRecord(row) : undefined
  }

  /** The most recent drain, in progress or ended. */
  last(): DrainRecord | undefined {
    const row = this.store.get<HistoryRow>('SELECT * FROM drain_history ORDER BY id DESC LIMIT 1')
    return row ? toRecord(row) : undefined
  }
}

function validateRequest(request: DrainRequest): void {
  if (request.force && request.timeoutMs === null) {
    throw usageError('--force needs a deadline: it kills what still runs at --timeout, and --no-timeout has none', 'pass --timeout DURATION with --force')
  }
  if (request.timeoutMs !== null && (!Number.isInteger(request.timeoutMs) || request.timeoutMs < 0)) {
    throw usageError(`drain timeout must be a non-negative duration, not ${request.timeoutMs} ms`)
  }
  if (request.gracePeriodMs !== null && (!Number.isInteger(request.gracePeriodMs) || request.gracePeriodMs < 0 || request.gracePeriodMs > MAX_GRACE_PERIOD_MS)) {
    throw usageError(`--grace-period must be between 0s and 1h`)
  }
}

function toRecord(row: HistoryRow): DrainRecord {
  return {
    id: row.id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    deadlineAt: row.deadline_at,
    force: row.force === 1,
    message: row.message,
    requestedBy: row.requested_by,
    endedBy: row.ended_by,
    endMessage: row.end_message,
    lastAdmittedSeq: row.last_admitted_seq,
    jobsWaitedFor: JSON.parse(row.jobs_waited_for) as string[],
    jobsKilled: JSON.parse(row.jobs_killed) as string[],
  }
}
