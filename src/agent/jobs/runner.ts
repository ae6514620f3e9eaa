// Owns running admitted jobs: starting queued jobs first-in first-out up to jobs.maxConcurrent,
// enforcing timeouts, cancelling, recording every step and outcome, and recovering jobs a previous
// agent left running.

import {EventEmitter} from 'node:events'
import {mkdirSync, readdirSync, rmSync} from 'node:fs'
import path from 'node:path'

import {JobLog, jobLogPath} from '../../lib/jobs/log.js'
import {type Job, type JobReason} from '../../lib/jobs/model.js'
import {parseDuration} from '../../lib/duration.js'
import type {JobStore} from '../../lib/store/jobs.js'
import type {ExecutionResult, Executor, StopRequest} from '../executors/types.js'
import type {Logger} from '../logger.js'
import {localProvenanceContext, type ProvenanceSigner} from '../provenance/signer.js'
import type {JobTelemetry} from '../telemetry/types.js'

export interface JobRunnerOptions {
  jobs: JobStore
  executor: Executor
  stateDir: string
  maxConcurrent: number
  killGraceMs: number
  logMaxBytes: number
  logger: Logger
  /** Signs the artifacts of succeeded jobs; without it jobs are recorded with no provenance. */
  provenance?: ProvenanceSigner
  /** Traces each run (a job span, a span per step, TRACEPARENT for the steps); absent when telemetry is off. */
  telemetry?: Pick<JobTelemetry, 'jobStarted'>
}

interface RunningJob {
  controller: AbortController
  done: Promise<void>
}

export interface JobRunnerEvents {
  'job-finished': [job: Job]
  'job-started': [job: Job]
}

export class JobRunner extends EventEmitter<JobRunnerEvents> {
  private readonly running = new Map<string, RunningJob>()
  private stopped = false

  constructor(private readonly options: JobRunnerOptions) {
    super()
  }

  /**
   * Ends jobs a previous agent left `running`, or hands them back to the executor that can resume them.
   * Lost jobs end failed/agent-restart unless `lostAs` says otherwise (a forced drain whose deadline passed
   * while the agent was down records them as it would have: cancelled/drain-timeout).
   */
  async recoverJobs(options: {lostAs?: {state: 'failed' | 'cancelled'; reason: JobReason}} = {}): Promise<{lost: string[]; adopted: string[]}> {
    const lostAs = options.lostAs ?? {state: 'failed', reason: 'agent-restart'}
    const {jobs, executor} = this.options
    const outcome = {lost: [] as string[], adopted: [] as string[]}
    for (const id of jobs.jobIdsInState('running')) {
      const job = jobs.getJob(id)
      const log = this.openLog(id)
      try {
        const verdict = await executor.recover(job, log)
        if (verdict === 'adopted') {
          outcome.adopted.push(id)
          this.launch(job, log)
          continue
        }
        log.note(`the agent restarted while this job ran; marking it ${lostAs.state} (${lostAs.reason})`, {final: true})
        jobs.finishJob(id, lostAs)
        outcome.lost.push(id)
      } finally {
        if (!this.running.has(id)) log.close()
      }
    }
    // After the executor killed what was left: work dirs of lost jobs, and of any job a crash left one behind for.
    this.removeWorkDirs((id) => !this.running.has(id))
    return outcome
  }

  /** Removes `work/<id>/` of every job `stale` says is no longer running here. */
  private removeWorkDirs(stale: (id: string) => boolean): void {
    const root = path.join(this.options.stateDir, 'work')
    let entries: string[]
    try {
      entries = readdirSync(root)
    } catch {
      return
    }
    for (const id of entries.filter(stale)) {
      try {
        rmSync(path.join(root, id), {recursive: true, force: true})
      } catch (error) {
        this.options.logger.warn('cannot remove a job work directory', {jobId: id, error: (error as Error).message})
      }
    }
  }

  /** Starts queued jobs while there is room. Synchronous, so two calls cannot start the same job. */
  dispatch(): void {
    if (this.stopped) return
    const {jobs, maxConcurrent} = this.options
    while (this.running.size < maxConcurrent) {
      const next = jobs.jobIdsInState('queued', maxConcurrent + this.running.size).find((id) => !this.running.has(id))
      // markRunning re-checks the drain state in the same statement: a drain stops dispatch here.
      if (!next || !jobs.markRunning(next)) return
      const job = jobs.getJob(next)
      this.launch(job, this.openLog(job.id))
    }
  }

  /**
   * Cancels a queued job at once, or asks a running job's executor to stop it (graceMs: SIGTERM-to-SIGKILL
   * time for this stop instead of jobs.killGracePeriod). False if already finished.
   */
  cancel(id: string, reason: JobReason = 'user', options: {graceMs?: number} = {}): boolean {
    const running = this.running.get(id)
    if (running) {
      if (!running.controller.signal.aborted) running.controller.abort({reason, graceMs: options.graceMs} satisfies StopRequest)
      return true
    }
    const cancelled = this.options.jobs.finishJob(id, {state: 'cancelled', reason}, ['queued', 'deferred'])
    if (cancelled) this.emit('job-finished', this.options.jobs.getJob(id))
    return cancelled
  }

  isRunning(id: string): boolean {
    return this.running.has(id)
  }

  runningJobs(): string[] {
    return [...this.running.keys()]
  }

  /** Resolves when the job is no longer running in this agent. */
  async waitFor(id: string): Promise<void> {
    await this.running.get(id)?.done
  }

  /**
   * Stops starting jobs and ends running ones within graceMs (shutdownGracePeriod bounds the whole shutdown):
   * they may finish until graceMs - killGraceMs (at least 0), then are cancelled with reason agent-shutdown
   * (SIGTERM, or a graceful delete) with only the time left as their kill grace, so SIGKILL comes when graceMs
   * ends. Resolves once their processes are gone.
   */
  async shutdown(graceMs: number, killGraceMs = this.options.killGraceMs): Promise<void> {
    this.stopped = true
    const startedAt = Date.now()
    const all = () => Promise.all([...this.running.values()].map((r) => r.done))
    let timer: NodeJS.Timeout | undefined
    const finishBy = Math.max(0, graceMs - killGraceMs)
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), finishBy)
    })
    const finished = await Promise.race([all().then(() => 'done' as const), graceOver])
    clearTimeout(timer)
    if (finished === 'timeout') {
      const left = Math.max(0, graceMs - (Date.now() - startedAt))
      for (const id of this.running.keys()) this.cancel(id, 'agent-shutdown', {graceMs: left})
      await all()
    }
  }

  private launch(job: Job, log: JobLog): void {
    const {jobs, executor, logger} = this.options
    const controller = new AbortController()
    const timeoutMs = parseDuration(job.spec.timeout, 'timeout')
    const startedMs = job.startedAt ? Date.parse(job.startedAt) : Date.now()
    const timer = setTimeout(() => controller.abort({reason: 'timeout'} satisfies StopRequest), Math.max(0, startedMs + timeoutMs - Date.now()))
    const artifactsDir = path.join(this.options.stateDir, 'artifacts', job.id)
    mkdirSync(artifactsDir, {recursive: true, mode: 0o700})
    logger.info('job started', {jobId: job.id, name: job.name, executor: executor.name})
    this.emit('job-started', job)
    const trace = this.options.telemetry?.jobStarted(job)
    const run = () =>
      executor.run({
        job,
        workDir: path.join(this.options.stateDir, 'work', job.id),
        artifactsDir,
        log,
        signal: controller.signal,
        killGraceMs: this.options.killGraceMs,
        ...(trace ? {stepEnv: (index: number) => trace.stepEnv(index)} : {}),
        setHandle: (handle) => jobs.setExecutorHandle(job.id, handle),
        stepStarted: (index) => {
          jobs.startStep(job.id, index)
          trace?.stepStarted(index)
        },
        stepFinished: (index, state, exitCode, digest) => {
          jobs.finishStep(job.id, index, state, exitCode, digest ?? null)
          trace?.stepFinished(index, state, exitCode)
        },
      })
    const done = (trace && executor.makesTracedCalls ? trace.within(run) : run())
      .catch((error: unknown): ExecutionResult => {
        log.note(`executor error: ${(error as Error).message}`)
        logger.error('executor error', {jobId: job.id, error: (error as Error).message})
        return {state: 'failed', reason: 'executor-error', exitCode: null}
      })
      .then(async (result) => {
        clearTimeout(timer)
        if (result.reason === 'timeout') log.note(`timed out after ${job.spec.timeout}`, {final: true})
        log.note(`job ${result.state}${result.reason ? ` (${result.reason})` : ''}`, {final: true})
        log.close()
        // Signed before the job is recorded succeeded, so nobody sees a succeeded job whose provenance is still to come.
        // Failed and cancelled jobs get none. The log is closed first: its digest is part of the provenance.
        const provenance = result.state === 'succeeded' && this.options.provenance
          ? await this.options.provenance.sign({
            job: jobs.getJob(job.id),
            outputs: result.outputs,
            artifactsDir,
            logFile: log.file,
            finishedOn: new Date().toISOString(),
            // Both executors say how they isolate a job; one that cannot say is recorded as unisolated.
            context: executor.provenanceContext?.(job) ?? localProvenanceContext({}),
          })
          : null
        if (provenance && provenance.state !== 'signed') logger.warn(`provenance ${provenance.state}`, {jobId: job.id, reason: provenance.reason})
        jobs.finishJob(job.id, {...result, provenance})
        this.running.delete(job.id)
        // Whatever the executor left in work/<id>/ goes with the job (both executors; the local one removes its own).
        this.removeWorkDirs((id) => id === job.id)
        const finished = jobs.getJob(job.id)
        trace?.end(finished)
        logger.info('job finished', {jobId: job.id, state: finished.state, reason: finished.reason})
        this.emit('job-finished', finished)
        this.dispatch()
      })
    this.running.set(job.id, {controller, done})
  }

  private openLog(id: string): JobLog {
    return new JobLog(jobLogPath(this.options.stateDir, id), this.options.logMaxBytes)
  }
}

