import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {DrainController} from '../../src/agent/drain/controller.js'
import type {ExecutionContext, ExecutionResult, Executor, StopRequest} from '../../src/agent/executors/types.js'
import {JobRunner} from '../../src/agent/jobs/runner.js'
import {silentLogger} from '../../src/agent/logger.js'
import {validateJobSpec} from '../../src/lib/jobs/spec.js'
import {DrainStore} from '../../src/lib/store/drain.js'
import {Store} from '../../src/lib/store/index.js'
import {JobStore} from '../../src/lib/store/jobs.js'
import {makeStateDir, removeStateDir, waitFor} from '../support/agent-process.js'

/** The process boundary, faked: a job runs until the test finishes it or the runner aborts it. */
class FakeExecutor implements Executor {
  readonly name = 'local' as const
  readonly stops = new Map<string, StopRequest>()
  private readonly finishers = new Map<string, (result: ExecutionResult) => void>()

  run(context: ExecutionContext): Promise<ExecutionResult> {
    return new Promise((resolve) => {
      this.finishers.set(context.job.id, resolve)
      context.signal.addEventListener('abort', () => {
        const request = context.signal.reason as StopRequest
        this.stops.set(context.job.id, request)
        resolve({state: 'cancelled', reason: request.reason, exitCode: null})
      })
    })
  }

  finish(id: string): void {
    this.finishers.get(id)?.({state: 'succeeded', reason: null, exitCode: 0})
  }

  async recover(): Promise<'lost'> {
    return 'lost'
  }
}

describe('DrainController (real SQLite and JobRunner, fake executor, fixed clock)', () => {
  let dir: string
  let store: Store
  let now: number
  let jobs: JobStore
  let drains: DrainStore
  let executor: FakeExecutor
  let runner: JobRunner
  let controller: DrainController
  const clock = {now: () => new Date(now)}
  const admit = (name: string) => jobs.admitJob(validateJobSpec({name, steps: [{run: 'true'}]}), 'local')
  const drain = (timeoutMs: number, force: boolean) => drains.request({timeoutMs, force, gracePeriodMs: 1500, message: null, requestedBy: 'test'}).drain

  beforeEach(() => {
    dir = makeStateDir('danube-drain-ctl-')
    store = Store.openInStateDir(dir, {create: true})
    now = Date.parse('2026-11-27T08:00:00.000Z')
    jobs = new JobStore(store, clock)
    drains = new DrainStore(store, clock)
    executor = new FakeExecutor()
    runner = new JobRunner({jobs, executor, stateDir: dir, maxConcurrent: 1, killGraceMs: 10_000, logMaxBytes: 1 << 20, logger: silentLogger})
    // A poll interval longer than any test: every reaction below comes from tick() or a job-finished event.
    controller = new DrainController({drains, runner, clock, logger: silentLogger, pollMs: 3_600_000})
  })
  afterEach(async () => {
    controller.stop()
    for (const id of runner.runningJobs()) runner.cancel(id)
    await runner.shutdown(0)
    store.close()
    removeStateDir(dir)
  })

  it('ends the drain the moment the last running job finishes, leaving queued jobs queued', async () => {
    const running = admit('build')
    const queued = admit('test')
    runner.dispatch()
    controller.start()
    const {historyId} = drain(600_000, true)
    controller.tick()
    expect(drains.read().state).toBe('draining')
    executor.finish(running.id)
    await waitFor(() => drains.read().state === 'drained', {what: 'drained'})
    expect(drains.record(historyId!)).toMatchObject({outcome: 'drained', jobsWaitedFor: [running.id], jobsKilled: []})
    expect(jobs.getJob(queued.id).state).toBe('queued')
  })

  it('kills what runs at a forced deadline through the runner, with the drain grace period, and records it killed', async () => {
    const job = admit('e2e')
    runner.dispatch()
    controller.start()
    const {historyId} = drain(10_000, true)
    now += 9_999
    controller.tick()
    expect(executor.stops.size).toBe(0)
    now += 1
    controller.tick()
    expect(executor.stops.get(job.id)).toEqual({reason: 'drain-timeout', graceMs: 1500})
    await waitFor(() => drains.read().state === 'drained', {what: 'drained'})
    expect(jobs.getJob(job.id)).toMatchObject({state: 'cancelled', reason: 'drain-timeout'})
    expect(drains.record(historyId!)).toMatchObject({outcome: 'forced', jobsKilled: [job.id]})
  })

  it('at a deadline without force leaves jobs running and notes timed_out', () => {
    const job = admit('slow')
    runner.dispatch()
    controller.start()
    const {historyId} = drain(1000, false)
    now += 5000
    controller.tick()
    expect(executor.stops.size).toBe(0)
    expect(jobs.getJob(job.id).state).toBe('running')
    expect(drains.read().state).toBe('draining')
    expect(drains.record(historyId!)!.outcome).toBe('timed_out')
  })

  it('starts queued jobs again as soon as it sees the drain cancelled', () => {
    const queued = admit('waiting')
    controller.start()
    drain(1000, false)
    controller.tick()
    runner.dispatch()
    expect(drains.read().state).toBe('drained')
    expect(jobs.getJob(queued.id).state).toBe('queued')
    drains.cancel({by: 'test', message: null})
    controller.tick()
    expect(jobs.getJob(queued.id).state).toBe('running')
  })

  it('tells recovery to record lost jobs as drain kills only when a forced deadline has passed', () => {
    expect(controller.recoveryOutcome()).toBeUndefined()
    drain(1000, true)
    expect(controller.recoveryOutcome()).toBeUndefined()
    now += 1000
    expect(controller.recoveryOutcome()).toEqual({state: 'cancelled', reason: 'drain-timeout'})
  })
})
