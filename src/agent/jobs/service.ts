// Owns the job operations every API offers (trigger, get, list, cancel, logs), so that HTTP, gRPC and
// in-process callers share one set of rules; the transports only translate.

import {DanubeError} from '../../lib/errors.js'
import {followLog, jobLogPath} from '../../lib/jobs/log.js'
import {isFinal, type Job, type JobSummary, parseListQuery} from '../../lib/jobs/model.js'
import {validateJobSpec} from '../../lib/jobs/spec.js'
import type {JobStore} from '../../lib/store/jobs.js'
import type {JobRunner} from './runner.js'

export class JobService {
  private admitting = true

  constructor(
    private readonly jobs: JobStore,
    private readonly runner: JobRunner,
    private readonly executorName: string,
    private readonly stateDir: string,
  ) {}

  /** Called when the agent begins to shut down: triggers get 503 / UNAVAILABLE from now on. */
  stopAdmitting(): void {
    this.admitting = false
  }

  get isAdmitting(): boolean {
    return this.admitting
  }

  trigger(input: unknown): Job {
    if (!this.admitting) {
      throw new DanubeError('SHUTTING_DOWN', 'the agent is shutting down; not accepting new jobs', {httpStatus: 503, hint: 'retry once the agent is back'})
    }
    const spec = validateJobSpec(input)
    const job = this.jobs.admitJob(spec, this.executorName)
    this.runner.dispatch()
    // Re-read only if dispatch started it; otherwise the admitted row is current.
    return this.runner.isRunning(job.id) ? this.jobs.getJob(job.id) : job
  }

  get(id: string): Job {
    return this.jobs.getJob(id)
  }

  list(query: {state?: string; limit?: string | number}): JobSummary[] {
    return this.jobs.listJobs(parseListQuery(query))
  }

  cancel(id: string): Job {
    const job = this.jobs.getJob(id)
    if (isFinal(job.state)) {
      throw new DanubeError('JOB_FINISHED', `job ${id} already ${job.state}; nothing to cancel`, {httpStatus: 409})
    }
    this.runner.cancel(id, 'user')
    return this.jobs.getJob(id)
  }

  /** The job's log from the start; with follow, until the job has finished. */
  logs(id: string, options: {follow: boolean; signal?: AbortSignal}): AsyncGenerator<Buffer> {
    this.jobs.getJob(id)
    const file = jobLogPath(this.stateDir, id)
    return followLog(file, {
      signal: options.signal,
      isFinished: () => !options.follow || isFinal(this.jobs.getJob(id).state),
    })
  }
}
