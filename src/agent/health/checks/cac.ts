// cac:freshness (degrading): the age of the last successful config-as-code sync. Warn above 2× cac.interval,
// fail above 6× or when a configured sync never succeeded; a sync time in the future (clock skew) warns.
// Omitted (not failed) when cac.repo is not configured.

import type {Clock} from '../../../lib/clock.js'
import {formatDuration} from '../../../lib/duration.js'
import {CacSyncStore} from '../../../lib/store/cac.js'
import type {Store} from '../../../lib/store/index.js'
import {redactUrlCredentials} from '../../../lib/redact.js'
import type {CheckOutcome, HealthCheck} from '../types.js'

export interface CacCheckOptions {
  repo: string
  intervalMs: number
  timeoutMs: number
  store: () => Store
  clock: Clock
}

/** Clocks of the agent and of this reader may differ this much before a future timestamp is skew. */
const SKEW_TOLERANCE_MS = 2000

export function cacCheck(options: CacCheckOptions): HealthCheck {
  return {
    key: 'cac:freshness',
    componentType: 'component',
    componentId: redactUrlCredentials(options.repo),
    importance: 'degrading',
    observedUnit: 's',
    run: async () => evaluateCac(new CacSyncStore(options.store(), options.clock), options),
  }
}

function evaluateCac(syncs: CacSyncStore, options: CacCheckOptions): CheckOutcome {
  const now = options.clock.now().getTime()
  const success = syncs.lastSuccess()
  const attempt = syncs.lastAttempt()
  const every = formatDuration(options.intervalMs)
  const lastError = attempt && attempt.ok === false ? `; last attempt failed: ${attempt.error}` : ''
  if (!success?.finishedAt) {
    const inProgress = attempt && attempt.finishedAt === null && now - Date.parse(attempt.startedAt) < options.timeoutMs
    if (inProgress && !attempt.error) {
      return {status: 'warn', observedValue: null, observedUnit: 's', output: `first sync in progress since ${attempt.startedAt}`}
    }
    return {status: 'fail', observedValue: null, observedUnit: 's', output: `never synced successfully (expected every ${every})${lastError}`}
  }
  const ageMs = now - Date.parse(success.finishedAt)
  const age = Math.round(ageMs / 1000)
  const revision = success.revision ? ` at ${success.revision.slice(0, 12)}` : ''
  if (ageMs < -SKEW_TOLERANCE_MS) {
    return {status: 'warn', observedValue: age, observedUnit: 's', output: `last successful sync is ${formatDuration(-ageMs)} in the future (${success.finishedAt}): clock skew?`}
  }
  const described = `last successful sync${revision} ${formatDuration(Math.max(0, ageMs))} ago (expected every ${every})${lastError}`
  if (ageMs > 6 * options.intervalMs) return {status: 'fail', observedValue: age, observedUnit: 's', output: `${described}; fail above ${formatDuration(6 * options.intervalMs)}`}
  if (ageMs > 2 * options.intervalMs) return {status: 'warn', observedValue: age, observedUnit: 's', output: `${described}; warn above ${formatDuration(2 * options.intervalMs)}`}
  return {status: 'pass', observedValue: Math.max(0, age), observedUnit: 's', output: described}
}
