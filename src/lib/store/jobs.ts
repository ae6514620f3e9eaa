// Owns job rows: admission, state transitions (each one conditional UPDATE, never a blind overwrite),
// steps and the queries the CLI and API read jobs with.

import {randomUUID} from 'node:crypto'

import {type Clock, isoNow} from '../clock.js'
import {DanubeError} from '../errors.js'
import {type Job, type JobProvenance, type JobReason, type JobSummary, type JobState, type JobStep, type StepState, stepName} from '../jobs/model.js'
import type {JobSpec} from '../jobs/spec.js'
import {admissionState, type DrainState, readDrainState} from './drain.js'
import type {Store} from './index.js'

interface JobRow {
  id: string
  name: string
  spec: string
  state: JobState
  reason: string | null
  executor: string
  executor_handle: string | null
  exit_code: number | null
  created_at: string
  started_at: string | null
  finished_at: string | null
  updated_at: string
  provenance: JobProvenance['state'] | null
  provenance_reason: string | null
  provenance_key_id: string | null
}

interface StepRow {
  job_id: string
  step_index: number
  name: string
  state: StepState
  exit_code: number | null
  image_digest: string | null
  started_at: string | null
  finished_at: string | null
}

export class JobStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Admits a job: reads the drain-state row and inserts the job in one BEGIN IMMEDIATE transaction, so no
   * job can slip in after a drain is committed. `gate` decides from the drain row in which state to admit
   * it (queued, or deferred while draining) or throws DRAINING.
   */
  admitJob(spec: JobSpec, executor: string, gate: (drain: DrainState) => 'queued' | 'deferred' = (drain) => admissionState(drain, spec.defer === true, this.clock.now())): Job {
    const id = randomUUID()
    this.store.immediate(() => {
      const state = gate(readDrainState(this.store))
      // Taken inside the transaction: created_at orders admissions the way commits do.
      const now = isoNow(this.clock)
      this.store.run(
        `INSERT INTO jobs (id, name, spec, state, executor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [id, spec.name, JSON.stringify(spec), state, executor, now, now],
      )
      spec.steps.forEach((_step, index) => {
        this.store.run(`INSERT INTO job_steps (job_id, step_index, name, state) VALUES (?, ?, ?, 'pending')`, [id, index, stepName(spec, index)])
      })
    })
    return this.getJob(id)
  }

  getJob(id: string): Job {
    const job = this.findJob(id)
    if (!job) throw new DanubeError('JOB_NOT_FOUND', `no job with id ${id}`, {httpStatus: 404, hint: 'list jobs with `danube job list`'})
    return job
  }

  /** Whether a row exists for the id, in any state (cheaper than findJob: no steps, no spec parse). */
  exists(id: string): boolean {
    return this.store.get<{one: number}>('SELECT 1 AS one FROM jobs WHERE id = ?', [id]) !== undefined
  }

  findJob(id: string): Job | undefined {
    const row = this.store.get<JobRow>('SELECT * FROM jobs WHERE id = ?', [id])
    if (!row) return undefined
    const steps = this.store.all<StepRow>('SELECT * FROM job_steps WHERE job_id = ? ORDER BY step_index', [id])
    return toJob(row, steps)
  }

  /** Newest first, as summaries: the spec column is never read (it is the bulk of a row). */
  listJobs(filter: {state?: JobState; limit?: number} = {}): JobSummary[] {
    const limit = filter.limit ?? 100
    const columns = 'id, name, state, reason, executor, executor_handle, exit_code, created_at, started_at, finished_at, updated_at, provenance, provenance_reason, provenance_key_id'
    const rows = filter.state
      ? this.store.all<Omit<JobRow, 'spec'>>(`SELECT ${columns} FROM jobs WHERE state = ? ORDER BY seq DESC LIMIT ?`, [filter.state, limit])
      : this.store.all<Omit<JobRow, 'spec'>>(`SELECT ${columns} FROM jobs ORDER BY seq DESC LIMIT ?`, [limit])
    if (rows.length === 0) return []
    const steps = this.store.all<StepRow>(
      `SELECT * FROM job_steps WHERE job_id IN (${rows.map(() => '?').join(',')}) ORDER BY job_id, step_index`,
      rows.map((row) => row.id),
    )
    const byJob = new Map<string, StepRow[]>()
    for (const s of steps) byJob.set(s.job_id, [...(byJob.get(s.job_id) ?? []), s])
    return rows.map((row) => toSummary(row, byJob.get(row.id) ?? []))
  }

  /** Jobs in a state, oldest admission first (the dispatcher's FIFO order). */
  jobIdsInState(state: JobState, limit = 1000): string[] {
    return this.store.all<{id: string}>('SELECT id FROM jobs WHERE state = ? ORDER BY seq LIMIT ?', [state, limit]).map((r) => r.id)
  }

  /** What the job's executor reported still there when it stopped waiting for it (pods stuck terminating); [] if nothing. */
  leftBehind(id: string): string[] {
    const row = this.store.get<{left_behind: string | null}>('SELECT left_behind FROM jobs WHERE id = ?', [id])
    return row?.left_behind ? (JSON.parse(row.left_behind) as string[]) : []
  }

  /** Running jobs, oldest start first: what a drain waits for. */
  runningJobs(): {id: string; name: string; startedAt: string | null}[] {
    return this.store
      .all<{id: string; name: string; started_at: string | null}>(`SELECT id, name, started_at FROM jobs WHERE state = 'running' ORDER BY started_at, seq`)
      .map((r) => ({id: r.id, name: r.name, startedAt: r.started_at}))
  }

  /** Counts of the given states only (index range scans: cheap enough to poll). */
  countInStates<S extends JobState>(states: readonly S[]): Record<S, number> {
    const counts = Object.fromEntries(states.map((s) => [s, 0])) as Record<S, number>
    const rows = this.store.all<{state: S; n: number}>(`SELECT state, COUNT(*) AS n FROM jobs WHERE state IN (${states.map(() => '?').join(',')}) GROUP BY state`, states)
    for (const row of rows) counts[row.state] = row.n
    return counts
  }

  /** From the counts migration 7's triggers keep: six rows, however many jobs there are. */
  countByState(): Record<JobState, number> {
    const counts: Record<JobState, number> = {queued: 0, deferred: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0}
    for (const row of this.store.all<{state: JobState; n: number}>('SELECT state, n FROM job_state_counts')) {
      counts[row.state] = row.n
    }
    return counts
  }

  /**
   * queued → running, only while the drain state is active; false when the job was no longer queued
   * (cancelled meanwhile) or a drain began: the dispatcher's last check, in the same statement.
   */
  markRunning(id: string): boolean {
    const now = isoNow(this.clock)
    return (
      this.store.run(
        `UPDATE jobs SET state = 'running', started_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'
           AND (SELECT state FROM drain_state WHERE id = 1) = 'active'`,
        [now, now, id],
      ).changes === 1
    )
  }

  setExecutorHandle(id: string, handle: string): void {
    this.store.run(`UPDATE jobs SET executor_handle = ?, updated_at = ? WHERE id = ? AND state = 'running'`, [handle, isoNow(this.clock), id])
  }

  /** Ends a job from one of `from` states; false when it had already left them. */
  finishJob(
    id: string,
    outcome: {state: 'succeeded' | 'failed' | 'cancelled'; reason: JobReason | null; exitCode?: number | null; leftBehind?: readonly string[]; provenance?: JobProvenance | null},
    from: readonly JobState[] = ['running'],
  ): boolean {
    const now = isoNow(this.clock)
    const leftBehind = outcome.leftBehind?.length ? JSON.stringify(outcome.leftBehind) : null
    return this.store.immediate(() => {
      const changed = this.store.run(
        `UPDATE jobs SET state = ?, reason = ?, exit_code = ?, left_behind = ?, provenance = ?, provenance_reason = ?, provenance_key_id = ?, finished_at = ?, updated_at = ?
           WHERE id = ? AND state IN (${from.map(() => '?').join(',')})`,
        [outcome.state, outcome.reason, outcome.exitCode ?? null, leftBehind, outcome.provenance?.state ?? null, outcome.provenance?.reason ?? null, outcome.provenance?.keyId ?? null, now, now, id, ...from],
      ).changes === 1
      if (changed) {
        // Steps that never finished end with the job: running ones take its outcome, pending ones are skipped.
        this.store.run(`UPDATE job_steps SET state = ?, finished_at = ? WHERE job_id = ? AND state = 'running'`, [outcome.state === 'succeeded' ? 'succeeded' : outcome.state === 'cancelled' ? 'cancelled' : 'failed', now, id])
        this.store.run(`UPDATE job_steps SET state = 'skipped' WHERE job_id = ? AND state = 'pending'`, [id])
      }
      return changed
    })
  }

  /** Provenance outcomes of finished jobs, and the latest failure: what `danube status` shows. */
  provenanceSummary(): {signed: number; skipped: number; failed: number; lastFailure: {jobId: string; reason: string | null; finishedAt: string | null} | null} {
    const counts = {signed: 0, skipped: 0, failed: 0}
    for (const row of this.store.all<{provenance: keyof typeof counts; n: number}>('SELECT provenance, COUNT(*) AS n FROM jobs WHERE provenance IS NOT NULL GROUP BY provenance')) {
      counts[row.provenance] = row.n
    }
    const last = this.store.get<{id: string; provenance_reason: string | null; finished_at: string | null}>(
      `SELECT id, provenance_reason, finished_at FROM jobs WHERE provenance = 'failed' ORDER BY seq DESC LIMIT 1`,
    )
    return {...counts, lastFailure: last ? {jobId: last.id, reason: last.provenance_reason, finishedAt: last.finished_at} : null}
  }

  startStep(id: string, index: number): void {
    this.store.run(`UPDATE job_steps SET state = 'running', started_at = ? WHERE job_id = ? AND step_index = ? AND state = 'pending'`, [isoNow(this.clock), id, index])
  }

  finishStep(id: string, index: number, state: StepState, exitCode: number | null, imageDigest: string | null = null): void {
    this.store.run(
      `UPDATE job_steps SET state = ?, exit_code = ?, image_digest = COALESCE(?, image_digest), finished_at = ? WHERE job_id = ? AND step_index = ? AND state IN ('pending', 'running')`,
      [state, exitCode, imageDigest, isoNow(this.clock), id, index],
    )
  }
}

function toJob(row: JobRow, steps: StepRow[]): Job {
  return {...toSummary(row, steps), spec: JSON.parse(row.spec) as JobSpec}
}

function toSummary(row: Omit<JobRow, 'spec'>, steps: StepRow[]): JobSummary {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    reason: row.reason,
    executor: row.executor,
    executorHandle: row.executor_handle,
    exitCode: row.exit_code,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    provenance: row.provenance ? {state: row.provenance, reason: row.provenance_reason, keyId: row.provenance_key_id} : null,
    steps: steps.map(
      (s): JobStep => ({
        index: s.step_index,
        name: s.name,
        state: s.state,
        exitCode: s.exit_code,
        imageDigest: s.image_digest,
        startedAt: s.started_at,
        finishedAt: s.finished_at,
      }),
    ),
  }
}
