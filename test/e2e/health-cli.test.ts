// `danube health` as cron runs it: bin/run.js in a child process, monitoring-plugin exit codes, the same
// document whether the agent answers or not, a read-only state directory (as uid 65534), the CLI's own
// timeout, and an import graph without the heavy clients.
import {chmodSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HealthDocument} from '../../src/agent/health/types.js'
import {type AgentProcess, REPO_ROOT, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {staticImportGraph} from '../support/imports.js'

const parse = (stdout: string) => JSON.parse(stdout) as HealthDocument

describe('danube health', () => {
  let agent: AgentProcess
  let stateDir: string
  const env = {DANUBE_HEALTH_CACHE_TTL: '1s'}
  beforeAll(async () => {
    agent = await startAgent({env})
    stateDir = agent.stateDir
  })
  afterAll(async () => {
    await agent.stop('SIGKILL')
    removeStateDir(stateDir)
  })

  it('with the agent up: exit 0, a first line for monitoring, and the agent\'s document with agent:heartbeat', async () => {
    const human = await runCli(['health'], {stateDir, env})
    expect(human.code).toBe(0)
    const [first, ...rest] = human.stdout.trim().split('\n')
    expect(first).toMatch(/^DANUBE OK - 4 checks pass \(agent 127\.0\.0\.1:\d+\) \| 'database:responseTime'=[\d.]+ms;;;0; 'agent:heartbeat'=[\d.]+s;;;0;$/)
    expect(rest).toEqual([expect.stringMatching(/^\[OK\] database:responseTime/), expect.stringMatching(/^\[OK\] drain:state active/), expect.stringMatching(/^\[OK\] executor:isolation bubblewrap/), expect.stringMatching(/^\[OK\] agent:heartbeat/)])
    const json = await runCli(['health', '--json'], {stateDir, env})
    expect(json.code).toBe(0)
    const document = parse(json.stdout)
    expect(Object.keys(document.checks).sort()).toEqual(['agent:heartbeat', 'database:responseTime', 'drain:state', 'executor:isolation'])
    expect(document.checks['agent:heartbeat']![0]).toMatchObject({status: 'pass', observedUnit: 's', output: expect.stringContaining('the agent answered')})
    expect(document.checks['database:responseTime']![0]!.output).toBeTruthy()
  })

  it('--exclude leaves checks out; an unknown key, a bad flag or a bad --timeout is UNKNOWN (3)', async () => {
    const excluded = await runCli(['health', '--json', '--exclude', 'drain:state', '--exclude', 'agent:heartbeat', '--exclude', 'executor:isolation'], {stateDir, env})
    expect(Object.keys(parse(excluded.stdout).checks)).toEqual(['database:responseTime'])
    const unknown = await runCli(['health', '--exclude', 'nope:x'], {stateDir, env})
    expect(unknown.code).toBe(3)
    expect(unknown.stdout).toMatch(/^DANUBE UNKNOWN - --exclude: no health check named "nope:x"/)
    const unknownJson = await runCli(['health', '--json', '--exclude', 'nope:x'], {stateDir, env})
    expect(unknownJson.code).toBe(3)
    expect(JSON.parse(unknownJson.stdout)).toMatchObject({error: {code: 'UNKNOWN_CHECK', exitCode: 3}})
    expect((await runCli(['health', '--bogus'], {stateDir, env})).code).toBe(3)
    expect((await runCli(['health', '--timeout', '10'], {stateDir, env})).code).toBe(3)
  })

  it('the CLI\'s own --timeout expiring is UNKNOWN (3)', async () => {
    const result = await runCli(['health', '--timeout', '1ms'], {stateDir, env})
    expect(result.code).toBe(3)
    expect(result.stdout).toMatch(/^DANUBE UNKNOWN - health checks did not finish within 1ms/)
  })

  it('exit 1 while a degrading check has failed fewer than failureThreshold times, 2 once it fails (agent up)', async () => {
    const broken = {...env, DANUBE_CAC_REPO: path.join(stateDir, 'no-such-repo')}
    await agent.stop('SIGTERM')
    agent = await startAgent({stateDir, env: broken})
    const codes = new Set<number>()
    await waitFor(async () => {
      const result = await runCli(['health', '--json'], {stateDir, env: broken})
      codes.add(result.code)
      return result.code === 2 ? parse(result.stdout) : undefined
    }, {timeoutMs: 25_000, what: 'exit 2'})
    expect([...codes].every((code) => code === 1 || code === 2)).toBe(true)
    const last = parse((await runCli(['health', '--json'], {stateDir, env: broken})).stdout)
    expect(last.status).toBe('warn')
    expect(last.checks['cac:freshness']![0]).toMatchObject({status: 'fail', output: expect.stringContaining('never synced successfully')})
  })

  it('with the agent down: the same checks in-process plus agent:heartbeat fail with its age; exit 2', async () => {
    await agent.stop('SIGTERM')
    const result = await runCli(['health', '--json'], {stateDir, env})
    expect(result.code).toBe(2)
    const document = parse(result.stdout)
    expect(Object.keys(document.checks).sort()).toEqual(['agent:heartbeat', 'database:responseTime', 'drain:state', 'executor:isolation'])
    expect(document.status).toBe('fail')
    expect(document.checks['database:responseTime']![0]!.status).toBe('pass')
    // Not probed by the CLI: what the last agent recorded (this one ran sandboxed).
    expect(document.checks['executor:isolation']![0]).toMatchObject({status: 'pass', observedValue: 'bubblewrap', output: expect.stringContaining('as the agent recorded at')})
    const heartbeat = document.checks['agent:heartbeat']![0]!
    expect(heartbeat).toMatchObject({status: 'fail', observedUnit: 's', output: expect.stringMatching(/did not answer .*stopped at/)})
    expect(typeof heartbeat.observedValue).toBe('number')
    const human = await runCli(['health'], {stateDir, env})
    expect(human.stdout).toMatch(/^DANUBE CRITICAL - agent:heartbeat fail [\d.]+s \(agent not answering at /)
  })

  it('a read-only state directory (run as uid 65534): database:responseTime fails, exit 2, nothing created', async () => {
    chmodSync(stateDir, 0o755)
    const result = await runCli(['health', '--json'], {stateDir, env: {...env, HOME: '/tmp'}, uid: 65534})
    expect(result.code).toBe(2)
    const database = parse(result.stdout).checks['database:responseTime']![0]!
    expect(database.status).toBe('fail')
    expect(database.output).toMatch(/read-only|readonly|cannot open/)
  })

  it('keeps @kubernetes/client-node, @grpc/grpc-js and OpenTelemetry off its static import graph', () => {
    const seen = new Set<string>()
    staticImportGraph(path.join(REPO_ROOT, 'dist/commands/health.js'), seen)
    staticImportGraph(path.join(REPO_ROOT, 'dist/agent/health/probe.js'), seen)
    const heavy = [...seen].filter((specifier) => /^@kubernetes\/|^@grpc\/|^@opentelemetry\/|^grpc-health-check|^execa/.test(specifier))
    expect(seen.size).toBeGreaterThan(10)
    expect(heavy).toEqual([])
  })
})
