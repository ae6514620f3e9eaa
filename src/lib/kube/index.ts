// Owns Danube's access to the Kubernetes API: which kubeconfig to use, and a small promise-based client with a timeout
// on every call and typed errors. Cheap to import: @kubernetes/client-node (~0.4 s to load) is only loaded by
// createKubeClient, through ./client.js; this module and ./errors.js import nothing but types from it.

import type {V1Job, V1Node, V1Pod} from '@kubernetes/client-node'
import type {DanubeConfig} from '../config/index.js'
import {parseDuration} from '../duration.js'
import {DanubeError} from '../errors.js'
import type {KubeStatus} from './errors.js'

export {describeCall, errorForStatus, parseStatus, toKubeError, type KubeCallTarget, type KubeErrorCode, type KubeStatus} from './errors.js'
export type {V1Job, V1Node, V1Pod}
import type {ObjectRef} from './resources.js'
export {objectPath, type ObjectRef} from './resources.js'

/** Any object as the API serves it (server-side apply works on these). */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [key: string]: unknown}
  [key: string]: unknown
}

export interface ApplyOptions {
  fieldManager: string
  /** Take over fields another manager owns (a 409 Conflict otherwise). */
  force?: boolean
}

export {DEFAULT_REQUEST_TIMEOUT_MS} from './defaults.js'

/** One finished API call, as the single call wrapper sees it; telemetry hooks in here. */
export interface KubeCallInfo {
  verb: string
  resource: string
  namespace?: string
  /** The object's name, for calls about one object (telemetry parents a job's calls on its span by it). */
  name?: string
  /** HTTP status when the server answered; absent for network failures and timeouts. */
  statusCode?: number
  durationMs: number
  error?: DanubeError
}

export interface KubeClientOptions {
  kubeconfig: string
  /** Timeout of every call in milliseconds (default 5000); for a watch it bounds connecting, not the stream. */
  requestTimeoutMs?: number
  onCall?: (call: KubeCallInfo) => void
  onWatch?: (event: KubeWatchEvent) => void
}

/** A watch stream opened or ended; `closed` without `aborted` means the caller will re-establish it. */
export interface KubeWatchEvent {
  resource: string
  event: 'opened' | 'closed'
  /** True when we ended it ourselves (stop, unsubscribe). */
  aborted?: boolean
  error?: DanubeError
}

export interface KubeVersion {
  gitVersion: string
  major: string
  minor: string
  platform?: string
}

export interface ReadyzResult {
  ready: boolean
  /** /readyz, or /version when the server has no /readyz. */
  endpoint: '/readyz' | '/version'
  statusCode: number
  /** Body of a failed /readyz (which checks failed). */
  detail?: string
}

export interface ListResult<T> {
  items: T[]
  /** The list's resourceVersion: start a watch from here to miss nothing. */
  resourceVersion: string
}

export type PropagationPolicy = 'Foreground' | 'Background' | 'Orphan'

export interface DeleteJobOptions {
  /** Default Background: without it batch/v1 Jobs orphan their pods. */
  propagationPolicy?: PropagationPolicy
  gracePeriodSeconds?: number
}

export interface DeletePodOptions {
  /** Overrides the pod's spec.terminationGracePeriodSeconds; 0 is a force deletion. */
  gracePeriodSeconds?: number
}

export interface WatchOptions {
  labelSelector?: string
  fieldSelector?: string
  resourceVersion?: string
  allowWatchBookmarks?: boolean
  timeoutSeconds?: number
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'

export interface WatchHandle {
  /** Stops the watch; onDone is not called after an abort. */
  abort(): void
}

/**
 * Called once when the watch ends: `null` when the server closed it normally (timeoutSeconds, restart), else a typed
 * error; KUBE_GONE means the resourceVersion expired (list again, then watch from the list's resourceVersion).
 */
export type WatchDone = (error: DanubeError | null) => void

/** Where an exec's output goes. The writables get backpressure: while one does not drain, the socket is not read. */
export interface ExecStreams {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  /** Aborting closes the connection at once (the kubelet then stops the command); exec rejects with an AbortError. */
  signal?: AbortSignal
}

/** How an exec'd command ended, from the `Status` on the error channel (v4/v5 channel protocols). */
export interface ExecOutcome {
  /** 0 for a Success status, the ExitCode cause of a NonZeroExitCode failure, null for any other failure. */
  exitCode: number | null
  status: KubeStatus
  /** The negotiated subprotocol: v5.channel.k8s.io or v4.channel.k8s.io. */
  protocol: string
}

export interface KubeClient {
  readonly kubeconfig: string
  /** The API server URL of the kubeconfig's current context. */
  readonly server: string
  version(): Promise<KubeVersion>
  readyz(): Promise<ReadyzResult>
  /** Gets the namespace, creating it when it does not exist; `created` says which. */
  ensureNamespace(name: string): Promise<{created: boolean}>
  createJob(namespace: string, body: V1Job): Promise<V1Job>
  getJob(namespace: string, name: string): Promise<V1Job>
  listJobs(namespace: string, labelSelector?: string): Promise<ListResult<V1Job>>
  deleteJob(namespace: string, name: string, options?: DeleteJobOptions): Promise<void>
  listPods(namespace: string, labelSelector?: string): Promise<ListResult<V1Pod>>
  getPod(namespace: string, name: string): Promise<V1Pod>
  deletePod(namespace: string, name: string, options?: DeletePodOptions): Promise<void>
  readPodLog(namespace: string, pod: string, container: string): Promise<string>
  /** Server-side apply (PATCH application/apply-patch+yaml) of one object of a kind in src/lib/kube/resources.ts. */
  applyObject(object: KubeObject, options: ApplyOptions): Promise<KubeObject>
  /** The object, or undefined when it does not exist. */
  getObject(ref: ObjectRef): Promise<KubeObject | undefined>
  /** Deletes the object; false when it did not exist. */
  deleteObject(ref: ObjectRef): Promise<boolean>
  listNodes(): Promise<ListResult<V1Node>>
  /**
   * Runs a command in a running container through pods/exec (RBAC: create, and get for the WebSocket GET, on
   * pods/exec) and streams its stdout and stderr. Resolves with its exit status once every byte was written to the
   * streams; rejects with a typed error when the upgrade is refused (KUBE_FORBIDDEN, KUBE_INVALID for a container that
   * is not running, …) or KUBE_UNREACHABLE when the connection ends before the status arrived.
   */
  exec(namespace: string, pod: string, container: string, command: string[], streams: ExecStreams): Promise<ExecOutcome>
  /** Watches a collection path such as /apis/batch/v1/namespaces/x/jobs; resolves once connected. */
  watch<T = unknown>(path: string, options: WatchOptions, onEvent: (type: WatchEventType, object: T) => void, onDone: WatchDone): Promise<WatchHandle>
}

export interface ResolvedKubeconfig {
  kubeconfig: string
  requestTimeoutMs: number
}

/** Checks the `kubernetes.*` config: KUBERNETES_DISABLED when off, KUBECONFIG_MISSING when no kubeconfig is known. */
export function resolveKubeconfig(config: DanubeConfig['kubernetes']): ResolvedKubeconfig {
  if (!config.enabled) {
    throw new DanubeError('KUBERNETES_DISABLED', 'Kubernetes is disabled (kubernetes.enabled is false)', {
      httpStatus: 409,
      hint: 'set kubernetes.enabled: true and kubernetes.kubeconfig (or DANUBE_KUBERNETES_KUBECONFIG / KUBECONFIG)',
    })
  }
  if (!config.kubeconfig) {
    throw new DanubeError('KUBECONFIG_MISSING', 'Kubernetes is enabled but no kubeconfig is configured', {
      httpStatus: 500,
      hint: 'set kubernetes.kubeconfig, DANUBE_KUBERNETES_KUBECONFIG or KUBECONFIG to a kubeconfig file',
    })
  }
  return {kubeconfig: config.kubeconfig, requestTimeoutMs: parseDuration(config.requestTimeout, 'kubernetes.requestTimeout')}
}

/** Loads the kubeconfig (KUBECONFIG_NOT_FOUND / KUBECONFIG_INVALID naming the file) and returns a client. */
export async function createKubeClient(options: KubeClientOptions): Promise<KubeClient> {
  const {createClient} = await import('./client.js')
  return createClient(options)
}

/** resolveKubeconfig + createKubeClient in one step. */
export async function kubeClientFromConfig(
  config: DanubeConfig['kubernetes'],
  onCall?: KubeClientOptions['onCall'],
  onWatch?: KubeClientOptions['onWatch'],
): Promise<KubeClient> {
  return createKubeClient({...resolveKubeconfig(config), ...(onCall ? {onCall} : {}), ...(onWatch ? {onWatch} : {})})
}
