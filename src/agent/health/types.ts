// Owns the vocabulary of health checks: what a check is, what one reading of it returns, and the
// readiness document (the shape of the IETF health-check draft -06, application/health+json).

export type HealthStatus = 'pass' | 'warn' | 'fail'

/** required: its failure makes the agent not ready (503). degrading: its failure is reported, readiness stays 200. */
export type Importance = 'required' | 'degrading'

export type ComponentType = 'component' | 'datastore' | 'system'

/** What a check's run() returns; the engine adds the time and applies timeouts and damping. */
export interface CheckOutcome {
  status: HealthStatus
  observedValue: number | string | null
  observedUnit: string
  /** Why, in words an operator can act on; withheld from callers without the token. */
  output?: string
  componentId?: string
}

export interface HealthCheck {
  /** `component:measurement`, e.g. `database:responseTime`. */
  key: string
  componentType: ComponentType
  componentId?: string
  importance: Importance
  /** Overrides the engine's per-check timeout. */
  timeoutMs?: number
  /** Unit of observedValue, used when the engine reports a timeout or a crash of the check itself. */
  observedUnit: string
  run(signal: AbortSignal): Promise<CheckOutcome>
}

/** One entry of `checks[key]` in the readiness document. */
export interface CheckResult {
  componentType: ComponentType
  componentId?: string
  status: HealthStatus
  observedValue: number | string | null
  observedUnit: string
  output?: string
  /** When the reading was taken (RFC 3339). */
  time: string
}

export interface HealthDocument {
  status: HealthStatus
  version: string
  releaseId: string
  serviceId: string
  description: string
  time: string
  notes?: string[]
  checks: Record<string, CheckResult[]>
}

const RANK: Record<HealthStatus, number> = {pass: 0, warn: 1, fail: 2}

export function worst(statuses: Iterable<HealthStatus>): HealthStatus {
  let result: HealthStatus = 'pass'
  for (const status of statuses) if (RANK[status] > RANK[result]) result = status
  return result
}

/** Every check key the agent or the CLI may report, configured or not: `?exclude=` accepts these. */
export const KNOWN_CHECK_KEYS = [
  'database:responseTime',
  'kubernetes:responseTime',
  'dex:pods',
  'registry:pods',
  'dex:responseTime',
  'registry:responseTime',
  'cac:freshness',
  'drain:state',
  'executor:isolation',
  'agent:heartbeat',
] as const
