// Owns the contract between the job runner and the places jobs run (local processes, Kubernetes Jobs).

import type {JobLog} from '../../lib/jobs/log.js'
import type {Job, JobReason, StepState} from '../../lib/jobs/model.js'
import type {OutputsReport} from './output-rule.js'
import type {SandboxMode} from './sandbox.js'

/** Why the runner asks an executor to stop a job; becomes the job's `reason`. */
export interface StopRequest {
  reason: JobReason
  /**
   * Overrides the context's killGraceMs for this stop (a drain's --grace-period): local executors wait
   * this long between SIGTERM and SIGKILL; Kubernetes deletes the Job with this gracePeriodSeconds.
   */
  graceMs?: number
}

export interface ExecutionContext {
  job: Job
  /** `work/<id>/`: scratch space the executor owns for this job and removes afterwards. */
  workDir: string
  /** `artifacts/<id>/`: where the job's outputs end up. */
  artifactsDir: string
  log: JobLog
  /** Aborted with a StopRequest as its reason on cancel, timeout, shutdown or drain. */
  signal: AbortSignal
  /** Time between SIGTERM (or a graceful delete) and SIGKILL. */
  killGraceMs: number
  /**
   * Variables naming the step's trace span (TRACEPARENT, TRACESTATE), for the step's environment; known before the
   * step starts (the Kubernetes executor writes every step's environment into the Job at creation). Empty without telemetry.
   */
  stepEnv?(index: number): Record<string, string>
  setHandle(handle: string): void
  stepStarted(index: number): void
  stepFinished(index: number, state: StepState, exitCode: number | null, imageDigest?: string | null): void
}

export interface ExecutionResult {
  state: 'succeeded' | 'failed' | 'cancelled'
  reason: JobReason | null
  exitCode: number | null
  /**
   * What was still there when the executor stopped waiting for a stopped job to be gone (Kubernetes: pods stuck
   * terminating at kubernetes.cancelCap, as namespace/name). Recorded with the job; `danube drain` names them.
   */
  leftBehind?: string[]
  /** What became artifacts/<id>/ (with the digests the agent computed) and what the output rule refused. */
  outputs?: OutputsReport
  /**
   * Where the steps ran (local executor): `bubblewrap` (the sandbox) or `none` (unsandboxed, as the agent's
   * own user). Absent for the Kubernetes executor, whose steps run in pods. Provenance records it.
   */
  sandbox?: SandboxMode
}

/** What an executor tells provenance about how it ran a job (internalParameters, builder.id and builder.version). */
export interface ProvenanceContext {
  /** How steps are isolated from the platform: local `none` or `bubblewrap`, kubernetes `pod`. Part of builder.id. */
  isolation: string
  /** builder.version entries besides danube's own (kubernetes: the API server's gitVersion). */
  versions?: Record<string, string>
  /** internalParameters this executor adds: namespace, images, sandbox settings. */
  internal?: Record<string, unknown>
  /** Platform environment variables steps got, besides DANUBE_JOB_ID. */
  environment?: Record<string, string>
  /** The image of steps that name none. */
  defaultImage?: string
}

export interface Executor {
  readonly name: 'local' | 'kubernetes'
  /**
   * Whether it calls an API for the job whose calls become the job's child spans (the Kubernetes executor): only
   * then does the runner make the job's span the active context around it, which on Node 20 switches on async
   * hooks for every promise of the process.
   */
  readonly makesTracedCalls?: boolean
  /**
   * For provenance, after the job ran. An executor without it is taken as unisolated (`none`): provenance then claims
   * the lowest level rather than one nobody checked.
   */
  provenanceContext?(job: Job): ProvenanceContext
  start?(): Promise<void>
  stop?(): Promise<void>
  /** Runs a job to its end; resolves only once nothing of it is left running. */
  run(context: ExecutionContext): Promise<ExecutionResult>
  /**
   * Called at agent start for a job a previous agent left `running`. `lost`: nothing can resume it
   * (the runner marks it failed/agent-restart); `adopted`: the executor found it and will resume it
   * through `run`.
   */
  recover(job: Job, log: JobLog): Promise<'lost' | 'adopted'>
}

export function stopReason(signal: AbortSignal): JobReason {
  return (signal.reason as StopRequest | undefined)?.reason ?? 'user'
}

/** The SIGTERM-to-SIGKILL time for a stop: the request's own, else the context's. */
export function stopGraceMs(signal: AbortSignal, fallbackMs: number): number {
  return (signal.reason as StopRequest | undefined)?.graceMs ?? fallbackMs
}
