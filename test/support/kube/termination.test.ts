// The order in which the test API server ends a failing or succeeding Job and its pods, and how its kubelet reports the
// containers of a killed pod, against the real @kubernetes/client-node. Sources:
//   - Jobs, "Termination of Job pods" and "Job termination and cleanup" (v1.31+: FailureTarget / SuccessCriteriaMet
//     first, pods terminated, then Failed / Complete): https://kubernetes.io/docs/concepts/workloads/controllers/job/#termination-of-job-pods
//   - KEP-4368 (JobManagedBy: terminal conditions only once all pods are terminated, kubernetes/kubernetes#123775) and
//     KEP-3939 (JobPodReplacementPolicy: status.terminating)
//   - Pod lifecycle, "Termination of Pods" and "Forced Pod termination": https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
//   - the kubelet status manager's TerminatePod (containers that never ran are not reported as having exited 0)

import {BatchV1Api, CoreV1Api, KubeConfig, type V1Job} from '@kubernetes/client-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type Job, KubeApiServer, type Pod, type WatchEvent} from '../kube-api-server.js'
import {collectWatch, type Collected} from './test-client.js'

interface Cluster {
  server: KubeApiServer
  kc: KubeConfig
  core: CoreV1Api
  batch: BatchV1Api
}

async function cluster(options: ConstructorParameters<typeof KubeApiServer>[0] = {}): Promise<Cluster> {
  const server = new KubeApiServer(options)
  await server.start()
  const kc = new KubeConfig()
  kc.loadFromFile(server.writeKubeconfig())
  return {server, kc, core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api)}
}

function jobBody(name: string, extra: {backoffLimit?: number; grace?: number; inits?: number} = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {name},
    spec: {
      backoffLimit: extra.backoffLimit ?? 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: extra.grace ?? 1,
          ...(extra.inits ? {initContainers: Array.from({length: extra.inits}, (_, index) => ({name: `step-${index + 1}`, image: 'busybox:1.36'}))} : {}),
          containers: [{name: 'main', image: 'busybox:1.36'}],
        },
      },
    },
  }
}

/** Job and pod watch events of one namespace in resourceVersion order, as `kind TYPE what`. */
function timeline(jobs: Collected, pods: Collected): string[] {
  const tagged = [
    ...jobs.events.map((event) => ({event, kind: 'job'})),
    ...pods.events.map((event) => ({event, kind: 'pod'})),
  ].sort((a, b) => Number(a.event.object.metadata?.resourceVersion) - Number(b.event.object.metadata?.resourceVersion))
  return tagged.map(({event, kind}) => `${kind} ${event.type} ${kind === 'job' ? jobSummary(event) : podSummary(event)}`)
}

function jobSummary(event: WatchEvent): string {
  const job = event.object as Job
  const conditions = (job.status?.conditions ?? []).filter((condition) => condition.status === 'True').map((condition) => condition.type)
  return `[${conditions.join(',')}] terminating=${job.status?.terminating ?? 0}`
}

function podSummary(event: WatchEvent): string {
  const pod = event.object as Pod
  return `${pod.status.phase}${pod.metadata.deletionTimestamp ? ' terminating' : ''}`
}

let modern: Cluster
let legacy: Cluster
let counter = 0

beforeAll(async () => {
  modern = await cluster()
  legacy = await cluster({gitVersion: 'v1.30.6'})
})

afterAll(async () => {
  await modern.server.stop()
  await legacy.server.stop()
})

async function namespace(target: Cluster): Promise<string> {
  const name = `term-${++counter}`
  await target.core.createNamespace({body: {metadata: {name}}})
  return name
}

describe('Job termination order, Kubernetes ≥ 1.31 (the default: v1.33.1)', () => {
  it('at activeDeadlineSeconds: FailureTarget first, the pod terminated and shown Failed, then Failed with the same reason', async () => {
    const {server, kc, batch} = modern
    const ns = await namespace(modern)
    await batch.createNamespacedJob({namespace: ns, body: jobBody('deadline')})
    const pod = server.jobPodName(ns, 'deadline')
    server.startPod(pod)
    const jobs = await collectWatch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, {resourceVersion: server.resourceVersion})
    const pods = await collectWatch(kc, `/api/v1/namespaces/${ns}/pods`, {resourceVersion: server.resourceVersion})
    server.expireJobDeadline(ns, 'deadline')
    const interim = await batch.readNamespacedJob({namespace: ns, name: 'deadline'})
    expect(interim.status?.conditions?.map((condition) => [condition.type, condition.reason])).toEqual([['FailureTarget', 'DeadlineExceeded']])
    expect(interim.status).toMatchObject({active: 0, terminating: 1})
    await jobs.waitFor((events) => events.some((event) => jobSummary(event).includes('Failed]')))
    await pods.waitFor((events) => events.some((event) => event.type === 'DELETED'))
    expect(timeline(jobs, pods)).toEqual([
      'job MODIFIED [FailureTarget] terminating=1',
      'pod MODIFIED Running terminating',
      'pod MODIFIED Failed terminating',
      'job MODIFIED [FailureTarget,Failed] terminating=0',
      'pod DELETED Failed terminating',
    ])
    const failed = (await batch.readNamespacedJob({namespace: ns, name: 'deadline'})).status
    expect(failed?.conditions?.find((condition) => condition.type === 'Failed')).toMatchObject({reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline'})
    expect(failed?.failed).toBe(1)
    const killed = pods.events.find((event) => podSummary(event).startsWith('Failed'))!.object as Pod
    expect(killed.status.containerStatuses?.[0]?.state.terminated).toMatchObject({exitCode: 137, reason: 'Error'})
    jobs.abort()
    pods.abort()
  })

  it('at the backoff limit and at completion: the interim condition and the terminal one are separate updates, in that order', async () => {
    const {server, kc, batch} = modern
    const ns = await namespace(modern)
    const jobs = await collectWatch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, {resourceVersion: server.resourceVersion})
    await batch.createNamespacedJob({namespace: ns, body: jobBody('bad')})
    server.failPod(server.jobPodName(ns, 'bad'))
    await batch.createNamespacedJob({namespace: ns, body: jobBody('good')})
    server.succeedPod(server.jobPodName(ns, 'good'))
    await jobs.waitFor((events) => events.filter((event) => /Failed\]|Complete\]/.test(jobSummary(event))).length === 2)
    const conditions = (name: string) => jobs.events.filter((event) => (event.object.metadata as {name?: string}).name === name).map((event) => jobSummary(event).replace(/ terminating=\d/, ''))
    expect(conditions('bad').slice(-2)).toEqual(['[FailureTarget]', '[FailureTarget,Failed]'])
    expect(conditions('good').slice(-2)).toEqual(['[SuccessCriteriaMet]', '[SuccessCriteriaMet,Complete]'])
    expect(server.getJob(ns, 'bad')?.status.conditions?.find((condition) => condition.type === 'Failed')?.reason).toBe('BackoffLimitExceeded')
    expect(server.getJob(ns, 'good')?.status.completionTime).toBeDefined()
    jobs.abort()
  })
})

describe('Job termination order, Kubernetes ≤ 1.30 (gitVersion v1.30.6, or jobTermination: failed-at-once)', () => {
  it('at activeDeadlineSeconds: Failed at once, without FailureTarget, while the pod is still terminating', async () => {
    const {server, kc, batch} = legacy
    const ns = await namespace(legacy)
    await batch.createNamespacedJob({namespace: ns, body: jobBody('deadline')})
    server.startPod(server.jobPodName(ns, 'deadline'))
    const jobs = await collectWatch(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, {resourceVersion: server.resourceVersion})
    const pods = await collectWatch(kc, `/api/v1/namespaces/${ns}/pods`, {resourceVersion: server.resourceVersion})
    server.expireJobDeadline(ns, 'deadline')
    const job = await batch.readNamespacedJob({namespace: ns, name: 'deadline'})
    expect(job.status?.conditions?.map((condition) => [condition.type, condition.reason])).toEqual([['Failed', 'DeadlineExceeded']])
    await pods.waitFor((events) => events.some((event) => event.type === 'DELETED'))
    await jobs.waitFor((events) => events.some((event) => jobSummary(event).endsWith('terminating=0')))
    expect(timeline(jobs, pods)).toEqual([
      'pod MODIFIED Running terminating',
      'job MODIFIED [Failed] terminating=1',
      'pod MODIFIED Failed terminating',
      'pod DELETED Failed terminating',
      'job MODIFIED [Failed] terminating=0',
    ])
    jobs.abort()
    pods.abort()
  })

  it('is chosen by jobTermination whatever the gitVersion', async () => {
    const explicit = await cluster({jobTermination: 'failed-at-once'})
    try {
      await explicit.batch.createNamespacedJob({namespace: 'default', body: jobBody('bad')})
      explicit.server.failPod(explicit.server.jobPodName('default', 'bad'))
      expect(explicit.server.getJob('default', 'bad')?.status.conditions?.map((condition) => condition.type)).toEqual(['Failed'])
    } finally {
      await explicit.server.stop()
    }
  })
})

describe('the kubelet ends a pod as the status manager reports it', () => {
  it('a killed pod: the running init container exits 137, later ones stay waiting, app containers of an uninitialized pod are not run', async () => {
    const {server, batch} = modern
    const ns = await namespace(modern)
    await batch.createNamespacedJob({namespace: ns, body: jobBody('steps', {inits: 3})})
    const pod = server.jobPodName(ns, 'steps')
    server.runInitContainer(pod, 'step-1')
    server.finishInitContainer(pod, 'step-1', 0)
    server.runInitContainer(pod, 'step-2')
    const pods = await collectWatch(modern.kc, `/api/v1/namespaces/${ns}/pods`, {resourceVersion: server.resourceVersion})
    server.expireJobDeadline(ns, 'steps')
    await pods.waitFor((events) => events.some((event) => event.type === 'DELETED'))
    const final = pods.events.find((event) => podSummary(event).startsWith('Failed'))!.object as Pod
    const states = [...final.status.initContainerStatuses!, ...final.status.containerStatuses!].map((status) => [status.name, status.state])
    expect(states).toEqual([
      ['step-1', {terminated: expect.objectContaining({exitCode: 0, reason: 'Completed'})}],
      ['step-2', {terminated: expect.objectContaining({exitCode: 137, reason: 'Error'})}],
      ['step-3', {waiting: {reason: 'PodInitializing'}}],
      ['main', {waiting: {reason: 'PodInitializing'}}],
    ])
    pods.abort()
  })

  it('a pod evicted before any container ran reports its first init container ContainerStatusUnknown, never Completed', async () => {
    const {server, batch} = modern
    const ns = await namespace(modern)
    await batch.createNamespacedJob({namespace: ns, body: jobBody('evicted', {inits: 2})})
    const pod = server.jobPodName(ns, 'evicted')
    server.evictPod(pod)
    const status = server.getPod(pod).status
    expect(status.phase).toBe('Failed')
    expect(status.initContainerStatuses?.map((init) => init.state)).toEqual([
      {terminated: expect.objectContaining({exitCode: 137, reason: 'ContainerStatusUnknown'})},
      {waiting: {reason: 'PodInitializing'}},
    ])
    expect(status.containerStatuses?.[0]?.state).toEqual({waiting: {reason: 'PodInitializing'}})
  })
})

describe('deleting a terminating pod again', () => {
  it('with a shorter grace period shortens it, counted from the first DELETE; a longer one changes nothing', async () => {
    const {server, core} = modern
    const ns = await namespace(modern)
    await modern.batch.createNamespacedJob({namespace: ns, body: jobBody('slow', {grace: 30})})
    const pod = server.jobPodName(ns, 'slow')
    server.startPod(pod)
    await core.deleteNamespacedPod({namespace: ns, name: pod})
    expect(server.getPod(pod).metadata.deletionGracePeriodSeconds).toBe(30)
    await core.deleteNamespacedPod({namespace: ns, name: pod, gracePeriodSeconds: 60})
    expect(server.getPod(pod).metadata.deletionGracePeriodSeconds).toBe(30)
    const pods = await collectWatch(modern.kc, `/api/v1/namespaces/${ns}/pods`, {resourceVersion: server.resourceVersion})
    const shortened = await core.deleteNamespacedPod({namespace: ns, name: pod, gracePeriodSeconds: 1})
    expect(shortened.metadata?.deletionGracePeriodSeconds).toBe(1)
    await pods.waitFor((events) => events.some((event) => event.type === 'DELETED'), 5000)
    expect(pods.events.map((event) => `${event.type} ${podSummary(event)}`)).toEqual(['MODIFIED Running terminating', 'MODIFIED Failed terminating', 'DELETED Failed terminating'])
    pods.abort()
  })

  it('with grace 0 (kubectl delete --force) removes it at once, even when the kubelet cannot kill it', async () => {
    const {server, core} = modern
    const ns = await namespace(modern)
    await modern.batch.createNamespacedJob({namespace: ns, body: jobBody('stuck', {grace: 1})})
    const pod = server.jobPodName(ns, 'stuck')
    server.startPod(pod)
    server.hangTerminating()
    try {
      await core.deleteNamespacedPod({namespace: ns, name: pod})
      expect(server.getPod(pod).metadata.deletionTimestamp).toBeDefined()
      await core.deleteNamespacedPod({namespace: ns, name: pod, body: {gracePeriodSeconds: 0, propagationPolicy: 'Background'}})
      expect(server.get('pods', ns, pod)).toBeUndefined()
    } finally {
      server.hangTerminating(false)
    }
  })
})
