// Owns the vocabulary of jobs: states, reasons, and the Job record every API returns.

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

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state)
}
