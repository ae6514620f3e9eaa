// The drain outlives the agent: recorded while it is down, carried on after a SIGKILL past the deadline.

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {drainRow, getJob, groupAlive, pgidOf, trigger, waitForState} from '../support/drain.js'

describe('drain across agent restarts (real agent)', () => {
  let agent: AgentProcess | undefined
  afterEach(async () => {
    await agent?.stop('SIGKILL')
    if (agent) removeStateDir(agent.stateDir)
    agent = undefined
  })

  it('agent SIGKILLed mid-drain and restarted after a forced deadline kills the leftover job at once and records it', async () => {
    // Leftovers exist only unsandboxed: a sandboxed step dies with its agent (bwrap --die-with-parent).
    agent = await startAgent({env: {DANUBE_JOBS_LOCAL_SANDBOX: 'none'}})
    const {stateDir} = agent
    const job = await trigger(agent, {name: 'orphan', steps: [{run: 'sleep 60'}]})
    const running = await waitForState(agent, job.body.id!, 'running')
    const detached = await runCli(['drain', '--timeout', '1s', '--force', '--detach'], {stateDir})
    expect(detached.code, detached.stderr).toBe(0)
    expect(detached.stdout).toContain('Not watching (--detach)')
    expect(await agent.stop('SIGKILL')).toBe('SIGKILL')
    // The job's process group outlives its agent; wait until the deadline has passed with nobody enforcing it.
    await new Promise((resolve) => setTimeout(resolve, 1200))
    expect(await groupAlive(pgidOf(running))).toBe(true)
    expect(drainRow(stateDir).state).toBe('draining')

    agent = await startAgent({stateDir, env: {DANUBE_JOBS_LOCAL_SANDBOX: 'none'}})
    const monitor = await runCli(['drain', '--monitor', '--json'], {stateDir})
    expect(monitor.code, monitor.stderr).toBe(0)
    expect(JSON.parse(monitor.stdout)).toMatchObject({state: 'drained', outcome: 'forced', jobsKilled: [{id: job.body.id, state: 'cancelled', reason: 'drain-timeout'}]})
    expect(await getJob(agent, job.body.id!)).toMatchObject({state: 'cancelled', reason: 'drain-timeout'})
    expect(await groupAlive(pgidOf(running))).toBe(false)
  })

  it('with the agent down, drain is recorded and says so; the agent enforces it when it starts', async () => {
    agent = await startAgent()
    const {stateDir} = agent
    expect(await agent.stop('SIGTERM')).toBe(0)
    const drain = await runCli(['drain', '--timeout', '10m', '-m', 'maintenance'], {stateDir})
    expect(drain.code, drain.stderr).toBe(0)
    expect(drain.stdout).toContain('The agent is not running')
    expect(drainRow(stateDir).state).toBe('draining')

    agent = await startAgent({stateDir})
    await waitFor(() => drainRow(stateDir).state === 'drained', {timeoutMs: 3000, what: 'drained after start'})
    const refused = await trigger(agent, {name: 'late', steps: [{run: 'true'}]})
    expect(refused.status).toBe(503)
    expect(refused.body.error?.message).toContain('(reason: maintenance)')
    const status = JSON.parse((await runCli(['status', '--json'], {stateDir})).stdout)
    expect(status.drain).toMatchObject({state: 'drained', message: 'maintenance', lastDrain: {outcome: 'drained'}})
  })
})
