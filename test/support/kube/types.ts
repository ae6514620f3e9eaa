// Wire shapes (JSON as the API server sends it: timestamps are RFC 3339 strings) of the objects the
// Kubernetes test API server stores. Only the fields it reads or writes are named; everything else passes through.

export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface ObjectMeta {
  name: string
  generateName?: string
  namespace?: string
  uid: string
  resourceVersion: string
  generation?: number
  creationTimestamp: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: OwnerReference[]
  finalizers?: string[]
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: unknown
  status?: unknown
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
  lastProbeTime?: string | null
  lastTransitionTime?: string
}

export interface ContainerState {
  waiting?: {reason?: string; message?: string}
  running?: {startedAt: string}
  terminated?: {exitCode: number; signal?: number; reason?: string; message?: string; startedAt?: string; finishedAt?: string; containerID?: string}
}

export interface ContainerStatus {
  name: string
  image: string
  imageID: string
  containerID?: string
  ready: boolean
  started?: boolean
  restartCount: number
  state: ContainerState
  lastState: ContainerState
}

export interface Container {
  name: string
  image?: string
  [field: string]: unknown
}

export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  restartPolicy?: string
  terminationGracePeriodSeconds?: number
  nodeName?: string
  [field: string]: unknown
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'

export interface PodStatus {
  phase: PodPhase
  conditions?: Condition[]
  reason?: string
  message?: string
  hostIP?: string
  podIP?: string
  startTime?: string
  qosClass?: string
  initContainerStatuses?: ContainerStatus[]
  containerStatuses?: ContainerStatus[]
  [field: string]: unknown
}

export interface Pod extends KubeObject {
  spec: PodSpec
  status: PodStatus
}

export interface JobSpec {
  template: {metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}; spec: PodSpec}
  backoffLimit?: number
  completions?: number
  parallelism?: number
  activeDeadlineSeconds?: number
  ttlSecondsAfterFinished?: number
  [field: string]: unknown
}

export interface JobStatus {
  active?: number
  ready?: number
  succeeded?: number
  failed?: number
  startTime?: string
  completionTime?: string
  conditions?: Condition[]
  [field: string]: unknown
}

export interface Job extends KubeObject {
  spec: JobSpec
  status: JobStatus
}

export interface Namespace extends KubeObject {
  spec: {finalizers?: string[]}
  status: {phase: 'Active' | 'Terminating'}
}

/** The `Status` kind every API error (and some DELETE responses) is returned as. */
export interface StatusObject {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: {resourceVersion?: string}
  status: 'Failure' | 'Success'
  message?: string
  reason?: string
  details?: {name?: string; group?: string; kind?: string; uid?: string; causes?: Array<{reason?: string; message?: string; field?: string}>}
  code: number
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: KubeObject | StatusObject | {kind: string; apiVersion: string; metadata: {resourceVersion: string}}
}

/** A pod as a test hands it to KubeApiServer.createPod: server-set metadata may be left out. */
export type PodInput = Omit<Pod, 'metadata'> & {metadata: Partial<ObjectMeta> & {name: string}}
