// The agent's health endpoints as a real process, with the Kubernetes test API server behind it: liveness
// without I/O, the readiness document, token-gated output, ?exclude, 200 concurrent probes against the
// cache, a hanging API server, a deleted database (503 and gRPC NOT_SERVING) and shutdown.
import {unlinkSync} from 'node:fs'
import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HealthDocument} from '../../src/agent/health/types.js'
import {generateKeyPair} from '../../src/lib/provenance/keys.js'
import {type AgentProcess, makeStateDir, REPO_ROOT, removeStateDir, startAgent, waitFor} from '../support/agent-process.js'
import {waitForState} from '../support/drain.js'
import {KubeApiServer} from '../support/kube-api-server.js'
import {crashLoopPod, runningPod} from '../support/kube/pods.js'

const NS = 'danube-system'
const KUBE_PATHS = /^\/(readyz|version|api\/v1\/namespaces\/danube-system\/pods)$/
let kube: KubeApiServer
let agent: AgentProcess
let health: grpc.Client & {Check: (request: object, callback: (error: grpc.ServiceError | null, response: {status: string}) => void) => void}

beforeAll(async () => {
  kube = new KubeApiServer()
  await kube.start()
  kube.createPod(NS, runningPod({name: 'dex-1', labels: {'app.kubernetes.io/name': 'dex'}}))
  kube.createPod(NS, crashLoopPod({name: 'registry-1', labels: {'app.kubernetes.io/name': 'registry'}, restartCount: 4}))
  const stateDir = makeStateDir()
  // A signing key, so that provenance:signingKey passes (without one it warns; see provenance-local.test.ts).
  generateKeyPair(path.join(stateDir, 'keys'))
  agent = await startAgent({
    stateDir,
    env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      DANUBE_KUBERNETES_KUBECONFIG: kube.writeKubeconfig(),
      DANUBE_HEALTH_CACHE_TTL: '2s',
      DANUBE_SHUTDOWN_GRACE_PERIOD: '20s',
    },
  })
  const definition = await loader.load(path.join(REPO_ROOT, 'node_modules/grpc-health-check/proto/health/v1/health.proto'), {keepCase: true, enums: String})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {grpc: {health: {v1: {Health: grpc.ServiceClientConstructor}}}}
  health = new proto.grpc.health.v1.Health(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as typeof health
})

afterAll(async () => {
  health?.close()
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
  await kube?.stop()
})

function ready(query = '', token = true): Promise<Response> {
  return fetch(`${agent.baseUrl}/health/ready${query}`, token ? {headers: {Authorization: `Bearer ${agent.token}`}} : {})
}

function grpcStatus(): Promise<string> {
  return new Promise((resolve, reject) => health.Check({service: ''}, (error, response) => (error ? reject(error) : resolve(response.status))))
}

describe('agent health endpoints', () => {
  it('GET /health is process-local: 200 pass and no call to any dependency', async () => {
    // Its own agent with an hour-long check cache: the shared agent refreshes its checks in the background every 2 s,
    // and those calls, not /health's, would be counted on a slow machine.
    const quiet = await startAgent({
      env: {DANUBE_KUBERNETES_ENABLED: 'true', DANUBE_KUBERNETES_KUBECONFIG: kube.writeKubeconfig(), DANUBE_HEALTH_CACHE_TTL: '1h'},
    })
    try {
      // Once readiness has answered with every check finished (none "still running" past the answer's bound, whose
      // calls would land later), every result is cached for the hour.
      await waitFor(async () => {
        const response = await fetch(`${quiet.baseUrl}/health/ready?verbose`, {headers: {Authorization: `Bearer ${quiet.token}`}})
        return (await response.text()).includes('still running') ? undefined : true
      }, {what: 'every check to finish once'})
      kube.clearRequests()
      for (let i = 0; i < 20; i++) {
        const response = await fetch(`${quiet.baseUrl}/health`)
        expect(response.status).toBe(200)
        expect(response.headers.get('content-type')).toBe('application/health+json')
        expect(await response.json()).toMatchObject({status: 'pass', serviceId: expect.stringMatching(/^danube-agent@/)})
      }
      expect(kube.countRequests()).toBe(0)
    } finally {
      await quiet.stop('SIGKILL')
      removeStateDir(quiet.stateDir)
    }
  })

  it('GET /health/ready?verbose is the health+json document; a crash-looping registry warns, then fails after health.failureThreshold', async () => {
    // The background evaluation runs every cache interval; the second failure is reported as fail.
    const document = await waitFor(async () => {
      const current = (await (await ready('?verbose')).json()) as HealthDocument
      return current.checks['registry:pods']?.[0]?.status === 'fail' ? current : undefined
    }, {timeoutMs: 15_000, what: 'registry:pods to fail'})
    expect(Object.keys(document.checks).sort()).toEqual(['database:responseTime', 'dex:pods', 'drain:state', 'executor:isolation', 'kubernetes:responseTime', 'provenance:signingKey', 'registry:pods'])
    expect(document).toMatchObject({status: 'warn', version: '0.1.0', releaseId: '0.1.0', description: 'danube agent readiness'})
    expect(document.checks['dex:pods']![0]).toMatchObject({componentType: 'component', status: 'pass', observedValue: '1/1', observedUnit: 'ready/total'})
    expect(document.checks['registry:pods']![0]!.output).toContain('CrashLoopBackOff')
    expect(document.checks['kubernetes:responseTime']![0]).toMatchObject({componentType: 'system', status: 'pass', output: expect.stringContaining('Kubernetes v1.33.1 ready')})
    expect(document.checks['database:responseTime']![0]).toMatchObject({componentType: 'datastore', status: 'pass', observedUnit: 'ms'})
    const response = await ready('?verbose')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/health+json')
    expect(await grpcStatus()).toBe('SERVING')
  })

  it('gives only the status without the token, even with ?verbose: no check keys, component ids or values', async () => {
    for (const query of ['', '?verbose']) {
      const response = await ready(query, false)
      expect(response.status).toBe(200)
      const text = await response.text()
      const document = JSON.parse(text) as Record<string, unknown>
      expect(document.status).toMatch(/^(pass|warn)$/)
      expect(Object.keys(document).sort()).toEqual(['description', 'status'])
      expect(text).not.toContain(agent.stateDir)
      expect(text).not.toContain('database:responseTime')
    }
  })

  it('withholds output with the token but without ?verbose, keeping statuses and values', async () => {
    const document = (await (await ready('')).json()) as HealthDocument
    for (const [key, [result]] of Object.entries(document.checks)) {
      expect(result, key).not.toHaveProperty('output')
      expect(result!.status, key).toMatch(/pass|warn|fail/)
    }
    expect(document.checks['dex:pods']![0]!.observedValue).toBe('1/1')
  })

  it('?exclude leaves checks out (repeatable); an unknown key answers 400', async () => {
    const document = (await (await ready('?exclude=registry:pods&exclude=dex:pods&exclude=cac:freshness')).json()) as HealthDocument
    expect(Object.keys(document.checks).sort()).toEqual(['database:responseTime', 'drain:state', 'executor:isolation', 'kubernetes:responseTime', 'provenance:signingKey'])
    expect(document.status).toBe('pass')
    const bad = await ready('?exclude=kubernetes:latency')
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({error: {code: 'UNKNOWN_CHECK'}})
  })

  it('200 concurrent readiness probes cause at most one API call per check per cache interval', async () => {
    // Right after a fresh evaluation (a reading newer than the one cached now), so the burst falls in one cache interval (2s).
    const readingTime = async () => ((await (await ready('?verbose')).json()) as HealthDocument).checks['kubernetes:responseTime']![0]!.time
    const cached = await readingTime()
    await waitFor(async () => (await readingTime()) !== cached, {intervalMs: 50, what: 'a fresh evaluation'})
    kube.clearRequests()
    const started = performance.now()
    const statuses = await Promise.all(Array.from({length: 200}, async () => (await ready('?verbose')).status))
    const elapsedMs = performance.now() - started
    expect(statuses.every((s) => s === 200)).toBe(true)
    const intervals = Math.ceil(elapsedMs / 2000) + 1
    const calls = {readyz: kube.countRequests({path: '/readyz'}), version: kube.countRequests({path: '/version'}), pods: kube.countRequests({path: `/api/v1/namespaces/${NS}/pods`})}
    expect(calls.readyz + calls.version).toBeLessThanOrEqual(intervals)
    expect(calls.pods).toBeLessThanOrEqual(2 * intervals)
    expect(kube.countRequests({path: KUBE_PATHS})).toBe(kube.countRequests())
  })

  it('stays within the bound while the API server hangs: kubernetes checks time out, /health stays 200', async () => {
    const clear = kube.fault({path: /./, hang: true})
    try {
      // Until an evaluation has met the hanging server (the cached reading before the fault has expired).
      await waitFor(async () => ((await (await ready('?verbose')).json()) as HealthDocument).checks['kubernetes:responseTime']![0]!.status !== 'pass', {intervalMs: 100, what: 'the hang to be seen'})
      let worst = 0
      let last: HealthDocument | undefined
      // Probes until they have crossed a cache expiry: a finished run's cached reading (answers while a run is in
      // flight say "still running"), then a newer reading, so they meet a run in flight and not one cached answer.
      let cachedTime: string | undefined
      await waitFor(async () => {
        const started = performance.now()
        const response = await ready('?verbose')
        worst = Math.max(worst, performance.now() - started)
        last = (await response.json()) as HealthDocument
        expect(response.status).toBe(200)
        const live = performance.now()
        expect((await fetch(`${agent.baseUrl}/health`)).status).toBe(200)
        expect(performance.now() - live).toBeLessThan(200)
        const kubernetes = last.checks['kubernetes:responseTime']![0]!
        if (cachedTime !== undefined) return kubernetes.time !== cachedTime
        if (!kubernetes.output?.includes('still running')) cachedTime = kubernetes.time
        return false
      }, {timeoutMs: 20_000, intervalMs: 100, what: 'a cache expiry while the API server hangs'})
      expect(worst).toBeLessThan(1500)
      expect(last!.checks['kubernetes:responseTime']![0]!.status).not.toBe('pass')
      expect(last!.checks['kubernetes:responseTime']![0]!.output).toMatch(/timed out after|KUBE_TIMEOUT/)
      expect(last!.checks['database:responseTime']![0]!.status).toBe('pass')
    } finally {
      clear()
    }
  })

  it('a deleted database fails readiness (503) and gRPC reports NOT_SERVING; liveness stays 200', async () => {
    unlinkSync(path.join(agent.stateDir, 'danube.db'))
    await waitFor(async () => (await ready()).status === 503, {timeoutMs: 8000, what: 'readiness 503'})
    const document = (await (await ready('?verbose')).json()) as HealthDocument
    expect(document.status).toBe('fail')
    expect(document.checks['database:responseTime']![0]).toMatchObject({status: 'fail', output: expect.stringContaining('no database at')})
    await waitFor(async () => (await grpcStatus()) === 'NOT_SERVING', {timeoutMs: 5000, what: 'NOT_SERVING'})
    expect((await fetch(`${agent.baseUrl}/health`)).status).toBe(200)
  })

  it('readiness fails from the first moment of shutdown while liveness stays 200', async () => {
    const created = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'hold', steps: [{run: 'sleep 30'}]})})
    expect(created.status).toBe(201)
    // A running job keeps the agent in its shutdown grace period while readiness is read.
    await waitForState(agent, ((await created.json()) as {id: string}).id, 'running')
    agent.child.kill('SIGTERM')
    const document = await waitFor(async () => {
      const current = (await (await ready('?verbose')).json()) as HealthDocument
      return current.notes?.includes('the agent is shutting down') ? current : undefined
    }, {what: 'shutting-down note'})
    expect(document.status).toBe('fail')
    expect((await fetch(`${agent.baseUrl}/health`)).status).toBe(200)
  })
})
