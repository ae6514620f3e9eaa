// Liveness is process-local: the event-loop watchdog reports fail only after the loop really stalled.
import {describe, expect, it} from 'vitest'

import {EventLoopWatchdog} from '../../../../src/agent/health/liveness.js'
import {waitFor} from '../../../support/agent-process.js'

/** A stretch of free event loop for the watchdog's histogram to sample (every 20 ms): time under test, not a wait for an event. */
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('EventLoopWatchdog', () => {
  it('passes while the loop is free, fails after a stall above the threshold, and forgets it two windows later', async () => {
    const watchdog = new EventLoopWatchdog(150, 60_000)
    watchdog.start()
    try {
      // A window of a free loop, sampled: no stall may be reported over it.
      await tick(100)
      expect(watchdog.report().status).toBe('pass')
      const until = performance.now() + 300
      while (performance.now() < until) {
        // wedge the event loop
      }
      // The histogram records the stall when its sampling timer fires, as soon as the loop is free again.
      await waitFor(() => watchdog.report().status === 'fail', {timeoutMs: 2000, intervalMs: 10, what: 'the stall to be recorded'})
      const wedged = watchdog.report()
      expect(wedged.eventLoopDelayMs).toBeGreaterThanOrEqual(250)
      watchdog.rotate()
      expect(watchdog.report().status).toBe('fail')
      // Two windows that sampled a free loop.
      await tick(50)
      watchdog.rotate()
      await tick(50)
      expect(watchdog.report().status).toBe('pass')
    } finally {
      watchdog.stop()
    }
  })
})
