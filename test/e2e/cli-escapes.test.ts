// Issue 14 item 4: text that came from outside (job names, step names) never reaches the operator's
// terminal raw: human output shows control characters as escapes; --json stays exact.
import {spawnSync} from 'node:child_process'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgentProcess, BIN, removeStateDir, runCli, startAgent, testEnv, waitFor} from '../support/agent-process.js'

const HOSTILE = '\u001b[31mRED\u001b[0m \u001b]0;pwned-title\u0007 \u001b[2J\nsecond-line \u202eevil'
let agent: AgentProcess
let id: string
let printer: string

beforeAll(async () => {
  agent = await startAgent()
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: HOSTILE, steps: [{name: `step\u001b[1m\r`, run: 'true'}]})})
  expect(response.status).toBe(201)
  id = ((await response.json()) as {id: string}).id
  await waitFor(async () => ((await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}).state === 'succeeded', {what: 'the job'})
})
beforeAll(async () => {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'printer', steps: [{run: "printf 'one\\033[31mred\\033]0;title\\007\\ttab\\n'"}]})})
  printer = ((await response.json()) as {id: string}).id
  await waitFor(async () => ((await (await agent.api(`/api/v1/jobs/${printer}`)).json()) as {state: string}).state === 'succeeded', {what: 'the printer job'})
})
afterAll(async () => {
  await agent.stop('SIGKILL')
  removeStateDir(agent.stateDir)
})

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202E]/

describe('control characters in human output', () => {
  it('job list shows them escaped, one row per job', async () => {
    const result = await runCli(['job', 'list'], {stateDir: agent.stateDir})
    expect(result.code).toBe(0)
    expect(result.stdout).not.toMatch(RAW_CONTROL)
    expect(result.stdout).toContain('\\x1b[31mRED\\x1b[0m \\x1b]0;pwned-title\\x07 \\x1b[2J\\nsecond-line \\u202eevil')
    // A header and the two jobs: the newline in the name did not break the table.
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(3)
  })

  it('job show shows them escaped, in the job and step names', async () => {
    const result = await runCli(['job', 'show', id], {stateDir: agent.stateDir})
    expect(result.code).toBe(0)
    expect(result.stdout).not.toMatch(RAW_CONTROL)
    expect(result.stdout).toContain('\\x1b]0;pwned-title\\x07')
    expect(result.stdout).toContain('step\\x1b[1m\\r')
  })

  it('--json keeps the name exact', async () => {
    const list = JSON.parse((await runCli(['job', 'list', '--json'], {stateDir: agent.stateDir})).stdout) as {jobs: {id: string; name: string}[]}
    expect(list.jobs.find((job) => job.id === id)!.name).toBe(HOSTILE)
    const show = JSON.parse((await runCli(['job', 'show', id, '--json'], {stateDir: agent.stateDir})).stdout) as {name: string; steps: {name: string}[]}
    expect(show.name).toBe(HOSTILE)
    expect(show.steps[0]!.name).toBe('step\u001b[1m\r')
  })

  it('errors quoting what was sent are escaped too', async () => {
    const result = await runCli(['job', 'show', 'no\u001b]0;x\u0007such'], {stateDir: agent.stateDir})
    expect(result.code).toBe(1)
    expect(result.stderr).not.toMatch(RAW_CONTROL)
    expect(result.stderr).toContain('no job with id no\\x1b]0;x\\x07such')
  })

  it('job logs on a terminal shows the job\'s control characters as escapes; piped, it prints the exact bytes', async () => {
    // script(1) gives the command a pseudo-terminal, as an operator's shell would.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} job logs ${printer}`, '/dev/null'], {env: testEnv(agent.stateDir), encoding: 'utf8', timeout: 20_000})
    expect(tty.status).toBe(0)
    expect(tty.stdout).toContain('one\\x1b[31mred\\x1b]0;title\\x07\ttab')
    expect(tty.stdout).not.toContain('\u001b')
    const piped = await runCli(['job', 'logs', printer], {stateDir: agent.stateDir})
    expect(piped.stdout).toContain('one\u001b[31mred\u001b]0;title\u0007\ttab\n')
  })
})
