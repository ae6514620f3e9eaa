// Owns running health checks: all at once, each under its own timeout, the whole answer bounded; results
// cached per check with single flight (any number of probes cause at most one real call per check per
// cache interval); degrading checks damped against flapping; the overall status of the readiness document.

import {hostname} from 'node:os'

import type {Clock} from '../../lib/clock.js'
import {formatDurationExact} from '../../lib/duration.js'
import {DanubeError} from '../../lib/errors.js'
import type {Logger} from '../logger.js'
import {type CheckOutcome, type CheckResult, type HealthCheck, type HealthDocument, type HealthStatus, KNOWN_CHECK_KEYS, worst} from './types.js'

export interface HealthEngineOptions {
  checks: readonly HealthCheck[]
  clock: Clock
  version: string
  releaseId?: string
  serviceId?: string
  checkTimeoutMs: number
  /** Bound on one evaluation; the answer goes out a little before it. */
  responseTimeoutMs: number
  cacheTtlMs: number
  /** Consecutive failures before a degrading check reports fail (1 = no damping). */
  failureThreshold: number
  logger?: Logger
  /** Called after every evaluation of all checks with the overall status (the gRPC health service follows it). */
  onStatus?: (status: HealthStatus) => void
}

export interface EvaluateOptions {
  /** Check keys to leave out; unknown keys are a usage error (HTTP 400). */
  exclude?: readonly string[]
}

interface Reading {
  result: CheckResult
  /** Clock time (ms) the reading was taken, and until when it is reused. */
  takenAt: number
  expiresAt: number
}

interface Slot {
  check: HealthCheck
  cached?: Reading
  inflight?: Promise<Reading>
  consecutiveFailures: number
  runs: number
}

export class HealthEngine {
  private readonly slots = new Map<string, Slot>()
  private shuttingDown = false
  private timer?: NodeJS.Timeout
  private started = false
  private lastStatus?: HealthStatus

  constructor(private readonly options: HealthEngineOptions) {
    for (const check of options.checks) {
      if (this.slots.has(check.key)) throw new Error(`BUG: health check ${check.key} registered twice`)
      this.slots.set(check.key, {check, consecutiveFailures: 0, runs: 0})
    }
  }

  /** Keys of the checks this engine runs. */
  get keys(): string[] {
    return [...this.slots.keys()]
  }

  /** The status of each check's last reading (telemetry: danube.health.check.status); checks not yet run are absent. */
  lastStatuses(): Record<string, HealthStatus> {
    return Object.fromEntries([...this.slots].filter(([, slot]) => slot.cached).map(([key, slot]) => [key, slot.cached!.result.status]))
  }

  /** How many times each check really ran (tests and the benchmark read it). */
  runCounts(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([key, slot]) => [key, slot.runs]))
  }

  /** From now on readiness is fail: the process is going away (SIGTERM). */
  setShuttingDown(): void {
    this.shuttingDown = true
    this.report('fail')
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown
  }

  /** Re-evaluates every cache interval, so that damping and the gRPC status move without any probe. */
  start(warmUp: Promise<unknown> = Promise.resolve()): void {
    if (this.started) return
    this.started = true
    // The first evaluation waits for slow one-time set-up (loading the Kubernetes client), so that set-up
    // is not counted as a failure of the dependency.
    void warmUp.catch(() => {}).then(() => {
      if (!this.started) return
      void this.evaluate().catch(() => {})
      this.timer = setInterval(() => void this.evaluate().catch(() => {}), Math.max(this.options.cacheTtlMs, 250))
      this.timer.unref()
    })
  }

  stop(): void {
    this.started = false
    clearInterval(this.timer)
    this.timer = undefined
  }

  async evaluate(options: EvaluateOptions = {}): Promise<HealthDocument> {
    const exclude = new Set(options.exclude ?? [])
    const unknown = [...exclude].filter((key) => !this.slots.has(key) && !(KNOWN_CHECK_KEYS as readonly string[]).includes(key))
    if (unknown.length > 0) {
      throw new DanubeError('UNKNOWN_CHECK', `cannot exclude ${unknown.map((k) => `"${k}"`).join(', ')}: no such health check`, {
        httpStatus: 400,
        exitCode: 3,
        hint: `known checks: ${[...new Set([...KNOWN_CHECK_KEYS, ...this.slots.keys()])].join(', ')}`,
      })
    }
    const slots = [...this.slots.values()].filter((slot) => !exclude.has(slot.check.key))
    const budgetMs = this.options.responseTimeoutMs - Math.min(150, this.options.responseTimeoutMs / 5)
    let budgetTimer: NodeJS.Timeout | undefined
    const budget = new Promise<'budget'>((resolve) => {
      budgetTimer = setTimeout(() => resolve('budget'), Math.max(0, budgetMs))
    })
    try {
      const entries = await Promise.all(
        slots.map(async (slot): Promise<[string, CheckResult]> => {
          const reading = this.reading(slot)
          const settled = await Promise.race([reading, budget])
          if (settled !== 'budget') return [slot.check.key, settled.result]
          // Still running when the answer must go out: report it as timed out, never as its old result.
          const outcome: CheckOutcome = {status: 'fail', observedValue: null, observedUnit: slot.check.observedUnit, output: `timed out after ${formatDurationExact(this.options.responseTimeoutMs)} (health.responseTimeout); the check is still running`}
          return [slot.check.key, this.damped(slot, outcome, slot.consecutiveFailures + 1, this.options.clock.now())]
        }),
      )
      const checks: Record<string, CheckResult[]> = {}
      for (const [key, result] of entries) checks[key] = [result]
      const failedRequired = entries.some(([key, result]) => result.status === 'fail' && this.slots.get(key)!.check.importance === 'required')
      let status: HealthStatus = worst(entries.map(([, result]) => result.status))
      if (status === 'fail' && !failedRequired) status = 'warn'
      const notes: string[] = []
      if (this.shuttingDown) {
        status = 'fail'
        notes.push('the agent is shutting down')
      }
      if (exclude.size === 0) this.report(status)
      return this.document(status, checks, notes)
    } finally {
      clearTimeout(budgetTimer)
    }
  }

  /** A document in the same shape for results gathered elsewhere (the CLI adds agent:heartbeat). */
  document(status: HealthStatus, checks: Record<string, CheckResult[]>, notes: string[] = []): HealthDocument {
    return {
      status,
      version: this.options.version,
      releaseId: this.options.releaseId ?? this.options.version,
      serviceId: this.options.serviceId ?? `danube-agent@${hostname()}`,
      description: 'danube agent readiness',
      time: this.options.clock.now().toISOString(),
      ...(notes.length > 0 ? {notes} : {}),
      checks,
    }
  }

  private report(status: HealthStatus): void {
    if (status === this.lastStatus) return
    if (this.lastStatus !== undefined) this.options.logger?.info('readiness changed', {from: this.lastStatus, to: status})
    this.lastStatus = status
    this.options.onStatus?.(status)
  }

  /** The cached reading while fresh, else the one in flight, else a new run: single flight per check. */
  private reading(slot: Slot): Promise<Reading> {
    const now = this.options.clock.now().getTime()
    const cached = slot.cached
    if (cached && now < cached.expiresAt && now >= cached.takenAt) return Promise.resolve(cached)
    slot.inflight ??= this.runOnce(slot).finally(() => {
      slot.inflight = undefined
    })
    return slot.inflight
  }

  private async runOnce(slot: Slot): Promise<Reading> {
    const {check} = slot
    slot.runs++
    const timeoutMs = check.timeoutMs ?? this.options.checkTimeoutMs
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<CheckOutcome>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new DanubeError('CHECK_TIMEOUT', `timed out after ${formatDurationExact(timeoutMs)}`))
        resolve({status: 'fail', observedValue: null, observedUnit: check.observedUnit, output: `timed out after ${formatDurationExact(timeoutMs)}`})
      }, timeoutMs)
    })
    let outcome: CheckOutcome
    try {
      outcome = await Promise.race([check.run(controller.signal), timedOut])
    } catch (error) {
      outcome = {status: 'fail', observedValue: null, observedUnit: check.observedUnit, output: describeError(error)}
    } finally {
      clearTimeout(timer)
    }
    slot.consecutiveFailures = outcome.status === 'fail' ? slot.consecutiveFailures + 1 : 0
    const taken = this.options.clock.now()
    const result = this.damped(slot, outcome, slot.consecutiveFailures, taken)
    if (outcome.status !== 'pass') this.options.logger?.debug('health check not passing', {check: check.key, status: outcome.status, output: outcome.output})
    const reading: Reading = {result, takenAt: taken.getTime(), expiresAt: taken.getTime() + this.options.cacheTtlMs}
    slot.cached = reading
    return reading
  }

  /** A degrading check reports fail only after failureThreshold consecutive failures; before that, warn. */
  private damped(slot: Slot, outcome: CheckOutcome, failures: number, time: Date): CheckResult {
    const {check} = slot
    let {status, output} = outcome
    const threshold = this.options.failureThreshold
    if (status === 'fail' && check.importance === 'degrading' && failures < threshold) {
      status = 'warn'
      output = `failing (${failures} of ${threshold} consecutive failures before fail): ${output ?? 'no details'}`
    }
    return {
      componentType: check.componentType,
      ...((outcome.componentId ?? check.componentId) ? {componentId: outcome.componentId ?? check.componentId} : {}),
      status,
      observedValue: outcome.observedValue,
      observedUnit: outcome.observedUnit,
      ...(output ? {output} : {}),
      time: time.toISOString(),
    }
  }
}

export function describeError(error: unknown): string {
  if (error instanceof DanubeError) return `${error.code}: ${error.message}`
  if (error instanceof Error) return error.message
  return String(error)
}

/** The status an overall document maps to over HTTP (the draft: pass and warn 2xx, fail 4xx/5xx). */
export function httpStatusOf(document: HealthDocument): number {
  return document.status === 'fail' ? 503 : 200
}

/** Removes output and notes: callers without the token see statuses and values only. */
export function withoutOutput(document: HealthDocument): HealthDocument {
  const checks: Record<string, CheckResult[]> = {}
  for (const [key, results] of Object.entries(document.checks)) {
    checks[key] = results.map(({output: _output, ...rest}) => rest)
  }
  const {notes: _notes, ...rest} = document
  return {...rest, checks}
}
