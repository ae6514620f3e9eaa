// Liveness is process-local: the event-loop watchdog reports fail only after the loop really stalled.
import {describe, expect, it} from 'vitest'

import {EventLoopWatchdog} from '../../../../src/agent/health/liveness.js'

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('EventLoopWatchdog', () => {
  it('passes while the loop is free, fails after a stall above the threshold, and forgets it two windows later', async () => {
    const watchdog = new EventLoopWatchdog(150, 60_000)
    watchdog.start()
    try {
      await tick(100)
      expect(watchdog.report().status).toBe('pass')
      const until = performance.now() + 300
      while (performance.now() < until) {
        // wedge the event loop
      }
      await tick(50)
      const wedged = watchdog.report()
      expect(wedged.status).toBe('fail')
      expect(wedged.eventLoopDelayMs).toBeGreaterThanOrEqual(250)
      watchdog.rotate()
      expect(watchdog.report().status).toBe('fail')
      await tick(50)
      watchdog.rotate()
      await tick(50)
      expect(watchdog.report().status).toBe('pass')
    } finally {
      watchdog.stop()
    }
  })
})
