// Builders for standalone pods with a given status, for KubeApiServer.createPod: the Dex and registry pods that
// health checks look at. The shapes follow what a kubelet reports (pod-lifecycle docs: phases, container states,
// conditions), e.g. CrashLoopBackOff is phase Running with a container waiting and restartCount > 0.

import type {Condition, ContainerStatus, PodInput} from './types.js'

const at = '2025-01-01T00:00:00Z'

interface PodOptions {
  name: string
  labels?: Record<string, string>
  container?: string
  image?: string
}

function base(options: PodOptions): Omit<PodInput, 'status'> {
  const container = options.container ?? 'main'
  return {
    metadata: {name: options.name, ...(options.labels ? {labels: options.labels} : {})},
    spec: {containers: [{name: container, image: options.image ?? 'ghcr.io/example/app:1.0'}], nodeName: 'danube-test-node', restartPolicy: 'Always', terminationGracePeriodSeconds: 30},
  }
}

function condition(type: string, status: Condition['status'], reason?: string, message?: string): Condition {
  return {type, status, lastProbeTime: null, lastTransitionTime: at, ...(reason ? {reason} : {}), ...(message ? {message} : {})}
}

function containerStatus(options: PodOptions, fields: Partial<ContainerStatus>): ContainerStatus {
  return {
    name: options.container ?? 'main', image: options.image ?? 'ghcr.io/example/app:1.0', imageID: '', ready: false, started: false, restartCount: 0,
    state: {}, lastState: {}, ...fields,
  }
}

/** Running, all containers ready (or not ready: readiness probe failing). */
export function runningPod(options: PodOptions & {ready?: boolean; restartCount?: number}): PodInput {
  const ready = options.ready ?? true
  const readiness = ready ? 'True' : 'False'
  const reason = ready ? undefined : 'ContainersNotReady'
  return {
    ...base(options),
    status: {
      phase: 'Running', podIP: '10.42.0.10', hostIP: '127.0.0.1', startTime: at, qosClass: 'BestEffort',
      conditions: [condition('PodReadyToStartContainers', 'True'), condition('Initialized', 'True'), condition('Ready', readiness, reason),
        condition('ContainersReady', readiness, reason), condition('PodScheduled', 'True')],
      containerStatuses: [containerStatus(options, {ready, started: true, restartCount: options.restartCount ?? 0, imageID: 'ghcr.io/example/app@sha256:' + '0'.repeat(64),
        containerID: 'containerd://' + '1'.repeat(64), state: {running: {startedAt: at}}})],
    },
  }
}

/** Running phase, container restarting and waiting in CrashLoopBackOff. */
export function crashLoopPod(options: PodOptions & {restartCount?: number; exitCode?: number}): PodInput {
  const container = options.container ?? 'main'
  const message = `containers with unready status: [${container}]`
  return {
    ...base(options),
    status: {
      phase: 'Running', podIP: '10.42.0.11', hostIP: '127.0.0.1', startTime: at, qosClass: 'BestEffort',
      conditions: [condition('PodReadyToStartContainers', 'True'), condition('Initialized', 'True'), condition('Ready', 'False', 'ContainersNotReady', message),
        condition('ContainersReady', 'False', 'ContainersNotReady', message), condition('PodScheduled', 'True')],
      containerStatuses: [containerStatus(options, {
        restartCount: options.restartCount ?? 5,
        state: {waiting: {reason: 'CrashLoopBackOff', message: `back-off 2m40s restarting failed container=${container} pod=${options.name}_danube-system(00000000-0000-0000-0000-000000000000)`}},
        lastState: {terminated: {exitCode: options.exitCode ?? 1, reason: 'Error', startedAt: at, finishedAt: at}},
      })],
    },
  }
}

/** Pending, never scheduled: PodScheduled False reason Unschedulable (and no nodeName). */
export function unschedulablePod(options: PodOptions & {message?: string}): PodInput {
  const pod = base(options)
  delete pod.spec.nodeName
  return {
    ...pod,
    status: {
      phase: 'Pending', qosClass: 'BestEffort',
      conditions: [condition('PodScheduled', 'False', 'Unschedulable', options.message ?? '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.')],
    },
  }
}

/** Pending, scheduled, image cannot be pulled (ImagePullBackOff or ErrImagePull). */
export function imagePullPod(options: PodOptions & {reason?: 'ImagePullBackOff' | 'ErrImagePull'}): PodInput {
  const image = options.image ?? 'ghcr.io/example/app:1.0'
  const container = options.container ?? 'main'
  const message = `containers with unready status: [${container}]`
  return {
    ...base(options),
    status: {
      phase: 'Pending', hostIP: '127.0.0.1', startTime: at, qosClass: 'BestEffort',
      conditions: [condition('PodReadyToStartContainers', 'True'), condition('Initialized', 'True'), condition('Ready', 'False', 'ContainersNotReady', message),
        condition('ContainersReady', 'False', 'ContainersNotReady', message), condition('PodScheduled', 'True')],
      containerStatuses: [containerStatus(options, {state: {waiting: {reason: options.reason ?? 'ImagePullBackOff', message: `Back-off pulling image "${image}"`}}})],
    },
  }
}
