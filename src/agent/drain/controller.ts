// Owns enforcing the drain inside the agent. The drain-state row in SQLite is the only channel: the CLI
// writes requests and cancels there (also while the agent is down), and this controller polls the row
// every pollMs (250 ms: one indexed single-row read) and reacts at once when a job finishes. It ends a
// drain once no job runs, kills what is left at a forced deadline through JobRunner.cancel (so the
// executor, local or Kubernetes, does the killing and the job is recorded cancelled/drain-timeout), and
// resumes dispatch when a drain is cancelled. After a restart it simply reads the row and carries on.

import type {Clock} from '../../lib/clock.js'
import type {JobReason} from '../../lib/jobs/model.js'
import type {DrainState, DrainStore} from '../../lib/store/drain.js'
import type {JobRunner} from '../jobs/runner.js'
import type {Logger} from '../logger.js'

export const DRAIN_POLL_MS = 250

export interface DrainControllerOptions {
  drains: DrainStore
  runner: Pick<JobRunner, 'runningJobs' | 'cancel' | 'dispatch' | 'on' | 'off'>
  clock: Clock
  logger: Logger
  pollMs?: number
}

export class DrainController {
  private timer?: NodeJS.Timeout
  private lastState?: DrainState
  /** Jobs this agent already asked to stop for the drain in lastState. */
  private readonly killed = new Set<string>()
  private readonly onJobFinished = () => this.tick()

  constructor(private readonly options: DrainControllerOptions) {}

  /**
   * How jobs a previous agent left running end when they cannot be resumed: as killed by the drain when a
   * forced deadline passed while the agent was down, else undefined (the runner's agent-restart default).
   */
  recoveryOutcome(): {state: 'cancelled'; reason: JobReason} | undefined {
    const drain = this.options.drains.read()
    return drain.state === 'draining' && this.deadlinePassed(drain) && drain.force ? {state: 'cancelled', reason: 'drain-timeout'} : undefined
  }

  start(): void {
    if (this.timer) return
    this.options.runner.on('job-finished', this.onJobFinished)
    this.timer = setInterval(() => this.tick(), this.options.pollMs ?? DRAIN_POLL_MS)
    this.tick()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.options.runner.off('job-finished', this.onJobFinished)
  }

  /** One look at the drain row; never throws (a busy database is retried at the next tick). */
  tick(): void {
    try {
      this.step()
    } catch (error) {
      this.options.logger.warn('drain check failed; retrying', {error: (error as Error).message})
    }
  }

  private step(): void {
    const {drains, runner, logger} = this.options
    const drain = drains.read()
    const previous = this.lastState
    this.lastState = drain
    if (previous?.historyId !== drain.historyId) this.killed.clear()

    if (drain.state === 'active') {
      if (previous && previous.state !== 'active') {
        logger.info('drain cancelled; starting queued jobs again')
        runner.dispatch()
      }
      return
    }
    if (drain.state === 'drained') {
      if (previous?.state !== 'drained' || previous.historyId !== drain.historyId) logger.info('drained: no job is running; new jobs are refused or deferred', {since: drain.updatedAt})
      return
    }

    if (previous?.historyId !== drain.historyId || previous.state !== 'draining') {
      logger.info('draining: no new job starts', {requestedBy: drain.requestedBy, message: drain.message, deadlineAt: drain.deadlineAt, force: drain.force, runningJobs: runner.runningJobs()})
    }
    const running = runner.runningJobs()
    if (running.length === 0) {
      const record = drains.complete(drain.historyId!)
      if (record) {
        this.lastState = drains.read()
        logger.info('drained: no job is running', {outcome: record.outcome, jobsKilled: record.jobsKilled})
      }
      return
    }
    if (!this.deadlinePassed(drain)) return
    if (!drain.force) {
      if (drains.markTimedOut(drain.historyId!)) {
        logger.warn('drain deadline reached without force; jobs keep running and the drain stays on', {deadlineAt: drain.deadlineAt, runningJobs: running})
      }
      return
    }
    const toKill = running.filter((id) => !this.killed.has(id))
    if (toKill.length === 0) return
    logger.warn('drain deadline reached: killing the jobs still running', {deadlineAt: drain.deadlineAt, jobIds: toKill, gracePeriodMs: drain.gracePeriodMs})
    for (const id of toKill) {
      this.killed.add(id)
      runner.cancel(id, 'drain-timeout', {graceMs: drain.gracePeriodMs ?? undefined})
    }
  }

  private deadlinePassed(drain: DrainState): boolean {
    return drain.deadlineAt !== null && this.options.clock.now().getTime() >= Date.parse(drain.deadlineAt)
  }
}

