// kubernetes:responseTime, dex:pods and registry:pods through the real client facade (src/lib/kube) against
// the Kubernetes test API server: pods in every state, and an API server that hangs, refuses or is gone.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {evaluatePods, kubernetesCheck, lazyClient, podsCheck} from '../../../../src/agent/health/checks/kubernetes.js'
import {HealthEngine} from '../../../../src/agent/health/engine.js'
import type {CheckOutcome, HealthCheck} from '../../../../src/agent/health/types.js'
import {createKubeClient, type V1Pod} from '../../../../src/lib/kube/index.js'
import {KubeApiServer} from '../../../support/kube-api-server.js'
import {crashLoopPod, imagePullPod, runningPod, unschedulablePod} from '../../../support/kube/pods.js'

const NS = 'danube-system'
const DEX = {'app.kubernetes.io/name': 'dex'}
let server: KubeApiServer
let kubeconfig: string

beforeAll(async () => {
  server = new KubeApiServer({gitVersion: 'v1.36.4+k3s1'})
  await server.start()
  kubeconfig = server.writeKubeconfig()
  // Load @kubernetes/client-node once up front: its first load is slower than a check's timeout under vitest.
  await createKubeClient({kubeconfig})
})
afterAll(() => server.stop())
beforeEach(() => server.clearFaults())

function client(config = kubeconfig) {
  return lazyClient(() => createKubeClient({kubeconfig: config, requestTimeoutMs: 2000}))
}

function run(check: HealthCheck): Promise<CheckOutcome> {
  // Through an engine, so the check timeout applies exactly as in the agent.
  const engine = new HealthEngine({checks: [check], clock: {now: () => new Date()}, version: 't', checkTimeoutMs: 2000, responseTimeoutMs: 1500, cacheTtlMs: 0, failureThreshold: 1})
  return engine.evaluate().then((document) => document.checks[check.key]![0]! as CheckOutcome)
}

let namespaceSeq = 0
function namespace(): string {
  return `${NS}-${++namespaceSeq}`
}

describe('kubernetes:responseTime', () => {
  it('passes with /readyz and names the server version', async () => {
    const outcome = await run(kubernetesCheck(client()))
    expect(outcome).toMatchObject({status: 'pass', observedUnit: 'ms', output: expect.stringContaining('Kubernetes v1.36.4+k3s1 ready (/readyz')})
  })

  it('fails with the typed error on 401 and 403', async () => {
    const unauthorized = await run(kubernetesCheck(client(server.writeKubeconfig({token: 'wrong'}))))
    expect(unauthorized).toMatchObject({status: 'fail', output: expect.stringContaining('KUBE_UNAUTHORIZED')})
    server.fault({path: /^\/readyz$/, status: 403})
    server.fault({path: /^\/version$/, status: 403})
    const forbidden = await run(kubernetesCheck(client()))
    expect(forbidden).toMatchObject({status: 'fail', output: expect.stringContaining('KUBE_FORBIDDEN')})
  })

  it('falls back to /version when /readyz is not there', async () => {
    server.fault({path: /^\/readyz$/, status: 404})
    expect(await run(kubernetesCheck(client()))).toMatchObject({status: 'pass', output: expect.stringContaining('(/version')})
  })

  it('fails on a server that answers /readyz with 500, naming the failed checks', async () => {
    server.fault({path: /^\/readyz$/, status: 500, message: '[-]etcd failed: reason withheld'})
    expect(await run(kubernetesCheck(client()))).toMatchObject({status: 'fail', output: expect.stringContaining('not ready: /readyz answered 500')})
  })

  it('fails as unreachable when nothing listens', async () => {
    const gone = server.writeKubeconfig({server: 'https://127.0.0.1:9'})
    expect(await run(kubernetesCheck(client(gone)))).toMatchObject({status: 'fail', output: expect.stringContaining('KUBE_UNREACHABLE')})
  })

  it('fails within the bound when the API server accepts and never answers', async () => {
    server.fault({path: /^\/readyz$/, hang: true})
    const started = performance.now()
    const outcome = await run(kubernetesCheck(client()))
    expect(performance.now() - started).toBeLessThan(1500)
    expect(outcome).toMatchObject({status: 'fail', output: expect.stringMatching(/timed out after/)})
  })
})

describe('dex:pods and registry:pods', () => {
  const check = (ns: string, component: 'dex' | 'registry' = 'dex') =>
    podsCheck({component, namespace: ns, selector: `app.kubernetes.io/name=${component}`, client: client()})

  it('passes with one pod Running and Ready; observedValue is ready/total', async () => {
    const ns = namespace()
    server.createPod(ns, runningPod({name: 'dex-1', labels: DEX}))
    server.createPod(ns, runningPod({name: 'other', labels: {'app.kubernetes.io/name': 'other'}}))
    expect(await run(check(ns))).toMatchObject({status: 'pass', observedValue: '1/1', observedUnit: 'ready/total'})
  })

  it('fails when no pod matches, naming selector and namespace', async () => {
    expect(await run(check(namespace(), 'registry'))).toMatchObject({status: 'fail', observedValue: '0/0', output: expect.stringMatching(/no pods match app.kubernetes.io\/name=registry in namespace danube-system-\d+/)})
  })

  it('fails on CrashLoopBackOff with the restart count and last termination', async () => {
    const ns = namespace()
    server.createPod(ns, crashLoopPod({name: 'dex-1', labels: DEX, restartCount: 7}))
    const outcome = await run(check(ns))
    expect(outcome).toMatchObject({status: 'fail', observedValue: '0/1'})
    expect(outcome.output).toMatch(/dex-1: container main CrashLoopBackOff .*7 restarts, last terminated: Error \(exit 1\)/)
  })

  it('fails on ImagePullBackOff and on Pending with the scheduler\'s reason', async () => {
    const ns = namespace()
    server.createPod(ns, imagePullPod({name: 'dex-1', labels: DEX}))
    server.createPod(ns, unschedulablePod({name: 'dex-2', labels: DEX}))
    const outcome = await run(check(ns))
    expect(outcome.status).toBe('fail')
    expect(outcome.output).toContain('dex-1: container main ImagePullBackOff (Back-off pulling image')
    expect(outcome.output).toContain('dex-2: Pending: Unschedulable (0/1 nodes are available: 1 Insufficient memory')
  })

  it('warns when some but not all pods are ready', async () => {
    const ns = namespace()
    server.createPod(ns, runningPod({name: 'dex-1', labels: DEX}))
    server.createPod(ns, runningPod({name: 'dex-2', labels: DEX, ready: false}))
    expect(await run(check(ns))).toMatchObject({status: 'warn', observedValue: '1/2', output: expect.stringContaining('dex-2: Running but not Ready')})
  })

  it('warns when restart counts grow between runs', async () => {
    const ns = namespace()
    server.createPod(ns, runningPod({name: 'dex-1', labels: DEX, restartCount: 1}))
    const pods = check(ns)
    expect((await run(pods)).status).toBe('pass')
    server.setRestartCount(`${ns}/dex-1`, 'main', 3)
    expect(await run(pods)).toMatchObject({status: 'warn', output: expect.stringContaining('dex-1 restarted 2 time(s) (now 3')})
    expect((await run(pods)).status).toBe('pass')
  })

  it('fails with the typed error when listing pods is forbidden', async () => {
    const ns = namespace()
    server.forbid({verb: 'list', resource: 'pods', namespace: ns})
    expect(await run(check(ns))).toMatchObject({status: 'fail', output: expect.stringContaining('KUBE_FORBIDDEN')})
  })

  it('treats a terminating pod as not ready', () => {
    const pod = runningPod({name: 'dex-1', labels: DEX}) as unknown as V1Pod
    pod.metadata!.deletionTimestamp = new Date()
    expect(evaluatePods([pod], {namespace: NS, selector: 'x'})).toMatchObject({status: 'fail', output: expect.stringContaining('terminating')})
  })
})
