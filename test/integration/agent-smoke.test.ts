import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type AgentProcess, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'

describe('danube agent (real process)', () => {
  let agent: AgentProcess | undefined
  afterEach(async () => {
    await agent?.stop('SIGKILL')
    if (agent) removeStateDir(agent.stateDir)
    agent = undefined
  })

  it('runs a two-step job whose second step writes out.txt, and status follows the agent up and down', async () => {
    agent = await startAgent()
    const spec = {name: 'two-step', steps: [{name: 'build', run: 'echo building'}, {name: 'package', run: 'echo hello > "$DANUBE_OUTPUT_DIR/out.txt"'}]}
    const created = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
    expect(created.status).toBe(201)
    const {id} = (await created.json()) as {id: string}
    const job = await waitFor(async () => {
      const current = (await (await agent!.api(`/api/v1/jobs/${id}`)).json()) as {state: string}
      return current.state === 'succeeded' ? current : undefined
    })
    expect(job.state).toBe('succeeded')
    expect(readFileSync(path.join(agent.stateDir, 'artifacts', id, 'out.txt'), 'utf8')).toBe('hello\n')
    const running = await runCli(['status', '--json'], {stateDir: agent.stateDir})
    expect(JSON.parse(running.stdout).agent.state).toBe('running')
    expect(await agent.stop('SIGTERM')).toBe(0)
    const down = await runCli(['status', '--json'], {stateDir: agent.stateDir})
    expect(JSON.parse(down.stdout).agent.state).toBe('down')
    expect(existsSync(path.join(agent.stateDir, 'work', id))).toBe(false)
  })
})
