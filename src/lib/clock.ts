// Owns the notion of "now" so that agent loops and tests agree on time: production passes systemClock,
// tests pass a fixed or hand-advanced clock.

export interface Clock {
  now(): Date
}

export const systemClock: Clock = {now: () => new Date()}

/** RFC 3339 UTC with milliseconds, the one timestamp format in SQLite and JSON. */
export function isoNow(clock: Clock): string {
  return clock.now().toISOString()
}
