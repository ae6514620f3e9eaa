// kubernetes:responseTime, dex:pods and registry:pods (all degrading), over the typed client facade in
// src/lib/kube. The facade (and @kubernetes/client-node behind it) is loaded only when the first check
// runs, and only when kubernetes.enabled: `danube health` from cron must stay light.

import type {V1ContainerStatus, V1Pod} from '@kubernetes/client-node'

import {describeError} from '../engine.js'
import type {CheckOutcome, HealthCheck} from '../types.js'

/** The part of src/lib/kube's KubeClient these checks use. */
export interface KubeHealthClient {
  readonly server: string
  readyz(): Promise<{ready: boolean; endpoint: string; statusCode: number; detail?: string}>
  version(): Promise<{gitVersion: string}>
  listPods(namespace: string, labelSelector?: string): Promise<{items: V1Pod[]}>
}

export type KubeClientProvider = () => Promise<KubeHealthClient>

/** Memoises a client factory; a failed creation (bad kubeconfig) is retried on the next run. */
export function lazyClient(create: () => Promise<KubeHealthClient>): KubeClientProvider {
  let client: Promise<KubeHealthClient> | undefined
  return () => {
    client ??= create().catch((error: unknown) => {
      client = undefined
      throw error
    })
    return client
  }
}

/** The server version is read again this often; in between, each run is one /readyz call. */
const VERSION_TTL_MS = 10 * 60_000

export function kubernetesCheck(client: KubeClientProvider): HealthCheck {
  let version: {value: string; at: number} | undefined
  return {
    key: 'kubernetes:responseTime',
    componentType: 'system',
    importance: 'degrading',
    observedUnit: 'ms',
    run: async (): Promise<CheckOutcome> => {
      const started = performance.now()
      const ms = () => Math.round(performance.now() - started)
      let kube: KubeHealthClient
      try {
        kube = await client()
      } catch (error) {
        return {status: 'fail', observedValue: null, observedUnit: 'ms', output: describeError(error)}
      }
      try {
        const ready = await kube.readyz()
        if (!ready.ready) {
          return {status: 'fail', observedValue: ms(), observedUnit: 'ms', componentId: kube.server,
            output: `API server not ready: ${ready.endpoint} answered ${ready.statusCode}${ready.detail ? `: ${firstFailures(ready.detail)}` : ''}`}
        }
        const took = ms()
        if (!version || Date.now() - version.at > VERSION_TTL_MS) {
          version = {value: (await kube.version()).gitVersion, at: Date.now()}
        }
        return {status: 'pass', observedValue: took, observedUnit: 'ms', componentId: kube.server, output: `Kubernetes ${version.value} ready (${ready.endpoint} in ${took} ms)`}
      } catch (error) {
        return {status: 'fail', observedValue: ms(), observedUnit: 'ms', componentId: kube.server, output: describeError(error)}
      }
    },
  }
}

/** The `[-]name failed` lines of a failed /readyz body, which is all an operator needs. */
function firstFailures(detail: string): string {
  const failed = detail.split('\n').filter((line) => line.startsWith('[-]'))
  return (failed.length > 0 ? failed : detail.split('\n')).slice(0, 3).join('; ')
}

export interface PodsCheckOptions {
  component: 'dex' | 'registry'
  namespace: string
  selector: string
  client: KubeClientProvider
}

export function podsCheck(options: PodsCheckOptions): HealthCheck {
  const restarts = new Map<string, number>()
  return {
    key: `${options.component}:pods`,
    componentType: 'component',
    componentId: `${options.namespace}/${options.selector}`,
    importance: 'degrading',
    observedUnit: 'ready/total',
    run: async (): Promise<CheckOutcome> => {
      const kube = await options.client()
      const {items} = await kube.listPods(options.namespace, options.selector)
      return evaluatePods(items, options, restarts)
    },
  }
}

/** Waiting reasons that mean the container will not become ready by itself. */
const STUCK_REASONS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'])

/**
 * pass: at least one pod Running with Ready=True and nothing else wrong; warn: some but not all ready, or
 * restart counts grew since the last run; fail: none ready. `restarts` carries counts between runs.
 */
export function evaluatePods(pods: readonly V1Pod[], where: {namespace: string; selector: string}, restarts: Map<string, number> = new Map()): CheckOutcome {
  const total = pods.length
  if (total === 0) return {status: 'fail', observedValue: '0/0', observedUnit: 'ready/total', output: `no pods match ${where.selector} in namespace ${where.namespace}`}
  let ready = 0
  const problems: string[] = []
  const grew: string[] = []
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '(unnamed)'
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    const count = statuses.reduce((sum, status) => sum + (status.restartCount ?? 0), 0)
    const key = pod.metadata?.uid ?? name
    const before = restarts.get(key)
    if (before !== undefined && count > before) grew.push(`${name} restarted ${count - before} time(s) (now ${count}${lastTermination(statuses)})`)
    restarts.set(key, count)
    if (isReady(pod)) {
      ready++
      continue
    }
    problems.push(`${name}: ${whyNotReady(pod, statuses, count)}`)
  }
  // Forget pods that are gone, so the map does not grow without bound.
  const present = new Set(pods.map((pod) => pod.metadata?.uid ?? pod.metadata?.name ?? '(unnamed)'))
  for (const key of restarts.keys()) if (!present.has(key)) restarts.delete(key)

  const observedValue = `${ready}/${total}`
  if (ready === 0) return {status: 'fail', observedValue, observedUnit: 'ready/total', output: `no pod ready (0/${total}): ${problems.join('; ')}`}
  if (ready < total) return {status: 'warn', observedValue, observedUnit: 'ready/total', output: `${ready}/${total} pods ready: ${problems.join('; ')}`}
  if (grew.length > 0) return {status: 'warn', observedValue, observedUnit: 'ready/total', output: `all ${total} pods ready, but restarts grew: ${grew.join('; ')}`}
  return {status: 'pass', observedValue, observedUnit: 'ready/total', output: `${ready}/${total} pods ready`}
}

function isReady(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false
  if (pod.status?.phase !== 'Running') return false
  return (pod.status.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True')
}

function whyNotReady(pod: V1Pod, statuses: V1ContainerStatus[], restartCount: number): string {
  const restartsText = restartCount > 0 ? `, ${restartCount} restarts` : ''
  if (pod.metadata?.deletionTimestamp) return 'terminating'
  for (const status of statuses) {
    const waiting = status.state?.waiting
    if (waiting?.reason && STUCK_REASONS.has(waiting.reason)) {
      return `container ${status.name} ${waiting.reason}${waiting.message ? ` (${waiting.message.slice(0, 200)})` : ''}${restartsText}${lastTermination([status])}`
    }
  }
  const phase = pod.status?.phase ?? 'Unknown'
  if (phase === 'Pending') {
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled')
    if (scheduled?.status === 'False') return `Pending: ${scheduled.reason ?? 'not scheduled'}${scheduled.message ? ` (${scheduled.message.slice(0, 200)})` : ''}`
    const waiting = statuses.find((status) => status.state?.waiting?.reason)?.state?.waiting
    return `Pending${waiting?.reason ? `: ${waiting.reason}` : pod.status?.reason ? `: ${pod.status.reason}` : ''}${waiting?.message ? ` (${waiting.message.slice(0, 200)})` : ''}`
  }
  if (phase !== 'Running') return `${phase}${pod.status?.reason ? `: ${pod.status.reason}` : ''}${pod.status?.message ? ` (${pod.status.message.slice(0, 200)})` : ''}${restartsText}`
  const condition = pod.status?.conditions?.find((c) => c.type === 'Ready')
  const notReady = statuses.filter((status) => !status.ready).map((status) => status.name)
  return `Running but not Ready${condition?.reason ? ` (${condition.reason})` : ''}${notReady.length > 0 ? `: containers ${notReady.join(', ')} not ready` : ''}${restartsText}${lastTermination(statuses)}`
}

function lastTermination(statuses: V1ContainerStatus[]): string {
  const terminated = statuses.map((status) => status.lastState?.terminated).find((t) => t?.reason)
  return terminated ? `, last terminated: ${terminated.reason}${terminated.exitCode !== undefined ? ` (exit ${terminated.exitCode})` : ''}` : ''
}
