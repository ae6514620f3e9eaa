// How the simulated job controller and kubelet end a Job and its pods, in the order of the Kubernetes release the test
// API server impersonates.
//
// Kubernetes ≥ 1.31 ("Termination of Job Pods", https://kubernetes.io/docs/concepts/workloads/controllers/job/#termination-of-job-pods;
// KEP-4368 JobManagedBy and KEP-3939 JobPodReplacementPolicy, kubernetes/kubernetes#123775): once a Job meets its failure
// (or success) criteria the controller adds `FailureTarget` (or `SuccessCriteriaMet`), terminates the Job's pods that
// still run, and adds the terminal `Failed` (or `Complete`) condition, with the same reason and message, only when all
// of them are terminated; meanwhile `status.terminating` counts them. Before 1.31 a Job got `Failed`/`Complete` at
// once (and no `FailureTarget` for a deadline or the backoff limit) while its pods were still being killed.
//
// The kubelet's side (pod-lifecycle "Termination of Pods", https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination,
// and the kubelet status manager's TerminatePod): a deleted pod's containers are killed when its grace period ends
// (137: SIGKILL, reason Error), the pod is moved to a terminal phase (Failed unless it had succeeded) and only then
// removed from the API. Containers with no evidence of a start are not reported as having run: init containers that
// started or come before one that did, and app containers of an initialized pod, become
// `terminated: {exitCode: 137, reason: ContainerStatusUnknown}`; the trailing init containers that never started, and
// the app containers of a pod whose init containers did not all finish, stay `waiting` (PodInitializing).

import type {ContainerStatus, Pod} from './types.js'

/**
 * `failure-target-first`: Kubernetes ≥ 1.31 (FailureTarget/SuccessCriteriaMet, pods terminated, then Failed/Complete).
 * `failed-at-once`: Kubernetes ≤ 1.30 (only Failed/Complete, added at once, pods killed afterwards).
 */
export type JobTermination = 'failure-target-first' | 'failed-at-once'

/** The order of the release a gitVersion such as `v1.33.1` names. */
export function jobTerminationFor(gitVersion: string): JobTermination {
  const [, major, minor] = gitVersion.match(/^v(\d+)\.(\d+)/) ?? []
  if (major === undefined || minor === undefined) return 'failure-target-first'
  return Number(major) > 1 || Number(minor) >= 31 ? 'failure-target-first' : 'failed-at-once'
}

/** The interim condition that starts termination, and the terminal one that follows it. */
export const FAILURE = {interim: 'FailureTarget', terminal: 'Failed'} as const
export const SUCCESS = {interim: 'SuccessCriteriaMet', terminal: 'Complete'} as const

const UNKNOWN_MESSAGE = 'The container could not be located when the pod was terminated'

export interface ContainerExit {
  exitCode: number
  reason: string
  message?: string
}

/** An init container that exited 0: the only kind the kubelet counts towards an initialized pod. */
function initDone(status: ContainerStatus): boolean {
  return status.state.terminated?.exitCode === 0
}

/** The init containers that have tried to start, plus everything before them (always at least the first). */
function initializedPrefix(statuses: ContainerStatus[]): number {
  for (let index = statuses.length - 1; index >= 0; index--) {
    const status = statuses[index]!
    if (!status.state.waiting || status.lastState.terminated) return index + 1
  }
  return Math.min(1, statuses.length)
}

/**
 * The kubelet ends a pod: each running container exits with `exitOf(name)`, and containers that never ran are reported
 * as TerminatePod does (see the module comment). Leaves the phase to the caller.
 */
export function endContainers(pod: Pod, finishedAt: string, exitOf: (name: string) => ContainerExit): void {
  const inits = pod.status.initContainerStatuses ?? []
  const initialized = inits.every(initDone)
  const prefix = initializedPrefix(inits)
  inits.forEach((status, index) => {
    if (status.state.terminated) return
    if (status.state.running) status.state = {terminated: {...exitOf(status.name), startedAt: status.state.running.startedAt, finishedAt, containerID: status.containerID}}
    else if (index < prefix) status.state = {terminated: {exitCode: 137, reason: 'ContainerStatusUnknown', message: UNKNOWN_MESSAGE}}
    status.ready = false
    status.started = false
  })
  for (const status of pod.status.containerStatuses ?? []) {
    if (status.state.terminated) continue
    if (status.state.running) status.state = {terminated: {...exitOf(status.name), startedAt: status.state.running.startedAt, finishedAt, containerID: status.containerID}}
    else if (initialized) status.state = {terminated: {exitCode: 137, reason: 'ContainerStatusUnknown', message: UNKNOWN_MESSAGE}}
    status.ready = false
    status.started = false
  }
}

/** SIGKILL at the end of the grace period, as the kubelet reports it for a container that did not exit on SIGTERM. */
export const KILLED: ContainerExit = {exitCode: 137, reason: 'Error'}
