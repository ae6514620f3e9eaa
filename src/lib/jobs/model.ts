// Owns the vocabulary of jobs: states, reasons, and the Job record every API returns.

import {DanubeError} from '../errors.js'
import type {JobSpec} from './spec.js'

export const JOB_STATES = ['queued', 'deferred', 'running', 'succeeded', 'failed', 'cancelled'] as const
export type JobState = (typeof JOB_STATES)[number]
export const FINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled']

export type JobReason = 'exit-code' | 'timeout' | 'user' | 'agent-shutdown' | 'agent-restart' | 'drain-timeout' | 'executor-error' | (string & {})

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped'

export interface JobStep {
  index: number
  name: string
  state: StepState
  exitCode: number | null
  imageDigest: string | null
  startedAt: string | null
  finishedAt: string | null
}

export interface Job {
  id: string
  name: string
  state: JobState
  reason: JobReason | null
  executor: string
  executorHandle: string | null
  exitCode: number | null
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  updatedAt: string
  spec: JobSpec
  steps: JobStep[]
}

/**
 * What job lists return: the job without its spec (a spec may be up to the request limit, 1 MiB, and a list
 * of 1,000 of them would be a gigabyte). `GET /api/v1/jobs/{id}` and `job show` return the whole Job.
 */
export type JobSummary = Omit<Job, 'spec'>

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state)
}

export const MAX_LIST_LIMIT = 1000

/** Validates a job-list filter as the HTTP query, gRPC request and `job list` flags give it. */
export function parseListQuery(query: {state?: string; limit?: string | number}): {state?: JobState; limit: number} {
  const {state} = query
  if (state !== undefined && state !== '' && !JOB_STATES.includes(state as JobState)) {
    throw new DanubeError('INVALID_QUERY', `state: "${state}" is not a job state; use one of ${JOB_STATES.join(', ')}`, {httpStatus: 400, exitCode: 2})
  }
  let limit = 100
  if (query.limit !== undefined && query.limit !== '') {
    // Decimal digits only: Number() would also take 0x10, 1e2 and " 5 ".
    limit = typeof query.limit === 'number' ? query.limit : /^\d{1,7}$/.test(query.limit) ? Number(query.limit) : Number.NaN
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new DanubeError('INVALID_QUERY', `limit: "${query.limit}" must be a whole number from 1 to ${MAX_LIST_LIMIT}`, {httpStatus: 400, exitCode: 2})
    }
  }
  return {state: state ? (state as JobState) : undefined, limit}
}

/** The name a step gets when its spec has none. */
export function stepName(spec: JobSpec, index: number): string {
  return spec.steps[index]?.name ?? `step-${index + 1}`
}
