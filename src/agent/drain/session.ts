// Owns the CLI's side of a drain: turning flags into a request, writing it (or a cancel) straight into
// SQLite, and reading snapshots of the drain, its jobs and the agent's liveness to watch it. The CLI
// never needs the agent to be up: the row is the contract, the agent's DrainController enforces it.

import {userInfo} from 'node:os'

import type {Clock} from '../../lib/clock.js'
import {parseDuration} from '../../lib/duration.js'
import {DanubeError, usageError} from '../../lib/errors.js'
import type {JobReason, JobState} from '../../lib/jobs/model.js'
import {AgentRowStore, agentIsRunning, processAlive} from '../../lib/store/agent-row.js'
import {
  type DrainCancelResult,
  type DrainRecord,
  type DrainRequest,
  type DrainRequestResult,
  type DrainState,
  DrainStore,
  MAX_GRACE_PERIOD_MS,
} from '../../lib/store/drain.js'
import {Store} from '../../lib/store/index.js'
import {JobStore} from '../../lib/store/jobs.js'

/** Without --timeout or --no-timeout a drain gets this long: a deadline is always visible. */
export const DEFAULT_DRAIN_TIMEOUT = '1h'

export interface DrainFlags {
  timeout?: string
  noTimeout?: boolean
  force?: boolean
  gracePeriod?: string
  message?: string
  detach?: boolean
  monitor?: boolean
  cancel?: boolean
}

/** enable, monitor or cancel; a usage error (exit 2) for flags that do not go together. */
export function drainMode(flags: DrainFlags): 'enable' | 'monitor' | 'cancel' {
  const setting = (['timeout', 'noTimeout', 'force', 'gracePeriod', 'detach'] as const).filter((name) => flags[name] !== undefined && flags[name] !== false)
  const flag = (name: string) => `--${name.replaceAll(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
  if (flags.monitor && flags.cancel) throw usageError('--monitor and --cancel exclude each other')
  for (const mode of ['monitor', 'cancel'] as const) {
    if (!flags[mode]) continue
    const extra = mode === 'monitor' && flags.message !== undefined ? [...setting, 'message'] : setting
    if (extra.length > 0) throw usageError(`--${mode} does not take ${extra.map(flag).join(', ')}`, mode === 'monitor' ? 'to change the drain, run danube drain with the new --timeout/--force' : 'danube drain --cancel [-m MESSAGE]')
    if (mode === 'cancel' && flags.message !== undefined && !flags.message.trim()) throw usageError('--message must not be empty')
    return mode
  }
  return 'enable'
}

/** Validates drain flags (usage errors, exit 2) into a request. */
export function drainRequestFromFlags(flags: DrainFlags, requestedBy: string): DrainRequest {
  if (flags.noTimeout && flags.timeout !== undefined) throw usageError('--timeout and --no-timeout exclude each other')
  if (flags.noTimeout && flags.force) {
    throw usageError('--force needs a deadline: it kills what still runs at --timeout, and --no-timeout has none', 'pass --timeout DURATION with --force')
  }
  if (flags.gracePeriod !== undefined && !flags.force) throw usageError('--grace-period only applies with --force (it is the SIGTERM-to-SIGKILL time of killed jobs)')
  const timeoutMs = flags.noTimeout ? null : parseDuration(flags.timeout ?? DEFAULT_DRAIN_TIMEOUT, '--timeout')
  const gracePeriodMs = flags.gracePeriod === undefined ? null : parseDuration(flags.gracePeriod, '--grace-period')
  if (gracePeriodMs !== null && gracePeriodMs > MAX_GRACE_PERIOD_MS) throw usageError(`--grace-period: "${flags.gracePeriod}" is longer than the maximum of 1h`)
  const message = flags.message?.trim() || null
  if (message && message.length > 500) throw usageError('--message: at most 500 characters')
  return {timeoutMs, force: Boolean(flags.force), gracePeriodMs, message, requestedBy}
}

/** The Unix user running the CLI, recorded as requested_by / ended_by. */
export function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? '?'}`
  }
}

export interface RunningJobSummary {
  id: string
  name: string
  startedAt: string | null
}

export interface JobSummary {
  id: string
  name: string
  state: JobState
  reason: JobReason | null
  /** Present only when the executor stopped waiting with something still there (Kubernetes pods stuck terminating). */
  leftBehind?: string[]
}

export interface DrainSnapshot {
  /** When the snapshot was read. */
  at: Date
  drain: DrainState
  /** The history row of the drain being looked at (in progress or ended). */
  record: DrainRecord | undefined
  running: RunningJobSummary[]
  queued: number
  deferred: number
  agent: {running: boolean; pid: number | null}
}

/** The one document `danube drain --json` prints, whatever the ending. */
export interface DrainReport {
  state: DrainState['state']
  /** drained, timed-out, cancelled, interrupted, stuck, agent-down, detached, agent-not-running, not-draining */
  result: string
  outcome: DrainRecord['outcome']
  requestedAt: string | null
  requestedBy: string | null
  message: string | null
  deadlineAt: string | null
  force: boolean
  gracePeriodSeconds: number | null
  agentRunning: boolean
  running: RunningJobSummary[]
  queued: number
  deferred: number
  jobsWaitedFor: JobSummary[]
  jobsKilled: JobSummary[]
}

export class DrainSession {
  private readonly drains: DrainStore
  private readonly jobs: JobStore
  private readonly agents: AgentRowStore

  private constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.drains = new DrainStore(store, clock)
    this.jobs = new JobStore(store, clock)
    this.agents = new AgentRowStore(store, clock)
  }

  /** Opens the state directory's database (the agent must have created it once). */
  static open(stateDir: string, clock: Clock): DrainSession {
    return new DrainSession(Store.openInStateDir(stateDir), clock)
  }

  enable(request: DrainRequest): DrainRequestResult {
    return this.drains.request(request)
  }

  cancel(by: string, message: string | null): DrainCancelResult {
    return this.drains.cancel({by, message})
  }

  read(): DrainState {
    return this.drains.read()
  }

  /** The drain, its jobs and whether the agent lives; historyId picks the history row (default: the row's drain). */
  snapshot(historyId?: number | null): DrainSnapshot {
    const drain = this.drains.read()
    const id = historyId ?? drain.historyId
    const counts = this.jobs.countInStates(['queued', 'deferred'] as const)
    const agent = this.agents.read()
    const at = this.clock.now()
    return {
      at,
      drain,
      record: id === null ? undefined : this.drains.record(id),
      running: this.jobs.runningJobs(),
      queued: counts.queued,
      deferred: counts.deferred,
      agent: {running: agentIsRunning(agent, at) && processAlive(agent!.pid), pid: agent?.pid ?? null},
    }
  }

  job(id: string): JobSummary {
    const job = this.jobs.findJob(id)
    if (!job) return {id, name: '?', state: 'failed', reason: 'unknown'}
    const leftBehind = this.jobs.leftBehind(id)
    return {id, name: job.name, state: job.state, reason: job.reason, ...(leftBehind.length ? {leftBehind} : {})}
  }

  report(snapshot: DrainSnapshot, result: string): DrainReport {
    const {drain, record} = snapshot
    const killed = record ? (record.endedAt ? record.jobsKilled : this.drains.killedSince(record.startedAt)) : []
    return {
      state: drain.state,
      result,
      outcome: record?.outcome ?? null,
      requestedAt: drain.requestedAt ?? record?.startedAt ?? null,
      requestedBy: drain.requestedBy ?? record?.requestedBy ?? null,
      message: drain.message ?? record?.message ?? null,
      deadlineAt: drain.deadlineAt ?? record?.deadlineAt ?? null,
      force: drain.state === 'active' ? (record?.force ?? false) : drain.force,
      gracePeriodSeconds: drain.gracePeriodMs === null ? null : drain.gracePeriodMs / 1000,
      agentRunning: snapshot.agent.running,
      running: snapshot.running,
      queued: snapshot.queued,
      deferred: snapshot.deferred,
      jobsWaitedFor: (record?.jobsWaitedFor ?? []).map((id) => this.job(id)),
      jobsKilled: killed.map((id) => this.job(id)),
    }
  }

  close(): void {
    this.store.close()
  }
}

/** NOT_DRAINING: --monitor with no drain to watch. */
export function notDrainingError(): DanubeError {
  return new DanubeError('NOT_DRAINING', 'no drain in progress; nothing to monitor', {hint: 'start one with `danube drain --timeout 10m`'})
}

