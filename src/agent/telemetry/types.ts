// Owns the contract between the agent and its telemetry: the hooks the composition root wires into the HTTP and
// gRPC servers, the store, the Kubernetes client and the job runner. Types only: importing this module loads no
// OpenTelemetry code, so every part of the agent can name these hooks while only `danube agent` loads the SDK.

import type {IncomingMessage, ServerResponse} from 'node:http'

import type {ServerInterceptor} from '@grpc/grpc-js'

import type {Job, StepState} from '../../lib/jobs/model.js'
import type {KubeCallInfo, KubeWatchEvent} from '../../lib/kube/index.js'
import type {QueryTiming, Store} from '../../lib/store/index.js'
import type {RequestObserver} from '../http/server.js'
import type {HealthStatus} from '../health/types.js'
import type {JobRunner} from '../jobs/runner.js'

/** Why a trigger was not admitted; the `reason` label of danube.jobs.rejected. */
export type RejectionReason = 'draining' | 'shutting-down' | 'invalid'

/** What the scrape-time gauges read: SQLite (so a restart does not reset them) and the agent's own state. */
export interface TelemetrySources {
  store: Store
  runner: JobRunner
  /** Last result of each health check, by check key. */
  healthChecks(): Record<string, HealthStatus>
  /** Overall readiness, once evaluated. */
  readiness(): HealthStatus | undefined
  /** Whether config-as-code is configured (danube.cac.sync.age is only reported then). */
  cacEnabled: boolean
}

/** The tracing of one job run: a `RUN <job>` span with one child span per step. */
export interface JobTrace {
  /** TRACEPARENT (and TRACESTATE when set) naming the span of step `index`; valid before the step starts. */
  stepEnv(index: number): Record<string, string>
  stepStarted(index: number): void
  stepFinished(index: number, state: StepState, exitCode: number | null): void
  /** Runs fn with the job span as the active context, so the Kubernetes calls made for the job become its children. */
  within<T>(fn: () => T): T
  end(job: Job): void
}

export interface JobTelemetry {
  /** Called inside the trigger request: remembers the caller's trace so the job span can link to it. */
  jobAdmitted(job: Job): void
  jobRejected(reason: RejectionReason): void
  jobStarted(job: Job): JobTrace
}

export interface AgentTelemetry extends JobTelemetry {
  onQuery(timing: QueryTiming): void
  onKubeCall(call: KubeCallInfo): void
  onKubeWatch(event: KubeWatchEvent): void
  /** Handles one HTTP request inside its SERVER span (the caller's traceparent as parent) and times it. */
  observeHttpRequest: RequestObserver
  readonly grpcInterceptors: ServerInterceptor[]
  systemError(component: string, errorType: string): void
  /** Connects the scrape-time gauges and the job metrics to the running agent. */
  bind(sources: TelemetrySources): void
  /** Answers GET /metrics (Prometheus text format). */
  serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void>
  /** Flushes what is queued (bounded in time) and stops exporting. */
  shutdown(): Promise<void>
}
