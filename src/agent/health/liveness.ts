// Owns liveness: process-local only, no I/O to any dependency. The agent is live unless its event loop is
// wedged: perf_hooks.monitorEventLoopDelay samples the loop, and the largest delay seen in the current or
// the previous window (a few seconds) above health.maxEventLoopDelay makes GET /health answer 503.

import {type IntervalHistogram, monitorEventLoopDelay} from 'node:perf_hooks'

import type {HealthStatus} from './types.js'

export interface LivenessReport {
  status: HealthStatus
  /** Largest event-loop delay in the recent window, in ms. */
  eventLoopDelayMs: number
}

export class EventLoopWatchdog {
  private histogram?: IntervalHistogram
  private timer?: NodeJS.Timeout
  private previousMaxMs = 0

  constructor(
    private readonly maxDelayMs: number,
    private readonly windowMs = 5000,
  ) {}

  start(): void {
    if (this.histogram) return
    this.histogram = monitorEventLoopDelay({resolution: 20})
    this.histogram.enable()
    this.timer = setInterval(() => this.rotate(), this.windowMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.histogram?.disable()
    this.histogram = undefined
  }

  /** Starts a new window; the old window's maximum is still reported for one more window. */
  rotate(): void {
    if (!this.histogram) return
    this.previousMaxMs = this.histogram.max / 1e6
    this.histogram.reset()
  }

  report(): LivenessReport {
    const currentMs = this.histogram && this.histogram.count > 0 ? this.histogram.max / 1e6 : 0
    const delay = Math.max(currentMs, this.previousMaxMs)
    return {status: delay > this.maxDelayMs ? 'fail' : 'pass', eventLoopDelayMs: Math.round(delay)}
  }
}
