// The health engine with checks whose behaviour the test controls: timeouts, the response bound, cache and
// single flight, damping, aggregation and ?exclude.
import {describe, expect, it} from 'vitest'

import {HealthEngine, withoutOutput} from '../../../../src/agent/health/engine.js'
import type {CheckOutcome, HealthCheck, Importance} from '../../../../src/agent/health/types.js'

class ManualClock {
  ms = Date.parse('2026-11-27T08:00:00Z')
  now = () => new Date(this.ms)
}

function check(key: string, run: () => Promise<CheckOutcome> | CheckOutcome, importance: Importance = 'degrading', timeoutMs?: number): HealthCheck & {calls: number} {
  const c = {key, componentType: 'component' as const, importance, observedUnit: 'ms', timeoutMs, calls: 0, run: async () => {
    c.calls++
    return run()
  }}
  return c
}

const pass = (): CheckOutcome => ({status: 'pass', observedValue: 1, observedUnit: 'ms', output: 'fine'})
const fail = (): CheckOutcome => ({status: 'fail', observedValue: null, observedUnit: 'ms', output: 'broken'})
const never = () => new Promise<CheckOutcome>(() => {})

function engine(checks: HealthCheck[], clock = new ManualClock(), options: Partial<ConstructorParameters<typeof HealthEngine>[0]> = {}) {
  return new HealthEngine({checks, clock, version: '1.2.3', checkTimeoutMs: 200, responseTimeoutMs: 400, cacheTtlMs: 5000, failureThreshold: 2, ...options})
}

describe('HealthEngine', () => {
  it('reports pass with the document fields and one entry per check', async () => {
    const document = await engine([check('database:responseTime', pass, 'required'), check('drain:state', pass)]).evaluate()
    expect(document).toMatchObject({status: 'pass', version: '1.2.3', releaseId: '1.2.3', description: 'danube agent readiness'})
    expect(document.serviceId).toMatch(/^danube-agent@/)
    expect(document.checks['database:responseTime']).toEqual([{componentType: 'component', status: 'pass', observedValue: 1, observedUnit: 'ms', output: 'fine', time: '2026-11-27T08:00:00.000Z'}])
    expect(withoutOutput(document).checks['drain:state']![0]).not.toHaveProperty('output')
  })

  it('a check that exceeds its timeout fails with "timed out after", and its slowness does not hold the answer', async () => {
    const slow = check('kubernetes:responseTime', never, 'degrading', 100)
    const e = engine([slow], new ManualClock(), {failureThreshold: 1})
    const started = performance.now()
    const document = await e.evaluate()
    expect(performance.now() - started).toBeLessThan(400)
    expect(document.checks['kubernetes:responseTime']![0]).toMatchObject({status: 'fail', output: 'timed out after 100ms'})
    expect(document.status).toBe('warn')
  })

  it('answers within the response bound while a check is still running, reporting it as timed out, never as pass', async () => {
    let calls = 0
    const hanging = check('database:responseTime', () => (calls++ === 0 ? pass() : never()), 'required', 5000)
    const clock = new ManualClock()
    const e = engine([hanging], clock, {responseTimeoutMs: 300})
    expect((await e.evaluate()).status).toBe('pass')
    clock.ms += 6000 // cache expired: the next run hangs
    const started = performance.now()
    const document = await e.evaluate()
    expect(performance.now() - started).toBeLessThan(300)
    expect(document.status).toBe('fail')
    expect(document.checks['database:responseTime']![0]!.output).toMatch(/^timed out after 300ms/)
  })

  it('caches per check with single flight: 200 simultaneous evaluations run each check once per interval', async () => {
    const clock = new ManualClock()
    // The first run of dex:pods stays in flight until all 200 evaluations have asked for it.
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const a = check('dex:pods', async () => {
      await gate
      return pass()
    })
    const b = check('registry:pods', pass)
    const e = engine([a, b], clock)
    const evaluations = Array.from({length: 200}, () => e.evaluate())
    release()
    await Promise.all(evaluations)
    expect([a.calls, b.calls]).toEqual([1, 1])
    clock.ms += 4999
    await e.evaluate()
    expect(a.calls).toBe(1)
    clock.ms += 2
    await Promise.all(Array.from({length: 50}, () => e.evaluate()))
    expect([a.calls, b.calls]).toEqual([2, 2])
  })

  it('damps a degrading check: warn until failureThreshold consecutive failures, then fail; a pass resets the count', async () => {
    const clock = new ManualClock()
    let next: () => CheckOutcome = fail
    const flappy = check('dex:pods', () => next())
    const e = engine([flappy], clock, {cacheTtlMs: 1000})
    const read = async () => {
      clock.ms += 1001
      return (await e.evaluate()).checks['dex:pods']![0]!
    }
    expect(await read()).toMatchObject({status: 'warn', output: 'failing (1 of 2 consecutive failures before fail): broken'})
    expect((await read()).status).toBe('fail')
    next = pass
    expect((await read()).status).toBe('pass')
    next = fail
    expect((await read()).status).toBe('warn')
  })

  it('a failing required check makes the whole answer fail; a failing degrading one only warns', async () => {
    const e1 = engine([check('database:responseTime', fail, 'required'), check('dex:pods', pass)])
    expect((await e1.evaluate()).status).toBe('fail')
    const e2 = engine([check('database:responseTime', pass, 'required'), check('dex:pods', fail)], new ManualClock(), {failureThreshold: 1})
    const document = await e2.evaluate()
    expect(document.checks['dex:pods']![0]!.status).toBe('fail')
    expect(document.status).toBe('warn')
  })

  it('a check that throws fails with the error message', async () => {
    const e = engine([check('database:responseTime', () => {
      throw new Error('boom')
    }, 'required')])
    expect((await e.evaluate()).checks['database:responseTime']![0]).toMatchObject({status: 'fail', output: 'boom'})
  })

  it('?exclude leaves checks out; an unknown key is a 400 error; a known but unconfigured key is accepted', async () => {
    const e = engine([check('database:responseTime', pass, 'required'), check('dex:pods', fail)])
    const document = await e.evaluate({exclude: ['dex:pods', 'cac:freshness']})
    expect(Object.keys(document.checks)).toEqual(['database:responseTime'])
    await expect(e.evaluate({exclude: ['nope:thing']})).rejects.toMatchObject({code: 'UNKNOWN_CHECK', httpStatus: 400})
  })

  it('an evaluation with ?exclude does not tell the status listener (gRPC health follows full evaluations only)', async () => {
    const seen: string[] = []
    const e = engine([check('database:responseTime', fail, 'required'), check('drain:state', pass)], new ManualClock(), {onStatus: (s) => seen.push(s)})
    expect((await e.evaluate()).status).toBe('fail')
    expect(seen).toEqual(['fail'])
    const partial = await e.evaluate({exclude: ['database:responseTime']})
    expect(partial.status).toBe('pass')
    expect(seen).toEqual(['fail'])
  })

  it('shutting down fails readiness and tells the status listener', async () => {
    const seen: string[] = []
    const e = engine([check('database:responseTime', pass, 'required')], new ManualClock(), {onStatus: (s) => seen.push(s)})
    await e.evaluate()
    e.setShuttingDown()
    const document = await e.evaluate()
    expect(document).toMatchObject({status: 'fail', notes: ['the agent is shutting down']})
    expect(seen).toEqual(['pass', 'fail'])
  })
})
