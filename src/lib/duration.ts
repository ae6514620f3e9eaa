// Owns the one duration syntax every flag and config key accepts: Go-style `90s`, `10m`, `1h30m`, `250ms`.
// Written by hand because the libraries that parse durations (ms, parse-duration) accept bare numbers,
// which the issues require us to refuse: `--timeout 10` must be an error, not ten milliseconds.

import {DanubeError, EXIT_USAGE} from './errors.js'

const UNIT_MS = {h: 3_600_000, m: 60_000, s: 1000, ms: 1} as const
const PART = /(\d+)(ms|h|m|s)/g
const WHOLE = /^(?:\d+(?:ms|h|m|s))+$/

/** Longest duration we accept anywhere: anything longer is a typo, not a plan. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000

export const DURATION_FORM = 'a number with a unit, such as 30s, 10m or 1h30m'

export function parseDuration(text: string, field = 'duration'): number {
  const value = text.trim()
  if (!WHOLE.test(value)) {
    throw new DanubeError('INVALID_DURATION', `${field}: "${text}" is not a duration; use ${DURATION_FORM}`, {
      exitCode: EXIT_USAGE,
      httpStatus: 400,
    })
  }
  let total = 0
  for (const match of value.matchAll(PART)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  }
  if (total > MAX_DURATION_MS) {
    throw new DanubeError('INVALID_DURATION', `${field}: "${text}" is longer than the maximum of 720h (30 days)`, {
      exitCode: EXIT_USAGE,
      httpStatus: 400,
    })
  }
  return total
}

/**
 * Milliseconds rounded to the second for elapsed and remaining times, the way parseDuration reads them:
 * 5400000 → "1h30m", 1500 → "2s"; under a second in ms.
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  let seconds = Math.round(ms / 1000)
  const hours = Math.floor(seconds / 3600)
  seconds -= hours * 3600
  const minutes = Math.floor(seconds / 60)
  seconds -= minutes * 60
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds || (!hours && !minutes) ? `${seconds}s` : ''}`
}

/**
 * Milliseconds exactly, for settings and timeouts an operator compares with what they configured:
 * 1500 → "1500ms" (never rounded to "2s"), 2000 → "2s", 5400000 → "1h30m", 90500 → "1m30s500ms".
 */
export function formatDurationExact(ms: number): string {
  let rest = Math.max(0, Math.round(ms))
  if (rest === 0) return '0s'
  let text = ''
  for (const [unit, size] of Object.entries(UNIT_MS) as [keyof typeof UNIT_MS, number][]) {
    const count = Math.floor(rest / size)
    rest -= count * size
    if (count > 0) text += `${count}${unit}`
  }
  // 1500 reads better as "1500ms" than "1s500ms": a sub-minute value with milliseconds stays in ms.
  return ms < 60_000 && ms % 1000 !== 0 ? `${Math.round(ms)}ms` : text
}
