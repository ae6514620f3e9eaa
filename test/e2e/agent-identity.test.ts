// The CLI trusts an answering agent only when it serves the CLI's own state directory: agent A stopped,
// agent B (another state directory) answering on the address A's CLI uses (an ephemeral port configured
// for both, never the default). health, job run and job cancel refuse B and name both; a missing state
// directory or a database that is not SQLite is CRITICAL whatever answers.
import {writeFileSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HealthDocument} from '../../src/agent/health/types.js'
import {type AgentProcess, makeStateDir, removeStateDir, runCli, startAgent} from '../support/agent-process.js'
import {parseAs} from '../support/schemas.js'

const stateIdOf = (agent: AgentProcess) => /"stateId":"([0-9a-f]{32})"/.exec(agent.logs())![1]!

describe('an agent of another state directory on the address the CLI uses', () => {
  let a: AgentProcess
  let b: AgentProcess
  let idA: string
  let idB: string
  let env: NodeJS.ProcessEnv
  beforeAll(async () => {
    a = await startAgent()
    idA = stateIdOf(a)
    await a.stop('SIGTERM')
    b = await startAgent()
    idB = stateIdOf(b)
    // A's configured address is where B listens: exactly the false-OK set-up of the issue, on an ephemeral port.
    env = {DANUBE_HTTP_ADDR: b.httpAddr}
  })
  afterAll(async () => {
    await b.stop('SIGKILL')
    removeStateDir(a.stateDir)
    removeStateDir(b.stateDir)
  })

  it('each agent has its own state id, sent as the Danube-State-Id header, in the health documents and as gRPC metadata', async () => {
    expect(idA).not.toBe(idB)
    const live = await fetch(`${b.baseUrl}/health`)
    expect(live.headers.get('danube-state-id')).toBe(idB)
    expect(((await live.json()) as {stateId: string}).stateId).toBe(idB)
    const ready = await b.api('/health/ready')
    expect(((await ready.json()) as HealthDocument).stateId).toBe(idB)
    const api = await b.api('/api/v1/jobs')
    expect(api.headers.get('danube-state-id')).toBe(idB)
    const unauthorized = await fetch(`${b.baseUrl}/api/v1/jobs`)
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.headers.get('danube-state-id')).toBe(idB)
  })

  it('health: agent:heartbeat fails naming the agent that answered and the one expected; CRITICAL, exit 2', async () => {
    const result = await runCli(['health', '--json'], {stateDir: a.stateDir, env})
    expect(result.code).toBe(2)
    const document = parseAs<HealthDocument>('health', result.stdout)
    expect(document.status).toBe('fail')
    const heartbeat = document.checks['agent:heartbeat']![0]!
    expect(heartbeat.status).toBe('fail')
    expect(heartbeat.output).toContain(`the agent of another state directory (state id ${idB}) answered at ${b.httpAddr}, not the agent of ${a.stateDir} (state id ${idA})`)
    // The database check is A's own, run in this process, not B's.
    expect(document.checks['database:responseTime']![0]!.componentId ?? document.checks['database:responseTime']![0]!.output).toContain(a.stateDir)
    const human = await runCli(['health'], {stateDir: a.stateDir, env})
    expect(human.code).toBe(2)
    expect(human.stdout).toMatch(/^DANUBE CRITICAL - (.*, )?agent:heartbeat fail/)
    expect(human.stdout).toMatch(/^\[CRITICAL\] agent:heartbeat .*not trusted: the agent of another state directory/m)
    expect(human.stdout).not.toContain('[OK] agent:heartbeat')
  })

  it('sends the token only to an agent that proved to be this state directory\'s', async () => {
    // An impostor that records what it is sent and answers with a foreign state id.
    const seen: {url: string; authorization?: string}[] = []
    const impostor = createServer((req, res) => {
      seen.push({url: req.url ?? '', authorization: req.headers.authorization})
      res.writeHead(200, {'Content-Type': 'application/health+json', 'Danube-State-Id': idB})
      res.end(JSON.stringify({status: 'pass', version: 'x', releaseId: 'x', serviceId: 'danube-agent', description: 'x', time: new Date().toISOString(), checks: {}}))
    })
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve))
    const addr = `127.0.0.1:${(impostor.address() as AddressInfo).port}`
    try {
      const health = await runCli(['health', '--json'], {stateDir: a.stateDir, env: {DANUBE_HTTP_ADDR: addr}})
      expect(health.code).toBe(2)
      const run = await runCli(['job', 'run', '--file', '-'], {stateDir: a.stateDir, env: {DANUBE_HTTP_ADDR: addr}, input: 'name: x\nsteps: [{run: "true"}]\n'})
      expect(run.code).toBe(1)
      expect(seen.length).toBeGreaterThanOrEqual(2)
      expect(seen.map((request) => request.authorization)).toEqual(seen.map(() => undefined))
    } finally {
      impostor.close()
    }
  })

  it('job run and job cancel refuse B with exit 1 and admit nothing there', async () => {
    const run = await runCli(['job', 'run', '--file', '-', '--json'], {stateDir: a.stateDir, env, input: 'name: x\nsteps: [{run: "true"}]\n'})
    expect(run.code).toBe(1)
    expect(parseAs('error', run.stdout)).toMatchObject({error: {code: 'AGENT_MISMATCH', exitCode: 1, message: expect.stringContaining(`(state id ${idB}) answered at ${b.httpAddr}, not the agent of ${a.stateDir}`)}})
    const cancel = await runCli(['job', 'cancel', 'some-id'], {stateDir: a.stateDir, env})
    expect(cancel.code).toBe(1)
    expect(cancel.stderr.split('\n')[0]).toBe(`danube: the agent of another state directory (state id ${idB}) answered at ${b.httpAddr}, not the agent of ${a.stateDir} (state id ${idA})`)
    const jobs = (await (await b.api('/api/v1/jobs')).json()) as {jobs: unknown[]}
    expect(jobs.jobs).toEqual([])
  })

  it('the CLI of B\'s own state directory trusts B', async () => {
    const result = await runCli(['health', '--json'], {stateDir: b.stateDir, env})
    // Not CRITICAL (a test state directory has no signing key: provenance:signingKey warns).
    expect(result.code).toBeLessThan(2)
    expect(parseAs<HealthDocument>('health', result.stdout).checks['agent:heartbeat']![0]!.status).toBe('pass')
  })

  it('a state directory that does not exist is CRITICAL with the path and the fix, although B answers', async () => {
    const missing = path.join(a.stateDir, 'no-such-dir')
    const result = await runCli(['health', '--json'], {stateDir: missing, env})
    expect(result.code).toBe(2)
    const heartbeat = parseAs<HealthDocument>('health', result.stdout).checks['agent:heartbeat']![0]!
    expect(heartbeat).toMatchObject({status: 'fail', output: expect.stringContaining(`cannot vouch for any agent: state directory ${missing} does not exist (fix: point DANUBE_HOME`)})
    const human = await runCli(['health'], {stateDir: missing, env})
    expect(human.code).toBe(2)
    expect(human.stdout).toMatch(/^DANUBE CRITICAL - /)
  })

  it('a danube.db that is not SQLite is CRITICAL, although B answers', async () => {
    const dir = makeStateDir()
    writeFileSync(path.join(dir, 'danube.db'), 'not sqlite '.repeat(100))
    const result = await runCli(['health', '--json'], {stateDir: dir, env})
    expect(result.code).toBe(2)
    const heartbeat = parseAs<HealthDocument>('health', result.stdout).checks['agent:heartbeat']![0]!
    expect(heartbeat).toMatchObject({status: 'fail', output: expect.stringContaining(`${path.join(dir, 'danube.db')} is not a SQLite database`)})
    removeStateDir(dir)
  })
})
