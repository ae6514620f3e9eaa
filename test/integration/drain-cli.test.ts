// `danube drain` end to end: real agent processes, real sh jobs, the CLI as an operator runs it.

import {writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {drainRow, getJob, groupAlive, pgidOf, query, releaseGate, spawnCli, trigger, waitForState} from '../support/drain.js'
import {parseAs} from '../support/schemas.js'

const env = {DANUBE_JOBS_MAX_CONCURRENT: '2', DANUBE_JOBS_KILL_GRACE_PERIOD: '2s'}

describe('danube drain (real agent, real jobs)', () => {
  let agent: AgentProcess | undefined
  afterEach(async () => {
    await agent?.stop('SIGKILL')
    if (agent) removeStateDir(agent.stateDir)
    agent = undefined
  })

  it('the upgrade flow: drain --force kills the overrunning job, survives a restart, --cancel resumes queued and deferred jobs', async () => {
    agent = await startAgent({env})
    const {stateDir} = agent
    const long = await trigger(agent, {name: 'long', steps: [{run: 'sleep 60'}]})
    const gate = releaseGate(stateDir, 'short')
    const short = await trigger(agent, {name: 'short', steps: [{run: gate.run}]})
    const queued = await trigger(agent, {name: 'queued', steps: [{run: 'true'}]})
    const longJob = await waitForState(agent, long.body.id!, 'running')
    expect((await getJob(agent, queued.body.id!)).state).toBe('queued')

    await waitForState(agent, short.body.id!, 'running')
    const watching = spawnCli(['drain', '--timeout', '3s', '--force', '--grace-period', '1s', '-m', 'upgrade to 0.9', '--json'], stateDir)
    // The short job ends by itself during the drain; the long one overruns the deadline.
    await waitFor(() => drainRow(stateDir).state === 'draining', {what: 'drain recorded'})
    gate.release()
    const drain = await watching.result
    expect(drain.code, drain.stderr).toBe(0)
    const report = parseAs<{jobsKilled: {id: string}[]; jobsWaitedFor: {id: string}[]; deadlineAt: string} & Record<string, unknown>>('drain', drain.stdout)
    // Killed at the deadline, neither before it nor after its own 60 s: measured between the deadline and the job's end
    // as the state database records them (the CLI's start-up and the machine's load do not count), 1 s grace plus a
    // margin that holds on a loaded machine.
    const longEnd = Date.parse(query<{finished_at: string}>(stateDir, 'SELECT finished_at FROM jobs WHERE id = ?', [long.body.id])[0]!.finished_at)
    expect(longEnd).toBeGreaterThanOrEqual(Date.parse(report.deadlineAt))
    expect(longEnd - Date.parse(report.deadlineAt)).toBeLessThan(1000 + 14_000)
    expect(report).toMatchObject({state: 'drained', result: 'drained', outcome: 'forced', force: true, message: 'upgrade to 0.9', queued: 1, running: []})
    expect(report.jobsKilled.map((j: {id: string}) => j.id)).toEqual([long.body.id])
    expect(report.jobsWaitedFor.map((j: {id: string}) => j.id).sort()).toEqual([long.body.id, short.body.id].sort())
    expect(await getJob(agent, long.body.id!)).toMatchObject({state: 'cancelled', reason: 'drain-timeout'})
    expect((await getJob(agent, short.body.id!)).state).toBe('succeeded')
    expect(await groupAlive(pgidOf(longJob))).toBe(false)

    // Drained: new triggers are refused (CLI exit 75) or deferred (202).
    const specFile = path.join(stateDir, 'late.json')
    writeFileSync(specFile, JSON.stringify({name: 'late', steps: [{run: 'true'}]}))
    const refused = await runCli(['job', 'run', '--file', specFile], {stateDir})
    expect(refused.code).toBe(75)
    expect(refused.stderr).toMatch(/danube is draining since \S+Z \(reason: upgrade to 0\.9\); not accepting new jobs/)
    const deferred = await trigger(agent, {name: 'deferred', steps: [{run: 'true'}], defer: true})
    expect(deferred.status).toBe(202)
    expect(deferred.body.state).toBe('deferred')

    // The drain survives an agent restart.
    expect(await agent.stop('SIGTERM')).toBe(0)
    // startAgent returns on "agent started", which the agent logs after its drain controller's first look and its
    // start-up dispatch (both synchronous): a queued job it wrongly started would already show running.
    agent = await startAgent({stateDir, env})
    const status = parseAs<Record<string, unknown>>('status', (await runCli(['status', '--json'], {stateDir})).stdout)
    expect(status.drain).toMatchObject({state: 'drained', queued: 1, deferred: 1, force: true, lastDrain: {outcome: 'forced', jobsKilled: [long.body.id]}})
    expect((await getJob(agent, queued.body.id!)).state).toBe('queued')

    const cancel = await runCli(['drain', '--cancel', '-m', 'upgrade done'], {stateDir})
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toMatch(/Drain cancelled/)
    await waitForState(agent, queued.body.id!, 'succeeded', 20_000)
    await waitForState(agent, deferred.body.id!, 'succeeded', 20_000)
    const [first, second] = query<{id: string}>(stateDir, `SELECT id FROM jobs WHERE id IN (?, ?) ORDER BY started_at, seq`, [queued.body.id, deferred.body.id])
    expect([first!.id, second!.id]).toEqual([queued.body.id, deferred.body.id])
  }, 60_000)

  it('without --force: exit 3 at the deadline naming the running job, drain stays on; a second run updates it to force', async () => {
    agent = await startAgent({env})
    const {stateDir} = agent
    const slow = await trigger(agent, {name: 'slow', steps: [{run: 'sleep 60'}]})
    await waitForState(agent, slow.body.id!, 'running')
    const timedOut = await runCli(['drain', '--timeout', '1s'], {stateDir})
    expect(timedOut.code).toBe(3)
    expect(timedOut.stderr).toContain(`Deadline reached; 1 job(s) still running: ${slow.body.id} (slow`)
    expect(timedOut.stderr).toContain('The drain is still on: no new job starts')
    expect(drainRow(stateDir).state).toBe('draining')
    expect((await getJob(agent, slow.body.id!)).state).toBe('running')

    const forced = await runCli(['drain', '--timeout', '0s', '--force', '--grace-period', '1s'], {stateDir})
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stdout).toMatch(/Drain already in progress \(since \S+ by \S+\); updated: deadline \S+ \(force, grace period 1s\)/)
    expect(forced.stdout).toMatch(/killed \(drain-timeout\)/)
    expect(query<{n: number}>(stateDir, 'SELECT COUNT(*) AS n FROM drain_history')[0]!.n).toBe(1)
  })

  it('two drains at once both end as soon as the last job does, long before the deadline', async () => {
    agent = await startAgent({env})
    const {stateDir} = agent
    const gate = releaseGate(stateDir, 'brief')
    const job = await trigger(agent, {name: 'brief', steps: [{run: gate.run}]})
    await waitForState(agent, job.body.id!, 'running')
    const first = spawnCli(['drain', '--timeout', '60s'], stateDir)
    const second = spawnCli(['drain', '--timeout', '60s'], stateDir)
    await waitFor(() => first.stdout().includes('Ctrl-C stops watching') && second.stdout().includes('Ctrl-C stops watching'), {what: 'both watching'})
    gate.release()
    const [a, b] = await Promise.all([first.result, second.result])
    const returnedAt = Date.now()
    const finishedAt = Date.parse(query<{finished_at: string}>(stateDir, 'SELECT finished_at FROM jobs WHERE id = ?', [job.body.id])[0]!.finished_at)
    const drain = query<{ended_at: string; deadline_at: string}>(stateDir, 'SELECT ended_at, deadline_at FROM drain_history')[0]!
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    // One started it, the other found it in progress and said so; both saw the job end and the drain complete.
    expect([a.stdout, b.stdout].filter((out) => out.includes('Drain started')).length).toBe(1)
    expect([a.stdout, b.stdout].filter((out) => out.includes('Drain already in progress')).length).toBe(1)
    for (const out of [a.stdout, b.stdout]) expect(out).toMatch(/Drained\. 0 running/)
    // The agent ends the drain when the job ends (recorded times, not the CLI's), and both CLIs are back long
    // before the 60 s deadline; the margins hold on a loaded machine.
    expect(Date.parse(drain.ended_at) - finishedAt).toBeLessThan(5000)
    expect(returnedAt).toBeLessThan(Date.parse(drain.deadline_at) - 30_000)
    expect(query<{n: number}>(stateDir, 'SELECT COUNT(*) AS n FROM drain_history')[0]!.n).toBe(1)
  })

  it('Ctrl-C and kill -9 of the CLI only stop watching; --monitor re-attaches', async () => {
    agent = await startAgent({env})
    const {stateDir} = agent
    const gate = releaseGate(stateDir, 'work')
    const job = await trigger(agent, {name: 'work', steps: [{run: gate.run}]})
    await waitForState(agent, job.body.id!, 'running')

    const interrupted = spawnCli(['drain', '--timeout', '60s'], stateDir)
    await waitFor(() => interrupted.stdout().includes('Ctrl-C stops watching only'), {what: 'watch started'})
    interrupted.child.kill('SIGINT')
    const stopped = await interrupted.result
    expect(stopped.code).toBe(130)
    expect(stopped.stderr).toContain('Stopped watching; the drain continues')
    expect(drainRow(stateDir).state).toBe('draining')

    const killed = spawnCli(['drain', '--monitor'], stateDir)
    await waitFor(() => killed.stdout().includes('Ctrl-C stops watching only'), {what: 'monitor started'})
    killed.child.kill('SIGKILL')
    await killed.result
    expect(drainRow(stateDir).state).toBe('draining')

    const monitoring = spawnCli(['drain', '--monitor'], stateDir)
    await waitFor(() => monitoring.stdout().includes('Ctrl-C stops watching only'), {what: 'monitor re-attached'})
    gate.release()
    const monitor = await monitoring.result
    expect(monitor.code, monitor.stderr).toBe(0)
    expect(monitor.stdout).toContain(`job ${job.body.id} (work) succeeded`)
    expect(monitor.stdout).toMatch(/Drained\. 0 running/)
  })

  it('a job that ignores SIGTERM is SIGKILLed after the grace period and recorded killed', async () => {
    agent = await startAgent({env})
    const {stateDir} = agent
    const stubborn = await trigger(agent, {name: 'stubborn', steps: [{run: `trap '' TERM; sleep 60`}]})
    const running = await waitForState(agent, stubborn.body.id!, 'running')
    const started = Date.now()
    const drain = await runCli(['drain', '--timeout', '500ms', '--force', '--grace-period', '1500ms', '--json'], {stateDir})
    expect(drain.code, drain.stderr).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
    expect(parseAs<{jobsKilled: unknown}>('drain', drain.stdout).jobsKilled).toEqual([{id: stubborn.body.id, name: 'stubborn', state: 'cancelled', reason: 'drain-timeout'}])
    expect(await groupAlive(pgidOf(running))).toBe(false)
  })
})
