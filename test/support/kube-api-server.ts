// The one Kubernetes API server the test suite talks to: HTTPS with a throwaway CA, bearer tokens, and the REST and
// watch protocol the real @kubernetes/client-node speaks, for core/v1 namespaces and pods and batch/v1 jobs.
// It follows the Kubernetes API documentation, not what Danube's code expects:
//   - API conventions: https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md
//   - API concepts (resource versions, watch, bookmarks, 410 Gone): https://kubernetes.io/docs/reference/using-api/api-concepts/
//   - Garbage collection and propagation policies: https://kubernetes.io/docs/concepts/architecture/garbage-collection/
//   - Pod lifecycle and termination: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
//   - Jobs: https://kubernetes.io/docs/concepts/workloads/controllers/job/
// A simulated job controller, garbage collector and kubelet change objects when the test says so (startPod, failPod, …)
// or when a real timer fires (grace periods, activeDeadlineSeconds, ttlSecondsAfterFinished).
// Known simplifications are listed in test/support/kube/README.md.

import {randomBytes, randomUUID} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer, type Server} from 'node:https'
import type {Socket} from 'node:net'
import path from 'node:path'
import {
  type FieldRequirement,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from './kube/selectors.js'
import * as statuses from './kube/status.js'
import {endContainers, FAILURE, type JobTermination, jobTerminationFor, KILLED, SUCCESS} from './kube/termination.js'
import {type DiscoveredResource, discover} from './kube/discovery.js'
import {ContainerLogs, parseLogOptions, render} from './kube/logs.js'
import {sharedTls, type TlsMaterial} from './kube/tls.js'
import {type ExecOverride, type ExecProtocol, type ExecRecord, PodExec} from './kube/exec.js'
import {admit, kindSchema, parseFieldValidation} from './kube/validation.js'
import type {
  Condition,
  Container,
  ContainerState,
  ContainerStatus,
  Job,
  KubeObject,
  Namespace,
  Pod,
  PodInput,
  PodPhase,
  StatusObject,
  WatchEvent,
} from './kube/types.js'
import {tempDir} from './temp.js'

import {AppliedObjects} from './kube/apply.js'

export type * from './kube/types.js'
export type {JobTermination} from './kube/termination.js'
export {generateTls, type TlsMaterial} from './kube/tls.js'
export {EXEC_PROTOCOLS, type ExecOverride, type ExecProtocol, type ExecRecord} from './kube/exec.js'

export type ResourceName = 'namespaces' | 'pods' | 'jobs'

interface ResourceInfo {
  resource: ResourceName
  kind: string
  listKind: string
  apiVersion: string
  group: string
  prefix: string
  namespaced: boolean
  /** Field selector labels this resource supports (as the real registry's GetAttrs does). */
  fields: readonly string[]
  /** What discovery says about it (test/support/kube/discovery.ts); verbs default to create, delete, get, list, watch. */
  discovery?: Partial<Pick<DiscoveredResource, 'verbs' | 'shortNames' | 'categories' | 'subresources'>>
}

const RESOURCES: Record<ResourceName, ResourceInfo> = {
  namespaces: {resource: 'namespaces', kind: 'Namespace', listKind: 'NamespaceList', apiVersion: 'v1', group: '', prefix: '/api/v1', namespaced: false,
    fields: ['metadata.name', 'status.phase'], discovery: {verbs: ['create', 'get', 'list', 'watch'], shortNames: ['ns']}},
  pods: {resource: 'pods', kind: 'Pod', listKind: 'PodList', apiVersion: 'v1', group: '', prefix: '/api/v1', namespaced: true,
    fields: ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName',
      'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    discovery: {shortNames: ['po'], categories: ['all'], subresources: [{name: 'log', kind: 'Pod', verbs: ['get']}]}},
  jobs: {resource: 'jobs', kind: 'Job', listKind: 'JobList', apiVersion: 'batch/v1', group: 'batch', prefix: '/apis/batch/v1', namespaced: true,
    fields: ['metadata.name', 'metadata.namespace', 'status.successful'], discovery: {categories: ['all']}},
}

export interface KubeApiServerOptions {
  /** Bearer token the server accepts; random by default. */
  token?: string
  /** User name the server reports in Forbidden messages. */
  user?: string
  /** Watch events kept for resuming watches and exact lists; older resource versions answer 410 Gone. */
  historySize?: number
  /** How often watches that asked for bookmarks get one (the real server: about every minute). */
  bookmarkIntervalMs?: number
  /**
   * How a watch from an expired resourceVersion is refused. `error-event` (default) is what kube-apiserver does:
   * HTTP 200, then one `ERROR` event whose object is a 410 `Expired` Status, then the stream ends
   * (kubernetes/kubernetes#25151). `http-status` answers HTTP 410 with the Status as the body, which the API concepts
   * page also allows clients to expect ("clients must handle the case by recognizing the status code 410 Gone").
   */
  expiredWatchAs?: 'error-event' | 'http-status'
  /** gitVersion reported by /version. */
  gitVersion?: string
  /** Subprotocols pods/exec accepts (default v5.channel.k8s.io, v4.channel.k8s.io; test/support/kube/exec.ts). */
  execProtocols?: ExecProtocol[]
  /**
   * The order in which a failing or succeeding Job and its pods end (test/support/kube/termination.ts). Default: that
   * of gitVersion's release, `failure-target-first` from v1.31 on (the default gitVersion is v1.33.1).
   */
  jobTermination?: JobTermination
  tls?: TlsMaterial
}

export interface Fault {
  /** HTTP method to match; any when absent. */
  method?: string
  /** Matched against the request path (no query). */
  path: RegExp
  /** Only watch requests (true) or only non-watch requests (false); both when absent. */
  watch?: boolean
  /** How many requests the fault applies to; unlimited when absent. */
  times?: number
  /** Delay before the request is handled (or before the fault status is sent). */
  latencyMs?: number
  /** Accept the request and never answer it (until stop() or the client gives up). */
  hang?: boolean
  /** Answer with this HTTP status and a matching Status body (e.g. 500, 401, 403, 503). */
  status?: number
  /** Message of that Status. */
  message?: string
  /** Destroy the socket without an answer. */
  resetConnection?: boolean
  /** Watch only: destroy the connection after this many events were written. */
  dropAfterEvents?: number
  /** Watch: refuse as an expired resourceVersion (ERROR 410 event or HTTP 410, see expiredWatchAs); list: HTTP 410. */
  gone?: boolean
  /** pods/exec only: destroy the connection once this many stdout bytes were sent (test/support/kube/exec.ts). */
  dropAfterBytes?: number
}

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  watch: boolean
  /** HTTP status, once the response head was written. */
  status?: number
  /** Parsed JSON body, if any. */
  body?: unknown
  /** The Accept header, if any (discovery answers depend on it). */
  accept?: string
}

export interface RequestFilter {
  method?: string
  path?: RegExp | string
  watch?: boolean
}

export interface ForbidRule {
  verb: string
  resource: string
  namespace?: string
}

export interface KubeconfigOptions {
  /** Where to write; a new temp file when absent. */
  file?: string
  token?: string
  /** PEM of the CA the client should trust (default: the server's CA). */
  caCert?: string
  server?: string
  namespace?: string
}

export interface ContainerOutcome {
  /** Exit code per container name (default 0 for succeedPod, 1 for failPod). */
  exitCodes?: Record<string, number>
  /** Terminated reason per container name (default Completed / Error). */
  reasons?: Record<string, string>
  /** Termination message per container name. */
  messages?: Record<string, string>
}

interface StoredEvent {
  rv: number
  resource: ResourceName
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: KubeObject
  prev?: KubeObject
}

interface Watcher {
  info: ResourceInfo
  namespace?: string
  labels: ReturnType<typeof parseLabelSelector>
  fields: FieldRequirement[]
  res: ServerResponse
  bookmarks: boolean
  sent: number
  dropAfter?: number
  timers: NodeJS.Timeout[]
  closed: boolean
}

interface LogFollower {
  key: string
  res: ServerResponse
  timestamps: boolean
}

type Json = Record<string, unknown>

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'
const NODE_NAME = 'danube-test-node'

function clone<T>(value: T): T {
  return structuredClone(value)
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function randomSuffix(length = 5): string {
  const bytes = randomBytes(length)
  return [...bytes].map((byte) => SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length]).join('')
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`
}

function matchesPath(pattern: RegExp | string | undefined, value: string): boolean {
  if (pattern === undefined) return true
  return typeof pattern === 'string' ? pattern === value : pattern.test(value)
}

function isTerminal(pod: Pod): boolean {
  return pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed'
}

function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((condition) => condition.type === type)
}

function setCondition(holder: {conditions?: Condition[]}, type: string, status: Condition['status'], reason?: string, message?: string): void {
  holder.conditions ??= []
  const existing = findCondition(holder.conditions, type)
  const condition: Condition = {type, status, lastProbeTime: null, lastTransitionTime: now(), ...(reason ? {reason} : {}), ...(message ? {message} : {})}
  if (existing) {
    if (existing.status !== status) existing.lastTransitionTime = condition.lastTransitionTime
    existing.status = status
    if (reason) existing.reason = reason
    else delete existing.reason
    if (message) existing.message = message
    else delete existing.message
  } else {
    holder.conditions.push(condition)
  }
}

function containerStatusFor(container: Container, state: ContainerState): ContainerStatus {
  return {name: container.name, image: container.image ?? '', imageID: '', ready: false, started: false, restartCount: 0, state, lastState: {}}
}

/** `dryRun=All` (query, or DeleteOptions.dryRun) is a dry run; absent is not; any other value is a 400. */
function dryRunOf(query: Record<string, string>, fromBody?: string[]): boolean | StatusObject {
  const values = fromBody ?? (query.dryRun === undefined ? [] : [query.dryRun])
  for (const value of values) if (value !== 'All') return statuses.badRequest(`Invalid dryRun value: ${JSON.stringify(value)}; accepted values: "All"`)
  return values.length > 0
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

export class KubeApiServer {
  readonly token: string
  readonly user: string
  private readonly options: Required<Pick<KubeApiServerOptions, 'bookmarkIntervalMs' | 'expiredWatchAs' | 'gitVersion' | 'jobTermination'>>
  private historySize: number
  private tls?: TlsMaterial
  private server?: Server
  private port = 0
  private rv = 0
  private historyStart = 0
  private history: StoredEvent[] = []
  private readonly store: Record<ResourceName, Map<string, KubeObject>> = {namespaces: new Map(), pods: new Map(), jobs: new Map()}
  private readonly watchers = new Set<Watcher>()
  private readonly sockets = new Set<Socket>()
  private readonly hanging = new Set<ServerResponse>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly faults: Array<Fault & {remaining: number}> = []
  private readonly forbidden: ForbidRule[] = []
  private readonly logs = new ContainerLogs()
  private readonly logFollowers = new Set<LogFollower>()
  private readonly recorded: RecordedRequest[] = []
  /** Pods whose grace period ran out while hangTerminating was on. */
  private readonly overdue = new Set<string>()
  /** When each terminating pod (by uid) was first deleted: a shorter grace period counts from then. */
  private readonly deletionStarted = new Map<string, number>()
  /** Jobs (by uid) whose status the job controller is writing itself: pod events do not update their counts meanwhile. */
  private readonly quietJobs = new Set<string>()
  private hangTerminatingPods = false
  private stopped = false
  /** pods/exec and the kubelet's per-pod volume directories (test/support/kube/exec.ts). */
  private readonly podExec: PodExec
  /** Hook point: server-side apply and the kinds install/manifests/ uses (test/support/kube/apply.ts). */
  readonly applied: AppliedObjects = new AppliedObjects({
    nextResourceVersion: () => String(++this.rv),
    getNamespace: (name) => this.store.namespaces.get(keyOf(undefined, name)) as Json | undefined,
    putNamespace: (object) => {
      const current = this.store.namespaces.get(keyOf(undefined, String((object.metadata as Json).name)))
      return clone(current ? this.modify('namespaces', current, (next) => Object.assign(next, object)) : this.insert('namespaces', object as unknown as KubeObject)) as unknown as Json
    },
    isForbidden: (verb, resource, namespace) => this.isForbidden(verb, resource, namespace),
    user: () => this.user,
  })

  constructor(options: KubeApiServerOptions = {}) {
    this.token = options.token ?? randomHex(16)
    this.user = options.user ?? 'system:serviceaccount:danube-system:danube'
    this.historySize = options.historySize ?? 1000
    this.tls = options.tls
    this.options = {
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
      expiredWatchAs: options.expiredWatchAs ?? 'error-event',
      gitVersion: options.gitVersion ?? 'v1.33.1',
      jobTermination: options.jobTermination ?? jobTerminationFor(options.gitVersion ?? 'v1.33.1'),
    }
    this.podExec = new PodExec(options.execProtocols)
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) this.createNamespace(name)
  }

  // ---------------------------------------------------------------- lifecycle

  /** Listens on 127.0.0.1 on an ephemeral port; returns the base URL. */
  async start(): Promise<string> {
    this.tls ??= await sharedTls()
    const server = createServer({key: this.tls.serverKey, cert: this.tls.serverCert}, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) this.sendStatus(res, statuses.internalError(String(error)))
      })
    })
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    // Clients that fail the TLS handshake (wrong CA) make the server emit tlsClientError; nothing to do.
    server.on('tlsClientError', () => {})
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.handleUpgrade(req, socket, head).catch((error: unknown) => writeSocketStatus(socket, statuses.internalError(String(error))))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.server = server
    const address = server.address()
    this.port = typeof address === 'object' && address ? address.port : 0
    return this.url
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`
  }

  get caCert(): string {
    if (!this.tls) throw new Error('start() the server first')
    return this.tls.caCert
  }

  /** Closes the listener, every open watch, log stream and hanging request, and all timers. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const watcher of this.watchers) this.closeWatcher(watcher)
    for (const follower of this.logFollowers) follower.res.end()
    this.logFollowers.clear()
    for (const res of this.hanging) res.destroy()
    this.hanging.clear()
    this.podExec.stop()
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    const server = this.server
    this.server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Writes a kubeconfig (cluster https://127.0.0.1:<port> with certificate-authority-data, user token). */
  writeKubeconfig(options: KubeconfigOptions = {}): string {
    const file = options.file ?? path.join(tempDir('danube-kubeconfig-'), 'config')
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'danube-test', cluster: {server: options.server ?? this.url, 'certificate-authority-data': Buffer.from(options.caCert ?? this.caCert).toString('base64')}}],
      users: [{name: 'danube-test', user: {token: options.token ?? this.token}}],
      contexts: [{name: 'danube-test', context: {cluster: 'danube-test', user: 'danube-test', namespace: options.namespace ?? 'default'}}],
      'current-context': 'danube-test',
      preferences: {},
    }
    // JSON is YAML, and KubeConfig.loadFromFile reads it with a YAML parser.
    writeFileSync(file, JSON.stringify(config, null, 2), {mode: 0o600})
    return file
  }

  // ---------------------------------------------------------------- fault injection and request log

  /** Adds a fault; returns a function that removes it. */
  fault(fault: Fault): () => void {
    const entry = {...fault, remaining: fault.times ?? Number.POSITIVE_INFINITY}
    this.faults.push(entry)
    return () => {
      const index = this.faults.indexOf(entry)
      if (index >= 0) this.faults.splice(index, 1)
    }
  }

  clearFaults(): void {
    this.faults.length = 0
  }

  /** The next watch (optionally only on a matching path) is refused as expired (410 Gone). */
  expireNextWatch(pathPattern: RegExp = /./): void {
    this.fault({path: pathPattern, watch: true, gone: true, times: 1})
  }

  /** Destroys the connection of every open watch, as a network failure or an apiserver restart would. */
  dropWatches(): number {
    const count = this.watchers.size
    for (const watcher of [...this.watchers]) {
      watcher.closed = true
      this.watchers.delete(watcher)
      for (const timer of watcher.timers) clearTimeout(timer)
      watcher.res.socket?.destroy()
    }
    return count
  }

  /** Requests held open by a `hang` fault that the client has not given up on yet. */
  get hangingRequests(): number {
    return this.hanging.size
  }

  get openWatches(): number {
    return this.watchers.size
  }

  /** Pods ("namespace/name") whose grace period ran out while hangTerminating was on: the kubelet did not remove them. */
  get overduePods(): string[] {
    return [...this.overdue]
  }

  /** Denies a verb on a resource (optionally in one namespace) with 403 Forbidden; returns a function that lifts it. */
  forbid(rule: ForbidRule): () => void {
    this.forbidden.push(rule)
    return () => {
      const index = this.forbidden.indexOf(rule)
      if (index >= 0) this.forbidden.splice(index, 1)
    }
  }

  forbidNamespaceCreation(): () => void {
    return this.forbid({verb: 'create', resource: 'namespaces'})
  }

  // ---------------------------------------------------------------- pods/exec (test/support/kube/exec.ts)

  /** The directory behind a pod's volume (emptyDir): what its containers see at the volume's mountPath. */
  podVolume(pod: string, volume: string): string {
    return this.podExec.volumeDir(this.findPod(pod), volume)
  }

  /** Every exec the server accepted, oldest first (optionally only one pod's). */
  execs(pod?: string): ExecRecord[] {
    return this.podExec.records.filter((record) => pod === undefined || record.pod === pod)
  }

  /** The kubelet runs override(command) instead of an exec's command in this pod; returns a function that lifts it. */
  overrideExec(pod: string, override: ExecOverride): () => void {
    return this.podExec.override(this.findPod(pod), override)
  }

  /** Calls listener whenever an exec connection ends; returns a function that unsubscribes. */
  onExecEnded(listener: (record: ExecRecord) => void): () => void {
    return this.podExec.onEnded(listener)
  }

  requests(filter: RequestFilter = {}): RecordedRequest[] {
    return this.recorded.filter((request) =>
      (filter.method === undefined || request.method === filter.method.toUpperCase()) &&
      matchesPath(filter.path, request.path) &&
      (filter.watch === undefined || request.watch === filter.watch))
  }

  countRequests(filter: RequestFilter = {}): number {
    return this.requests(filter).length
  }

  clearRequests(): void {
    this.recorded.length = 0
  }

  // ---------------------------------------------------------------- resource versions and history

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv)
  }

  /** Changes how many events are retained for watch resumption; trims at once. */
  setHistorySize(size: number): void {
    this.historySize = size
    this.trimHistory()
  }

  /** Forgets all history, as an etcd compaction does: any watch or exact list from an older resourceVersion gets 410. */
  compactHistory(): void {
    this.history = []
    this.historyStart = this.rv
  }

  /** Sends a BOOKMARK to every watch that asked for them. */
  sendBookmarks(): void {
    for (const watcher of this.watchers) if (watcher.bookmarks) this.writeBookmark(watcher)
  }

  // ---------------------------------------------------------------- direct object access for tests

  get<T extends KubeObject = KubeObject>(resource: ResourceName, namespace: string | undefined, name: string): T | undefined {
    const object = this.store[resource].get(keyOf(RESOURCES[resource].namespaced ? namespace : undefined, name))
    return object ? (clone(object) as T) : undefined
  }

  list<T extends KubeObject = KubeObject>(resource: ResourceName, namespace?: string): T[] {
    return [...this.store[resource].values()]
      .filter((object) => namespace === undefined || object.metadata.namespace === namespace)
      .map((object) => clone(object) as T)
  }

  getPod(pod: string): Pod {
    return clone(this.findPod(pod))
  }

  getJob(namespace: string, name: string): Job | undefined {
    return this.get<Job>('jobs', namespace, name)
  }

  /** Pods the job controller made for a Job, oldest first. */
  jobPods(namespace: string, jobName: string): Pod[] {
    return this.list<Pod>('pods', namespace)
      .filter((pod) => pod.metadata.labels?.['batch.kubernetes.io/job-name'] === jobName)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
  }

  /** Name of the newest pod of a Job; throws when there is none. */
  jobPodName(namespace: string, jobName: string): string {
    const pods = this.jobPods(namespace, jobName).filter((pod) => !pod.metadata.deletionTimestamp)
    const pod = pods.at(-1)
    if (!pod) throw new Error(`job ${namespace}/${jobName} has no pod`)
    return pod.metadata.name
  }

  createNamespace(name: string, labels: Record<string, string> = {}): Namespace {
    const namespace: Namespace = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {name, uid: randomUUID(), resourceVersion: '', creationTimestamp: now(), labels: {'kubernetes.io/metadata.name': name, ...labels}},
      spec: {finalizers: ['kubernetes']},
      status: {phase: 'Active'},
    }
    return clone(this.insert('namespaces', namespace))
  }

  /**
   * Creates a standalone pod exactly as given (status included), as a kubelet would have reported it: for health
   * checks of pods the tests do not drive (Running and Ready, CrashLoopBackOff, Pending Unschedulable, …).
   * See test/support/kube/pods.ts for builders.
   */
  createPod(namespace: string, pod: PodInput): Pod {
    if (!this.store.namespaces.has(keyOf(undefined, namespace))) this.createNamespace(namespace)
    const full: Pod = {
      ...clone(pod),
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {uid: randomUUID(), creationTimestamp: now(), ...clone(pod.metadata), namespace, resourceVersion: ''},
    }
    full.spec.terminationGracePeriodSeconds ??= 30
    full.spec.restartPolicy ??= 'Always'
    // Fixtures are held to what the API would accept, so that a health check is never tested against an impossible pod.
    const admission = admit(kindSchema('v1', 'Pod')!, full as unknown as Json, 'Strict')
    if (!admission.ok) throw new Error(`createPod: ${admission.status.message}`)
    return clone(this.insert('pods', full))
  }

  /** Generic pod mutation (bumps resourceVersion, emits MODIFIED, and lets the job controller react). */
  updatePod(pod: string, mutate: (pod: Pod) => void): Pod {
    const current = this.findPod(pod)
    return clone(this.modify('pods', current, (next) => mutate(next as Pod)) as Pod)
  }

  updateJob(namespace: string, name: string, mutate: (job: Job) => void): Job {
    const current = this.store.jobs.get(keyOf(namespace, name))
    if (!current) throw new Error(`no job ${namespace}/${name}`)
    return clone(this.modify('jobs', current, (next) => mutate(next as Job)) as Job)
  }

  // ---------------------------------------------------------------- simulated kubelet

  /** Kubelet: init containers (if any) run in order; this starts one of them. The pod stays Pending. */
  runInitContainer(pod: string, container: string): Pod {
    return this.updatePod(pod, (next) => {
      const status = this.containerStatus(next, container, true)
      status.state = {running: {startedAt: now()}}
      status.started = true
      this.assignRuntimeIds(next, status)
      next.status.startTime ??= now()
      setCondition(next.status, 'PodReadyToStartContainers', 'True')
    })
  }

  /** Kubelet: an init container exits. Non-zero with restartPolicy Never fails the pod. */
  finishInitContainer(pod: string, container: string, exitCode = 0, reason?: string): Pod {
    return this.updatePod(pod, (next) => {
      const status = this.containerStatus(next, container, true)
      const startedAt = status.state.running?.startedAt ?? now()
      status.state = {terminated: {exitCode, reason: reason ?? (exitCode === 0 ? 'Completed' : 'Error'), startedAt, finishedAt: now(), containerID: status.containerID}}
      status.started = false
      this.assignRuntimeIds(next, status)
      if (exitCode !== 0 && next.spec.restartPolicy === 'Never') {
        next.status.phase = 'Failed'
        setCondition(next.status, 'Initialized', 'False', 'ContainersNotInitialized', `containers with incomplete status: [${container}]`)
        for (const main of next.status.containerStatuses ?? []) main.state = {terminated: {exitCode: 0, reason: 'ContainerStatusUnknown'}}
      } else if ((next.status.initContainerStatuses ?? []).every((init) => init.state.terminated?.exitCode === 0)) {
        setCondition(next.status, 'Initialized', 'True')
        for (const main of next.status.containerStatuses ?? []) main.state = {waiting: {reason: 'ContainerCreating'}}
      }
      this.recomputePodConditions(next)
    })
  }

  /** Kubelet: the pod's containers run (init containers not yet finished are finished with 0). Phase Running. */
  startPod(pod: string, options: {ready?: boolean} = {}): Pod {
    return this.updatePod(pod, (next) => {
      const startedAt = now()
      for (const init of next.status.initContainerStatuses ?? []) {
        if (!init.state.terminated) {
          init.state = {terminated: {exitCode: 0, reason: 'Completed', startedAt, finishedAt: startedAt}}
          this.assignRuntimeIds(next, init)
        }
      }
      for (const container of next.status.containerStatuses ?? []) {
        container.state = {running: {startedAt}}
        container.started = true
        container.ready = options.ready ?? true
        this.assignRuntimeIds(next, container)
      }
      next.status.phase = 'Running'
      next.status.startTime ??= startedAt
      next.status.hostIP = '127.0.0.1'
      next.status.podIP ??= `10.42.0.${1 + Math.floor(Math.random() * 250)}`
      setCondition(next.status, 'PodReadyToStartContainers', 'True')
      setCondition(next.status, 'Initialized', 'True')
      this.recomputePodConditions(next)
    })
  }

  /** Kubelet: a container waits, e.g. CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError. */
  setWaiting(pod: string, container: string, reason: string, message?: string): Pod {
    return this.updatePod(pod, (next) => {
      const status = this.containerStatus(next, container)
      if (status.state.running || status.state.terminated) {
        // The container ended and waits to restart: its log becomes the previous instance's (pods/log?previous=true).
        status.lastState = {terminated: {exitCode: status.state.terminated?.exitCode ?? 1, reason: status.state.terminated?.reason ?? 'Error', finishedAt: now()}}
        this.logs.restart(`${keyOf(next.metadata.namespace, next.metadata.name)}/${container}`)
      }
      status.state = {waiting: {reason, ...(message ? {message} : {})}}
      status.ready = false
      status.started = false
      this.recomputePodConditions(next)
    })
  }

  setRestartCount(pod: string, container: string, restartCount: number): Pod {
    return this.updatePod(pod, (next) => {
      this.containerStatus(next, container).restartCount = restartCount
    })
  }

  /** Readiness probe result for every running container (or one). */
  setReady(pod: string, ready: boolean, container?: string): Pod {
    return this.updatePod(pod, (next) => {
      for (const status of next.status.containerStatuses ?? []) {
        if (container === undefined || status.name === container) status.ready = ready && Boolean(status.state.running)
      }
      this.recomputePodConditions(next)
    })
  }

  setContainerImageID(pod: string, container: string, imageID: string): Pod {
    return this.updatePod(pod, (next) => {
      const initStatus = next.status.initContainerStatuses?.find((status) => status.name === container)
      const status = initStatus ?? this.containerStatus(next, container)
      status.imageID = imageID
    })
  }

  /** Kubelet: all containers exit (0 by default); phase Succeeded. */
  succeedPod(pod: string, outcome: ContainerOutcome = {}): Pod {
    return this.terminatePod(pod, 'Succeeded', 0, 'Completed', outcome)
  }

  /** Kubelet: containers exit (1 by default, reason Error; pass reasons {main: 'OOMKilled'} etc.); phase Failed. */
  failPod(pod: string, outcome: ContainerOutcome & {reason?: string; message?: string} = {}): Pod {
    return this.terminatePod(pod, 'Failed', 1, 'Error', outcome, outcome.reason, outcome.message)
  }

  /** Kubelet eviction (node pressure): phase Failed, reason Evicted, containers killed. */
  evictPod(pod: string, message = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.'): Pod {
    const evicted = this.terminatePod(pod, 'Failed', 137, 'ContainerStatusUnknown', {}, 'Evicted', message, false)
    return this.updatePod(evicted.metadata.name, (next) => {
      setCondition(next.status, 'DisruptionTarget', 'True', 'TerminationByKubelet', message)
    })
  }

  /** Container log text; open `follow=true` streams receive it at once. */
  appendLog(pod: string, container: string, text: string): void {
    const found = this.findPod(pod)
    const key = `${keyOf(found.metadata.namespace, found.metadata.name)}/${container}`
    const lines = this.logs.append(key, text)
    for (const follower of this.logFollowers) if (follower.key === key) follower.res.write(render(lines, follower))
  }

  /** While on, pods that are deleted stay Terminating forever (a kubelet that cannot kill them). Turning it off removes overdue pods. */
  hangTerminating(on = true): void {
    this.hangTerminatingPods = on
    if (!on) {
      for (const key of [...this.overdue]) {
        this.overdue.delete(key)
        const pod = this.store.pods.get(key) as Pod | undefined
        if (pod) this.killAndRemove(pod)
      }
    }
  }

  /** Job controller: activeDeadlineSeconds has run out now (the real timer does the same when the spec sets it). */
  expireJobDeadline(namespace: string, name: string): Job | undefined {
    const job = this.store.jobs.get(keyOf(namespace, name)) as Job | undefined
    if (!job || this.jobFinished(job) || this.jobEnding(job)) return job ? clone(job) : undefined
    this.endJob(job, FAILURE, 'DeadlineExceeded', 'Job was active longer than specified deadline')
    const current = this.store.jobs.get(keyOf(namespace, name))
    return current ? clone(current as Job) : undefined
  }

  // ---------------------------------------------------------------- HTTP handling

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const method = (req.method ?? 'GET').toUpperCase()
    const query = Object.fromEntries(url.searchParams)
    const watch = query.watch === 'true' || query.watch === '1'
    const body = await this.readBody(req)
    const record: RecordedRequest = {method, path: url.pathname, query, watch, ...(body.value !== undefined ? {body: body.value} : {}),
      ...(req.headers.accept ? {accept: req.headers.accept} : {})}
    this.recorded.push(record)
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse
    res.writeHead = ((...args: unknown[]) => {
      record.status = args[0] as number
      return writeHead(...args)
    }) as typeof res.writeHead

    const fault = this.takeFault(method, url.pathname, watch)
    if (fault?.latencyMs) await this.sleep(fault.latencyMs)
    if (this.stopped) return void res.destroy()
    if (fault?.hang) {
      this.hanging.add(res)
      res.on('close', () => this.hanging.delete(res))
      return
    }
    if (fault?.resetConnection) return void req.socket.destroy()
    if (fault?.status) {
      const reason = statuses.reasonForCode(fault.status)
      return this.sendStatus(res, statuses.failure(fault.status, reason, fault.message ?? (fault.status === 401 ? 'Unauthorized' : `injected ${reason}`)))
    }

    // Authentication: a wrong bearer token is 401 everywhere; no credentials at all is system:anonymous, which the
    // default RBAC (system:public-info-viewer) lets read /version and the health endpoints only.
    const authorization = req.headers.authorization
    const anonymous = authorization === undefined
    if (!anonymous && authorization !== `Bearer ${this.token}`) return this.sendStatus(res, statuses.unauthorized())

    if (method === 'GET' && ['/version', '/version/'].includes(url.pathname)) {
      const [, major, minor] = this.options.gitVersion.match(/^v(\d+)\.(\d+)/) ?? []
      return this.sendJson(res, 200, {major, minor, gitVersion: this.options.gitVersion, gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean', buildDate: '2025-05-15T08:00:00Z', goVersion: 'go1.24.2', compiler: 'gc', platform: 'linux/amd64'})
    }
    if (method === 'GET' && ['/readyz', '/livez', '/healthz'].includes(url.pathname)) {
      const text = query.verbose !== undefined ? `[+]ping ok\n[+]etcd ok\n${url.pathname.slice(1)} check passed\n` : 'ok'
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text)})
      return void res.end(text)
    }

    if (method === 'GET') {
      const answer = discover(url.pathname, req.headers.accept, this.discoveredResources(), `127.0.0.1:${this.port}`, this.options.gitVersion)
      if (answer) {
        // Discovery is for authenticated users only (the system:discovery ClusterRole is bound to system:authenticated).
        if (anonymous) return this.sendStatus(res, statuses.failure(403, 'Forbidden', `forbidden: User "system:anonymous" cannot get path "${url.pathname}"`))
        return this.sendJson(res, 200, answer.body, {'Content-Type': answer.contentType})
      }
    }
    // Hook point: behaviour kept in test/support/kube/ (server-side apply and its kinds: kube/apply.ts).
    if (this.applied.handle({method, pathname: url.pathname, query, contentType: String(req.headers['content-type'] ?? ''), text: body.text ?? '', anonymous, res})) return

    const route = this.route(url.pathname)
    if (!route) return this.sendStatus(res, statuses.pathNotFound())
    const {info, namespace, name, subresource} = route
    const verb = this.verbOf(method, name, subresource, watch)
    if (!verb) return this.sendStatus(res, statuses.methodNotAllowed())
    const resourceForAuth = subresource ? `${info.resource}/${subresource}` : info.resource
    if (anonymous || this.isForbidden(verb, resourceForAuth, namespace)) {
      const user = anonymous ? 'system:anonymous' : this.user
      return this.sendStatus(res, statuses.forbidden(user, verb, {resource: resourceForAuth, group: info.group}, info.namespaced ? namespace : undefined, name))
    }
    if (body.error) return this.sendStatus(res, statuses.badRequest(`error decoding request body: ${body.error}`))

    if (subresource === 'log') return this.readLog(res, namespace!, name!, query)
    if (subresource === 'exec') return this.sendStatus(res, statuses.badRequest('Upgrade request required'))
    switch (verb) {
      case 'list':
        return fault?.gone ? this.sendStatus(res, statuses.expired('The resourceVersion for the provided list is too old.')) : this.listObjects(res, info, namespace, query)
      case 'watch':
        return this.startWatch(res, info, namespace, query, fault, name)
      case 'get':
        return this.getObject(res, info, namespace, name!)
      case 'create':
        return this.createObject(res, info, namespace, body.value, query)
      case 'delete':
        return this.deleteObject(res, info, namespace, name!, query, body.value)
      default:
        return this.sendStatus(res, statuses.methodNotAllowed())
    }
  }

  /**
   * WebSocket upgrades (pods/exec): the same request log, faults, authentication and authorization as every other
   * request, answered with a Status over the raw socket when refused; the protocol itself lives in kube/exec.ts.
   */
  private async handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const method = (req.method ?? 'GET').toUpperCase()
    const record: RecordedRequest = {method, path: url.pathname, query: Object.fromEntries(url.searchParams), watch: false}
    this.recorded.push(record)
    const refuse = (status: StatusObject) => {
      record.status = status.code
      writeSocketStatus(socket, status)
    }
    const fault = this.takeFault(method, url.pathname, false)
    if (fault?.latencyMs) await this.sleep(fault.latencyMs)
    if (this.stopped) return void socket.destroy()
    if (fault?.hang) return
    if (fault?.resetConnection) return void socket.destroy()
    if (fault?.status) return refuse(statuses.failure(fault.status, statuses.reasonForCode(fault.status), fault.message ?? `injected ${statuses.reasonForCode(fault.status)}`))
    const authorization = req.headers.authorization
    if (authorization !== undefined && authorization !== `Bearer ${this.token}`) return refuse(statuses.unauthorized())
    const route = this.route(url.pathname)
    if (!route || route.subresource !== 'exec' || !route.name || !route.namespace) return refuse(statuses.pathNotFound())
    const {namespace, name} = route
    const ref = {resource: 'pods/exec', group: ''}
    if (authorization === undefined) return refuse(statuses.forbidden('system:anonymous', 'create', ref, namespace, name))
    // A GET upgrade is authorized as `get` (the verb of its method) and, since Kubernetes 1.35, also as `create`.
    for (const verb of method === 'GET' ? ['get', 'create'] : ['create']) {
      if (this.isForbidden(verb, 'pods/exec', namespace)) return refuse(statuses.forbidden(this.user, verb, ref, namespace, name))
    }
    const pod = this.store.pods.get(keyOf(namespace, name)) as Pod | undefined
    if (!pod) return refuse(statuses.notFound(RESOURCES.pods, name))
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim()).filter(Boolean)
    const refusal = this.podExec.refusal(pod, url.searchParams, protocols)
    if (refusal) return refuse(refusal)
    record.status = 101
    this.podExec.upgrade(req, socket, head, pod, url.searchParams, fault?.dropAfterBytes === undefined ? {} : {dropAfterBytes: fault.dropAfterBytes})
  }

  private discoveredResources(): DiscoveredResource[] {
    return Object.values(RESOURCES).map((info) => ({
      resource: info.resource, singular: info.kind.toLowerCase(), kind: info.kind, group: info.group, version: info.apiVersion.split('/').at(-1)!,
      namespaced: info.namespaced, verbs: ['create', 'delete', 'get', 'list', 'watch'], ...info.discovery,
    }))
  }

  private route(pathname: string): {info: ResourceInfo; namespace?: string; name?: string; subresource?: string} | undefined {
    const match = pathname.replace(/\/$/, '').match(/^(\/api\/v1|\/apis\/batch\/v1)(?:\/namespaces\/([^/]+)(?=\/(?:pods|jobs)(?:\/|$)))?\/(pods|jobs|namespaces)(?:\/([^/]+))?(?:\/([^/]+))?$/)
    if (!match) return undefined
    const [, prefix, namespace, resource, name, subresource] = match
    const info = RESOURCES[resource as ResourceName]
    if (info.prefix !== prefix) return undefined
    if (subresource !== undefined && !(info.resource === 'pods' && (subresource === 'log' || subresource === 'exec'))) return undefined
    return {info, namespace: namespace ? decodeURIComponent(namespace) : undefined, name: name ? decodeURIComponent(name) : undefined, subresource}
  }

  private verbOf(method: string, name: string | undefined, subresource: string | undefined, watch: boolean): string | undefined {
    // pods/exec is a connect subresource: RBAC names it `create` (test/support/kube/exec.ts on GET upgrades).
    if (subresource === 'exec') return method === 'GET' || method === 'POST' ? 'create' : undefined
    if (subresource) return method === 'GET' ? 'get' : undefined
    if (name === undefined) {
      if (method === 'GET') return watch ? 'watch' : 'list'
      if (method === 'POST') return 'create'
      return undefined
    }
    if (method === 'GET') return watch ? 'watch' : 'get'
    if (method === 'DELETE') return 'delete'
    return undefined
  }

  private isForbidden(verb: string, resource: string, namespace: string | undefined): boolean {
    return this.forbidden.some((rule) => rule.verb === verb && rule.resource === resource && (rule.namespace === undefined || rule.namespace === namespace))
  }

  private takeFault(method: string, pathname: string, watch: boolean): Fault | undefined {
    const fault = this.faults.find((candidate) =>
      candidate.remaining > 0 &&
      (candidate.method === undefined || candidate.method.toUpperCase() === method) &&
      (candidate.watch === undefined || candidate.watch === watch) &&
      candidate.path.test(pathname))
    if (fault) fault.remaining--
    return fault
  }

  private async readBody(req: IncomingMessage): Promise<{value?: unknown; error?: string; text?: string}> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8').trim()
    if (text === '') return {}
    try {
      return {value: JSON.parse(text), text}
    } catch (error) {
      return {error: (error as Error).message, text}
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        resolve()
      }, ms)
      this.timers.add(timer)
    })
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.stopped) action()
    }, ms)
    this.timers.add(timer)
  }

  private sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(code, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers})
    res.end(text)
  }

  private sendStatus(res: ServerResponse, status: StatusObject): void {
    this.sendJson(res, status.code, status)
  }

  // ---------------------------------------------------------------- verbs

  private withType(info: ResourceInfo, object: KubeObject): KubeObject {
    return {apiVersion: info.apiVersion, kind: info.kind, ...clone(object)}
  }

  private fieldsOf(info: ResourceInfo, object: KubeObject): Record<string, string> {
    const fields: Record<string, string> = {'metadata.name': object.metadata.name}
    if (info.namespaced) fields['metadata.namespace'] = object.metadata.namespace ?? ''
    if (info.resource === 'pods') {
      const pod = object as Pod
      Object.assign(fields, {
        'spec.nodeName': pod.spec.nodeName ?? '', 'spec.restartPolicy': pod.spec.restartPolicy ?? '', 'spec.schedulerName': String(pod.spec.schedulerName ?? 'default-scheduler'),
        'spec.serviceAccountName': String(pod.spec.serviceAccountName ?? ''), 'spec.hostNetwork': String(pod.spec.hostNetwork ?? false),
        'status.phase': pod.status.phase, 'status.podIP': pod.status.podIP ?? '', 'status.nominatedNodeName': String(pod.status.nominatedNodeName ?? ''),
      })
    } else if (info.resource === 'jobs') {
      fields['status.successful'] = String((object as Job).status.succeeded ?? 0)
    } else {
      fields['status.phase'] = (object as Namespace).status.phase
    }
    return fields
  }

  private parseSelectors(res: ServerResponse, info: ResourceInfo, query: Record<string, string>) {
    try {
      return {labels: parseLabelSelector(query.labelSelector), fields: parseFieldSelector(query.fieldSelector, info.fields)}
    } catch (error) {
      if (error instanceof SelectorError) {
        this.sendStatus(res, statuses.badRequest(error.message))
        return undefined
      }
      throw error
    }
  }

  private listObjects(res: ServerResponse, info: ResourceInfo, namespace: string | undefined, query: Record<string, string>): void {
    const selectors = this.parseSelectors(res, info, query)
    if (!selectors) return
    // resourceVersion semantics for list (API concepts, "Semantics for get and list"): unset = most recent,
    // "0" = any, N = not older than N (served from the current state), N with resourceVersionMatch=Exact = exactly N,
    // which needs history: older than the retained window is 410 Gone "Expired".
    let objects = [...this.store[info.resource].values()]
    let listRv = this.rv
    const requested = query.resourceVersion
    if (requested !== undefined && requested !== '' && requested !== '0') {
      const wanted = Number(requested)
      if (!Number.isInteger(wanted) || wanted < 0) return this.sendStatus(res, statuses.failure(400, 'BadRequest', `invalid resource version "${requested}"`))
      if (wanted > this.rv) {
        return this.sendStatus(res, statuses.failure(504, 'Timeout', `Too large resource version: ${wanted}, current: ${this.rv}`,
          {causes: [{reason: 'ResourceVersionTooLarge', message: 'Too large resource version'}], retryAfterSeconds: 1} as StatusObject['details']))
      }
      if (query.resourceVersionMatch === 'Exact') {
        if (wanted < this.historyStart) return this.sendStatus(res, statuses.expired('The resourceVersion for the provided list is too old.'))
        objects = this.stateAt(info.resource, wanted)
        listRv = wanted
      }
    }
    const items = objects
      .filter((object) => namespace === undefined || object.metadata.namespace === namespace)
      .filter((object) => matchesLabels(selectors.labels, object.metadata.labels) && matchesFields(selectors.fields, this.fieldsOf(info, object)))
      .sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name).localeCompare(keyOf(b.metadata.namespace, b.metadata.name)))
      .map((object) => clone(object))
    // Items of a typed list carry no kind/apiVersion; `limit` is not supported, which the API allows
    // ("servers may choose not to support the limit argument and will return all of the available results").
    this.sendJson(res, 200, {kind: info.listKind, apiVersion: info.apiVersion, metadata: {resourceVersion: String(listRv)}, items})
  }

  private stateAt(resource: ResourceName, rv: number): KubeObject[] {
    const state = new Map(this.store[resource])
    for (const event of [...this.history].reverse()) {
      if (event.rv <= rv) break
      if (event.resource !== resource) continue
      const key = keyOf(event.object.metadata.namespace, event.object.metadata.name)
      if (event.type === 'ADDED') state.delete(key)
      else if (event.prev) state.set(key, event.prev)
    }
    return [...state.values()]
  }

  private getObject(res: ServerResponse, info: ResourceInfo, namespace: string | undefined, name: string): void {
    const object = this.store[info.resource].get(keyOf(info.namespaced ? namespace : undefined, name))
    if (!object) return this.sendStatus(res, statuses.notFound(info, name))
    this.sendJson(res, 200, this.withType(info, object))
  }

  private createObject(res: ServerResponse, info: ResourceInfo, namespace: string | undefined, body: unknown, query: Record<string, string>): void {
    if (info.namespaced && namespace === undefined) return this.sendStatus(res, statuses.methodNotAllowed())
    const fieldValidation = parseFieldValidation(query.fieldValidation)
    if (typeof fieldValidation !== 'string') return this.sendStatus(res, fieldValidation)
    const dryRun = dryRunOf(query)
    if (typeof dryRun !== 'boolean') return this.sendStatus(res, dryRun)
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return this.sendStatus(res, statuses.badRequest('the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf'))
    let object = clone(body) as Json & {metadata?: Partial<KubeObject['metadata']>}
    if (object.kind !== undefined && object.kind !== info.kind) {
      return this.sendStatus(res, statuses.badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${info.apiVersion})`))
    }
    const metadata = object.metadata ?? {}
    if (info.namespaced && metadata.namespace !== undefined && metadata.namespace !== namespace) {
      return this.sendStatus(res, statuses.badRequest('the namespace of the provided object does not match the namespace sent on the request'))
    }
    let name = metadata.name
    if (!name && metadata.generateName) name = `${metadata.generateName}${randomSuffix()}`
    if (!name) return this.sendStatus(res, statuses.invalid(info.kind, info, '', [{field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired'}]))
    object.metadata = {...metadata, name}
    // Decoding (400: wrong types, quantities, unknown fields under Strict), then validation (422), as kube-apiserver
    // does; the namespace must exist before the object is validated (NamespaceLifecycle admission).
    const schema = kindSchema(info.apiVersion, info.kind)
    const admission = schema ? admit(schema, object, fieldValidation) : {ok: true as const, object, warnings: []}
    if (!admission.ok && admission.status.code === 400) return this.sendStatus(res, admission.status)
    if (info.namespaced && !this.store.namespaces.has(keyOf(undefined, namespace!))) return this.sendStatus(res, statuses.notFound(RESOURCES.namespaces, namespace!))
    if (!admission.ok) return this.sendStatus(res, admission.status)
    object = admission.object as typeof object
    const headers: Record<string, string> = admission.warnings.length > 0 ? {Warning: admission.warnings.map((warning) => `299 - ${JSON.stringify(warning)}`).join(', ')} : {}
    if (this.store[info.resource].has(keyOf(info.namespaced ? namespace : undefined, name))) return this.sendStatus(res, statuses.alreadyExists(info, name))

    const meta: KubeObject['metadata'] = {
      ...(object.metadata as KubeObject['metadata']),
      name,
      ...(info.namespaced ? {namespace} : {}),
      uid: randomUUID(),
      resourceVersion: '',
      creationTimestamp: now(),
    }
    delete meta.deletionTimestamp
    if (dryRun) {
      // dryRun=All: validated and answered as created, nothing stored, no resourceVersion (API concepts, "Dry-run").
      const preview: Partial<KubeObject['metadata']> = {...meta}
      delete preview.resourceVersion
      return this.sendJson(res, 201, {...object, apiVersion: info.apiVersion, kind: info.kind, metadata: preview}, headers)
    }
    let created: KubeObject
    if (info.resource === 'namespaces') {
      created = this.createNamespace(name, meta.labels)
    } else if (info.resource === 'pods') {
      const pod = {...object, apiVersion: 'v1', kind: 'Pod', metadata: meta} as unknown as Pod
      created = this.insertPod(pod)
    } else {
      created = this.createJob({...object, apiVersion: 'batch/v1', kind: 'Job', metadata: meta} as unknown as Job)
    }
    this.sendJson(res, 201, this.withType(info, created), headers)
  }

  private deleteObject(res: ServerResponse, info: ResourceInfo, namespace: string | undefined, name: string, query: Record<string, string>, body: unknown): void {
    const object = this.store[info.resource].get(keyOf(info.namespaced ? namespace : undefined, name))
    if (!object) return this.sendStatus(res, statuses.notFound(info, name))
    // DeleteOptions come from the query and, when present, the body (the body wins, as in the apiserver's delete handler).
    const fromBody = (typeof body === 'object' && body !== null ? body : {}) as {propagationPolicy?: string; gracePeriodSeconds?: number; orphanDependents?: boolean; preconditions?: {uid?: string; resourceVersion?: string}}
    let policy = fromBody.propagationPolicy ?? query.propagationPolicy
    const orphanDependents = fromBody.orphanDependents ?? (query.orphanDependents === undefined ? undefined : query.orphanDependents === 'true')
    const graceText = fromBody.gracePeriodSeconds ?? query.gracePeriodSeconds
    const grace = graceText === undefined || graceText === '' ? undefined : Number(graceText)
    if (policy !== undefined && !['Foreground', 'Background', 'Orphan'].includes(policy)) {
      return this.sendStatus(res, statuses.invalid('DeleteOptions', {resource: 'deleteoptions', group: 'meta.k8s.io'}, '', [{field: 'propagationPolicy',
        message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`, reason: 'FieldValueNotSupported'}]))
    }
    if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
      return this.sendStatus(res, statuses.invalid('DeleteOptions', {resource: 'deleteoptions', group: 'meta.k8s.io'}, '', [{field: 'gracePeriodSeconds', message: `Invalid value: ${grace}: must be >= 0`}]))
    }
    const preconditions = fromBody.preconditions
    if (preconditions?.uid && preconditions.uid !== object.metadata.uid) {
      return this.sendStatus(res, statuses.conflict(info, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${object.metadata.uid}`))
    }
    if (preconditions?.resourceVersion && preconditions.resourceVersion !== object.metadata.resourceVersion) {
      return this.sendStatus(res, statuses.conflict(info, name, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${object.metadata.resourceVersion}`))
    }
    if (policy === undefined && orphanDependents !== undefined) policy = orphanDependents ? 'Orphan' : 'Background'
    const dryRun = dryRunOf(query, (fromBody as {dryRun?: string[]}).dryRun)
    if (typeof dryRun !== 'boolean') return this.sendStatus(res, dryRun)
    // dryRun=All: the delete is checked and answered, and nothing changes.
    if (dryRun) return this.sendJson(res, 200, this.withType(info, object))

    if (info.resource === 'pods') {
      const remaining = this.deletePodGracefully(object as Pod, grace)
      return this.sendJson(res, 200, this.withType(info, remaining ?? object))
    }
    if (info.resource === 'namespaces') {
      return this.sendStatus(res, statuses.methodNotAllowed())
    }
    const headers: Record<string, string> = {}
    if (policy === undefined) {
      // batch/v1 Jobs still default to orphaning their pods, and the apiserver warns about it.
      policy = 'Orphan'
      headers.Warning = '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"'
    }
    const remaining = this.deleteJob(object as Job, policy as 'Foreground' | 'Background' | 'Orphan')
    if (remaining) return this.sendJson(res, 200, this.withType(info, remaining), headers)
    // Resources that do not return the deleted object answer with a Success Status.
    this.sendJson(res, 200, {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: {name, group: info.group, kind: info.resource, uid: object.metadata.uid}}, headers)
  }

  // ---------------------------------------------------------------- watch

  private startWatch(res: ServerResponse, info: ResourceInfo, namespace: string | undefined, query: Record<string, string>, fault: Fault | undefined, name?: string): void {
    const selectors = this.parseSelectors(res, info, query)
    if (!selectors) return
    // GET …/pods/NAME?watch=1 watches that one object, as fieldSelector=metadata.name=NAME does.
    if (name !== undefined) selectors.fields.push({field: 'metadata.name', negate: false, value: name})
    const requested = query.resourceVersion
    const fromRv = requested === undefined || requested === '' || requested === '0' ? undefined : Number(requested)
    if (fromRv !== undefined && !Number.isInteger(fromRv)) return this.sendStatus(res, statuses.badRequest(`invalid resource version "${requested}"`))
    const tooOld = fromRv !== undefined && fromRv < this.historyStart
    if ((tooOld || fault?.gone) && this.options.expiredWatchAs === 'http-status') {
      return this.sendStatus(res, statuses.expired(`too old resource version: ${fromRv ?? 0} (${this.historyStart})`))
    }
    res.writeHead(200, {'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private'})
    res.flushHeaders()
    const watcher: Watcher = {
      info, namespace: info.namespaced ? namespace : undefined, labels: selectors.labels, fields: selectors.fields, res,
      bookmarks: query.allowWatchBookmarks === 'true', sent: 0, dropAfter: fault?.dropAfterEvents, timers: [], closed: false,
    }
    if (tooOld || fault?.gone) {
      // kube-apiserver's form: the watch is accepted, then a single ERROR event carries the 410 Expired Status.
      this.writeEvent(watcher, {type: 'ERROR', object: statuses.expired(`too old resource version: ${fromRv ?? 0} (${this.historyStart})`)})
      return void res.end()
    }
    this.watchers.add(watcher)
    res.on('close', () => this.closeWatcher(watcher))
    if (fromRv === undefined) {
      // "Get State and Start at Most Recent" / "Start at Any": synthetic ADDED events for everything that exists.
      const existing = [...this.store[info.resource].values()].sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
      for (const object of existing) {
        if (watcher.closed) return
        if (this.watcherMatches(watcher, object)) this.writeEvent(watcher, {type: 'ADDED', object: this.withType(info, object)})
      }
    } else {
      for (const event of this.history) {
        if (watcher.closed) return
        if (event.rv > fromRv && event.resource === info.resource) this.deliver(watcher, event)
      }
    }
    const timeoutSeconds = query.timeoutSeconds === undefined ? undefined : Number(query.timeoutSeconds)
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
      watcher.timers.push(setTimeout(() => this.closeWatcher(watcher), timeoutSeconds * 1000))
    }
    if (watcher.bookmarks) {
      const interval = setInterval(() => this.writeBookmark(watcher), this.options.bookmarkIntervalMs)
      watcher.timers.push(interval)
    }
  }

  private closeWatcher(watcher: Watcher): void {
    if (watcher.closed) return
    watcher.closed = true
    this.watchers.delete(watcher)
    for (const timer of watcher.timers) clearTimeout(timer)
    if (!watcher.res.writableEnded) watcher.res.end()
  }

  private writeBookmark(watcher: Watcher): void {
    // BOOKMARK objects carry only kind, apiVersion and metadata.resourceVersion.
    this.writeEvent(watcher, {type: 'BOOKMARK', object: {kind: watcher.info.kind, apiVersion: watcher.info.apiVersion, metadata: {resourceVersion: String(this.rv)}}})
  }

  private writeEvent(watcher: Watcher, event: WatchEvent): void {
    if (watcher.closed && event.type !== 'ERROR') return
    watcher.res.write(`${JSON.stringify(event)}\n`)
    watcher.sent++
    if (watcher.dropAfter !== undefined && watcher.sent >= watcher.dropAfter) {
      watcher.closed = true
      this.watchers.delete(watcher)
      for (const timer of watcher.timers) clearTimeout(timer)
      // Let the written bytes leave before the connection dies mid-stream.
      const socket = watcher.res.socket
      setImmediate(() => socket?.destroy())
    }
  }

  private watcherMatches(watcher: Watcher, object: KubeObject | undefined): boolean {
    if (!object) return false
    if (watcher.namespace !== undefined && object.metadata.namespace !== watcher.namespace) return false
    return matchesLabels(watcher.labels, object.metadata.labels) && matchesFields(watcher.fields, this.fieldsOf(watcher.info, object))
  }

  /** Filtered delivery as the watch cache does it: an object that stops matching is DELETED for that watcher, one that starts matching is ADDED. */
  private deliver(watcher: Watcher, event: StoredEvent): void {
    const now = this.watcherMatches(watcher, event.object)
    const before = this.watcherMatches(watcher, event.prev)
    const info = watcher.info
    if (event.type === 'ADDED' && now) this.writeEvent(watcher, {type: 'ADDED', object: this.withType(info, event.object)})
    else if (event.type === 'DELETED' && (now || before)) this.writeEvent(watcher, {type: 'DELETED', object: this.withType(info, event.object)})
    else if (event.type === 'MODIFIED') {
      if (now && before) this.writeEvent(watcher, {type: 'MODIFIED', object: this.withType(info, event.object)})
      else if (now) this.writeEvent(watcher, {type: 'ADDED', object: this.withType(info, event.object)})
      else if (before) {
        const gone = clone(event.prev!)
        gone.metadata.resourceVersion = String(event.rv)
        this.writeEvent(watcher, {type: 'DELETED', object: this.withType(info, gone)})
      }
    }
  }

  // ---------------------------------------------------------------- store mutations (every one bumps the resourceVersion and emits an event)

  private emit(resource: ResourceName, type: StoredEvent['type'], object: KubeObject, prev?: KubeObject): void {
    const event: StoredEvent = {rv: this.rv, resource, type, object: clone(object), ...(prev ? {prev: clone(prev)} : {})}
    this.history.push(event)
    this.trimHistory()
    for (const watcher of this.watchers) if (watcher.info.resource === resource) this.deliver(watcher, event)
  }

  private trimHistory(): void {
    while (this.history.length > this.historySize) {
      const dropped = this.history.shift()!
      this.historyStart = dropped.rv
    }
  }

  private insert<T extends KubeObject>(resource: ResourceName, object: T): T {
    this.rv++
    object.metadata.resourceVersion = String(this.rv)
    const stored = clone(object)
    this.store[resource].set(keyOf(stored.metadata.namespace, stored.metadata.name), stored)
    this.emit(resource, 'ADDED', stored)
    return stored
  }

  private modify(resource: ResourceName, current: KubeObject, mutate: (next: KubeObject) => void): KubeObject {
    const key = keyOf(current.metadata.namespace, current.metadata.name)
    const prev = this.store[resource].get(key)
    if (!prev) throw new Error(`${resource} ${key} does not exist`)
    const next = clone(prev)
    mutate(next)
    this.rv++
    next.metadata.resourceVersion = String(this.rv)
    this.store[resource].set(key, next)
    this.emit(resource, 'MODIFIED', next, prev)
    if (resource === 'pods') this.podChanged(prev as Pod, next as Pod)
    return next
  }

  private remove(resource: ResourceName, current: KubeObject): void {
    const key = keyOf(current.metadata.namespace, current.metadata.name)
    const prev = this.store[resource].get(key)
    if (!prev) return
    this.store[resource].delete(key)
    this.rv++
    const final = clone(prev)
    final.metadata.resourceVersion = String(this.rv)
    this.emit(resource, 'DELETED', final, prev)
    if (resource === 'pods') this.podRemoved(prev as Pod)
  }

  // ---------------------------------------------------------------- pods

  private findPod(name: string): Pod {
    const [namespace, podName] = name.includes('/') ? name.split('/', 2) : [undefined, name]
    const matches = [...this.store.pods.values()].filter((pod) => pod.metadata.name === podName && (namespace === undefined || pod.metadata.namespace === namespace))
    if (matches.length === 0) throw new Error(`no pod ${name}`)
    if (matches.length > 1) throw new Error(`pod name ${name} is ambiguous; pass namespace/name`)
    return matches[0] as Pod
  }

  private containerStatus(pod: Pod, container: string, init = false): ContainerStatus {
    const list = init ? pod.status.initContainerStatuses : pod.status.containerStatuses
    const status = list?.find((candidate) => candidate.name === container)
    if (!status) throw new Error(`pod ${pod.metadata.name} has no ${init ? 'init ' : ''}container ${container}`)
    return status
  }

  private assignRuntimeIds(pod: Pod, status: ContainerStatus): void {
    status.containerID ??= `containerd://${randomHex(32)}`
    if (!status.imageID) {
      const container = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((candidate) => candidate.name === status.name)
      const image = container?.image ?? status.image
      const repository = image.replace(/[:@].*$/, '')
      status.imageID = `${repository.includes('/') ? repository : `docker.io/library/${repository}`}@sha256:${randomHex(32)}`
    }
  }

  private recomputePodConditions(pod: Pod): void {
    const containers = pod.status.containerStatuses ?? []
    const allReady = containers.length > 0 && containers.every((status) => status.ready)
    const notReady = containers.filter((status) => !status.ready).map((status) => status.name)
    if (isTerminal(pod)) {
      setCondition(pod.status, 'ContainersReady', 'False', 'PodCompleted')
      setCondition(pod.status, 'Ready', 'False', 'PodCompleted')
    } else if (allReady) {
      setCondition(pod.status, 'ContainersReady', 'True')
      setCondition(pod.status, 'Ready', 'True')
    } else {
      const message = `containers with unready status: [${notReady.join(' ')}]`
      setCondition(pod.status, 'ContainersReady', 'False', 'ContainersNotReady', message)
      setCondition(pod.status, 'Ready', 'False', 'ContainersNotReady', message)
    }
  }

  /** A pod made by the API (POST or the job controller): scheduled at once to the test node, containers being created. */
  private insertPod(pod: Pod): Pod {
    pod.spec.terminationGracePeriodSeconds ??= 30
    pod.spec.restartPolicy ??= 'Always'
    pod.spec.nodeName ??= NODE_NAME
    pod.spec.schedulerName ??= 'default-scheduler'
    const hasInit = (pod.spec.initContainers ?? []).length > 0
    pod.status = {
      phase: 'Pending',
      qosClass: 'BestEffort',
      conditions: [],
      ...(hasInit ? {initContainerStatuses: (pod.spec.initContainers ?? []).map((container) => containerStatusFor(container, {waiting: {reason: 'PodInitializing'}}))} : {}),
      containerStatuses: pod.spec.containers.map((container) => containerStatusFor(container, {waiting: {reason: hasInit ? 'PodInitializing' : 'ContainerCreating'}})),
    }
    setCondition(pod.status, 'PodReadyToStartContainers', 'False')
    if (hasInit) setCondition(pod.status, 'Initialized', 'False', 'ContainersNotInitialized', `containers with incomplete status: [${(pod.spec.initContainers ?? []).map((container) => container.name).join(' ')}]`)
    else setCondition(pod.status, 'Initialized', 'True')
    this.recomputePodConditions(pod)
    setCondition(pod.status, 'PodScheduled', 'True')
    return this.insert('pods', pod)
  }

  /**
   * Kubelet: the pod's containers end (test/support/kube/termination.ts says how those that never ran are reported).
   * `appContainersRan`: succeedPod/failPod state how the app containers exited, so those of an initialized pod that
   * were still waiting count as having run.
   */
  private terminatePod(name: string, phase: PodPhase, defaultExit: number, defaultReason: string, outcome: ContainerOutcome, podReason?: string, podMessage?: string, appContainersRan = true): Pod {
    return this.updatePod(name, (next) => {
      const finishedAt = now()
      const initialized = (next.status.initContainerStatuses ?? []).every((status) => status.state.terminated?.exitCode === 0)
      for (const status of next.status.containerStatuses ?? []) {
        if (appContainersRan && initialized && status.state.waiting) status.state = {running: {startedAt: finishedAt}}
      }
      for (const status of [...(next.status.initContainerStatuses ?? []), ...(next.status.containerStatuses ?? [])]) {
        if (status.state.running) this.assignRuntimeIds(next, status)
      }
      endContainers(next, finishedAt, (container) => {
        const exitCode = outcome.exitCodes?.[container] ?? defaultExit
        const message = outcome.messages?.[container]
        return {exitCode, reason: outcome.reasons?.[container] ?? (exitCode === 0 ? 'Completed' : defaultReason), ...(message ? {message} : {})}
      })
      next.status.phase = phase
      next.status.startTime ??= finishedAt
      if (podReason) next.status.reason = podReason
      if (podMessage) next.status.message = podMessage
      setCondition(next.status, 'PodReadyToStartContainers', 'False')
      this.recomputePodConditions(next)
    })
  }

  /**
   * Graceful pod deletion (pod-lifecycle "Termination of Pods"): an unscheduled or finished pod, or grace 0, is removed
   * at once; otherwise it gets deletionTimestamp (Terminating) and the kubelet removes it when the grace period ends.
   * Returns the pod if it still exists.
   */
  private deletePodGracefully(pod: Pod, requestedGrace?: number): Pod | undefined {
    let grace = requestedGrace ?? pod.spec.terminationGracePeriodSeconds ?? 30
    if (!pod.spec.nodeName || isTerminal(pod)) grace = 0
    let startedMs = Date.now()
    if (pod.metadata.deletionTimestamp) {
      // Deleting a terminating pod again can only shorten its grace period, counted from the first DELETE; 0 is a
      // force deletion that removes it from the API at once, whatever the kubelet does (pod-lifecycle "Forced Pod
      // termination"; apiserver's BeforeDelete).
      const current = pod.metadata.deletionGracePeriodSeconds ?? 0
      if (requestedGrace === undefined || requestedGrace >= current) return pod
      startedMs = this.deletionStarted.get(pod.metadata.uid) ?? Date.parse(pod.metadata.deletionTimestamp) - current * 1000
    }
    if (grace === 0) {
      this.remove('pods', pod)
      return undefined
    }
    const deletionTimestamp = new Date(startedMs + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const updated = this.modify('pods', pod, (next) => {
      next.metadata.deletionTimestamp = deletionTimestamp
      next.metadata.deletionGracePeriodSeconds = grace
    }) as Pod
    const key = keyOf(pod.metadata.namespace, pod.metadata.name)
    const uid = pod.metadata.uid
    this.deletionStarted.set(uid, startedMs)
    this.later(Math.max(0, startedMs + grace * 1000 - Date.now()), () => {
      const current = this.store.pods.get(key) as Pod | undefined
      // A later DELETE that shortened the grace period scheduled its own end.
      if (!current || current.metadata.uid !== uid || current.metadata.deletionTimestamp !== deletionTimestamp) return
      if (this.hangTerminatingPods) this.overdue.add(key)
      else this.killAndRemove(current)
    })
    return updated
  }

  /**
   * Kubelet, at the end of a pod's grace period: its containers are killed and the pod is reported in a terminal phase
   * (Failed, unless it had already finished) before it is removed from the API (termination.ts).
   */
  private killAndRemove(pod: Pod): void {
    const key = keyOf(pod.metadata.namespace, pod.metadata.name)
    if (!isTerminal(pod)) {
      this.modify('pods', pod, (next) => {
        const ended = next as Pod
        endContainers(ended, now(), () => KILLED)
        ended.status.phase = 'Failed'
        setCondition(ended.status, 'PodReadyToStartContainers', 'False')
        this.recomputePodConditions(ended)
      })
    }
    const current = this.store.pods.get(key)
    if (current?.metadata.uid === pod.metadata.uid) this.remove('pods', current)
  }

  private podRemoved(pod: Pod): void {
    this.podExec.podRemoved(pod)
    this.overdue.delete(keyOf(pod.metadata.namespace, pod.metadata.name))
    this.deletionStarted.delete(pod.metadata.uid)
    const prefix = `${keyOf(pod.metadata.namespace, pod.metadata.name)}/`
    for (const follower of [...this.logFollowers]) {
      if (follower.key.startsWith(prefix)) {
        follower.res.end()
        this.logFollowers.delete(follower)
      }
    }
    this.logs.forgetPod(prefix)
    const job = this.ownerJob(pod)
    if (job?.metadata.finalizers?.includes('foregroundDeletion') && this.ownedPods(job).length === 0) this.remove('jobs', job)
    else if (job) {
      this.syncJobCounts(job)
      this.completeTermination(job.metadata.namespace, job.metadata.name)
    }
  }

  private podChanged(prev: Pod, next: Pod): void {
    // Log streams of containers that terminated end, as the kubelet's do.
    for (const status of [...(next.status.containerStatuses ?? []), ...(next.status.initContainerStatuses ?? [])]) {
      if (!status.state.terminated) continue
      const key = `${keyOf(next.metadata.namespace, next.metadata.name)}/${status.name}`
      for (const follower of [...this.logFollowers]) {
        if (follower.key === key) {
          follower.res.end()
          this.logFollowers.delete(follower)
        }
      }
    }
    const job = this.ownerJob(next)
    if (!job) return
    if (!isTerminal(prev) && isTerminal(next)) this.podFinished(job, next)
    else this.syncJobCounts(job)
  }

  private readLog(res: ServerResponse, namespace: string, name: string, query: Record<string, string>): void {
    const pod = this.store.pods.get(keyOf(namespace, name)) as Pod | undefined
    if (!pod) return this.sendStatus(res, statuses.notFound(RESOURCES.pods, name))
    const names = pod.spec.containers.map((container) => container.name)
    const initNames = (pod.spec.initContainers ?? []).map((container) => container.name)
    let container = query.container
    if (!container) {
      if (names.length !== 1) {
        const init = initNames.length > 0 ? ` or one of the init containers: [${initNames.join(' ')}]` : ''
        return this.sendStatus(res, statuses.badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]${init}`))
      }
      container = names[0]!
    }
    const options = parseLogOptions(query, name)
    if ('kind' in options) return this.sendStatus(res, options)
    const status = [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])].find((candidate) => candidate.name === container)
    if (!names.includes(container) && !initNames.includes(container)) return this.sendStatus(res, statuses.badRequest(`container ${container} is not valid for pod ${name}`))
    const key = `${keyOf(namespace, name)}/${container}`
    if (options.previous) {
      // Only a container that restarted has a previous instance (the kubelet keeps one).
      if (!status?.lastState.terminated || !this.logs.has(key, true)) return this.sendStatus(res, statuses.badRequest(`previous terminated container "${container}" in pod "${name}" not found`))
      const text = this.logs.read(key, options)
      res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text)})
      return void res.end(text)
    }
    if (!status || (status.state.waiting && !status.lastState.terminated && status.restartCount === 0 && !this.logs.has(key))) {
      return this.sendStatus(res, statuses.badRequest(`container "${container}" in pod "${name}" is waiting to start: ${status?.state.waiting?.reason ?? 'ContainerCreating'}`))
    }
    const text = this.logs.read(key, options)
    const follow = options.follow && !status.state.terminated
    if (!follow) {
      res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text)})
      return void res.end(text)
    }
    res.writeHead(200, {'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked'})
    res.write(text)
    const follower: LogFollower = {key, res, timestamps: options.timestamps}
    this.logFollowers.add(follower)
    res.on('close', () => this.logFollowers.delete(follower))
  }

  // ---------------------------------------------------------------- simulated job controller and garbage collector

  private createJob(job: Job): Job {
    const uid = job.metadata.uid
    const name = job.metadata.name
    const selectorLabels = {'batch.kubernetes.io/controller-uid': uid}
    job.spec.backoffLimit ??= 6
    job.spec.completions ??= 1
    job.spec.parallelism ??= 1
    job.spec.completionMode ??= 'NonIndexed'
    job.spec.suspend ??= false
    job.spec.selector ??= {matchLabels: selectorLabels}
    job.spec.template.metadata ??= {}
    job.spec.template.metadata.labels = {
      ...job.spec.template.metadata.labels,
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    }
    job.metadata.generation = 1
    job.metadata.labels = {...job.metadata.labels, 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name}
    job.status = {}
    const stored = this.insert('jobs', job)
    if (!job.spec.suspend) {
      this.createJobPod(stored)
      this.modify('jobs', stored, (next) => {
        const status = (next as Job).status
        status.startTime = now()
        status.active = 1
        status.ready = 0
        status.terminating = 0
        status.uncountedTerminatedPods = {}
      })
      if (job.spec.activeDeadlineSeconds !== undefined) {
        this.later(job.spec.activeDeadlineSeconds * 1000, () => {
          const current = this.store.jobs.get(keyOf(stored.metadata.namespace, name))
          if (current?.metadata.uid === uid) this.expireJobDeadline(stored.metadata.namespace!, name)
        })
      }
    }
    return clone(stored)
  }

  private createJobPod(job: Job): Pod {
    const template = clone(job.spec.template)
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${job.metadata.name}-${randomSuffix()}`,
        generateName: `${job.metadata.name}-`,
        namespace: job.metadata.namespace,
        uid: randomUUID(),
        resourceVersion: '',
        creationTimestamp: now(),
        labels: {...template.metadata?.labels},
        ...(template.metadata?.annotations ? {annotations: template.metadata.annotations} : {}),
        ownerReferences: [{apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true}],
      },
      spec: template.spec,
      status: {phase: 'Pending'},
    }
    return this.insertPod(pod)
  }

  private ownerJob(pod: Pod): Job | undefined {
    const owner = pod.metadata.ownerReferences?.find((reference) => reference.kind === 'Job' && reference.controller)
    if (!owner) return undefined
    const job = this.store.jobs.get(keyOf(pod.metadata.namespace, owner.name)) as Job | undefined
    return job?.metadata.uid === owner.uid ? job : undefined
  }

  private ownedPods(job: Job): Pod[] {
    return ([...this.store.pods.values()] as Pod[]).filter((pod) => pod.metadata.namespace === job.metadata.namespace &&
      pod.metadata.ownerReferences?.some((reference) => reference.uid === job.metadata.uid))
  }

  private jobFinished(job: Job): boolean {
    return Boolean(job.status.conditions?.some((condition) => (condition.type === 'Complete' || condition.type === 'Failed') && condition.status === 'True'))
  }

  /** Mirrors active/ready counts from the pods, emitting MODIFIED only when they change. */
  private syncJobCounts(job: Job): void {
    if (job.metadata.deletionTimestamp || this.quietJobs.has(job.metadata.uid)) return
    const pods = this.ownedPods(job)
    // Terminating pods are neither active nor ready (KEP-3939: they are counted in status.terminating).
    const active = pods.filter((pod) => !isTerminal(pod) && !pod.metadata.deletionTimestamp).length
    const ready = pods.filter((pod) => !isTerminal(pod) && !pod.metadata.deletionTimestamp && findCondition(pod.status.conditions, 'Ready')?.status === 'True').length
    const terminating = pods.filter((pod) => pod.metadata.deletionTimestamp && !isTerminal(pod)).length
    if ((job.status.active ?? 0) === active && (job.status.ready ?? 0) === ready && (job.status.terminating ?? 0) === terminating) return
    this.modify('jobs', job, (next) => {
      const status = (next as Job).status
      status.active = active
      status.ready = ready
      status.terminating = terminating
    })
  }

  private podFinished(job: Job, pod: Pod): void {
    if (this.jobFinished(job) || job.metadata.deletionTimestamp) return
    const succeeded = pod.status.phase === 'Succeeded'
    const counts = {succeeded: (job.status.succeeded ?? 0) + (succeeded ? 1 : 0), failed: (job.status.failed ?? 0) + (succeeded ? 0 : 1)}
    // A Job that is already ending (FailureTarget or SuccessCriteriaMet) only counts the pods it is waiting for.
    const ending = this.jobEnding(job)
    const complete = !ending && counts.succeeded >= (job.spec.completions ?? 1)
    const backoffExceeded = !ending && !succeeded && counts.failed > (job.spec.backoffLimit ?? 6)
    const countPods = (status: Job['status']) => {
      const pods = this.ownedPods(job)
      if (counts.succeeded) status.succeeded = counts.succeeded
      if (counts.failed) status.failed = counts.failed
      status.active = pods.filter((candidate) => !isTerminal(candidate) && !candidate.metadata.deletionTimestamp).length
      status.terminating = pods.filter((candidate) => !isTerminal(candidate) && candidate.metadata.deletionTimestamp).length
      status.ready = 0
    }
    if (complete) return this.endJob(job, SUCCESS, 'CompletionsReached', 'Reached expected number of succeeded pods', countPods)
    if (backoffExceeded) return this.endJob(job, FAILURE, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', countPods)
    // An ending Job counts the pod and, if it was the last one running, becomes terminal in the same update.
    if (ending && this.completeTermination(job.metadata.namespace, job.metadata.name, countPods)) return
    const updated = this.modify('jobs', job, (next) => countPods((next as Job).status)) as Job
    if (!succeeded && !ending) {
      // Within the backoff limit the controller replaces the failed pod (without the real exponential back-off delay).
      this.createJobPod(updated)
      this.syncJobCounts(this.store.jobs.get(keyOf(updated.metadata.namespace, updated.metadata.name)) as Job)
    }
  }

  /** The Job has its interim condition (FailureTarget or SuccessCriteriaMet) and waits for its pods to terminate. */
  private jobEnding(job: Job): boolean {
    return [FAILURE.interim, SUCCESS.interim].some((type) => findCondition(job.status.conditions, type)?.status === 'True')
  }

  /**
   * Job controller: the Job met its failure or success criteria. ≥ 1.31 (failure-target-first): the interim condition,
   * then its remaining pods are terminated, and completeTermination adds the terminal condition once none is left
   * running. ≤ 1.30 (failed-at-once): the pods are deleted and the terminal condition is written at once.
   */
  private endJob(job: Job, outcome: typeof FAILURE | typeof SUCCESS, reason: string, message: string, mutate: (status: Job['status']) => void = () => {}): void {
    const key = keyOf(job.metadata.namespace, job.metadata.name)
    const running = () => this.ownedPods(job).filter((pod) => !isTerminal(pod) && !pod.metadata.deletionTimestamp)
    if (this.options.jobTermination === 'failure-target-first') {
      this.modify('jobs', job, (next) => {
        const status = (next as Job).status
        mutate(status)
        setCondition(status, outcome.interim, 'True', reason, message)
        status.active = 0
        status.ready = 0
        status.terminating = running().length + this.ownedPods(job).filter((pod) => !isTerminal(pod) && pod.metadata.deletionTimestamp).length
      })
      for (const pod of running()) this.deletePodGracefully(pod)
      this.completeTermination(job.metadata.namespace, job.metadata.name)
      return
    }
    // The ≤ 1.30 controller deletes the pods, then writes the terminal condition in one status update.
    this.quietJobs.add(job.metadata.uid)
    try {
      for (const pod of running()) this.deletePodGracefully(pod)
    } finally {
      this.quietJobs.delete(job.metadata.uid)
    }
    const current = this.store.jobs.get(key) as Job
    const updated = this.modify('jobs', current, (next) => {
      const status = (next as Job).status
      mutate(status)
      setCondition(status, outcome.terminal, 'True', reason, message)
      if (outcome === SUCCESS) status.completionTime = now()
      status.active = 0
      status.ready = 0
      status.terminating = this.ownedPods(job).filter((pod) => !isTerminal(pod) && pod.metadata.deletionTimestamp).length
    }) as Job
    this.afterJobFinished(updated)
  }

  /** ≥ 1.31: the terminal condition, with the interim one's reason and message, once none of the Job's pods still runs. */
  private completeTermination(namespace: string | undefined, name: string, mutate: (status: Job['status']) => void = () => {}): boolean {
    const job = this.store.jobs.get(keyOf(namespace, name)) as Job | undefined
    if (!job || this.jobFinished(job) || job.metadata.deletionTimestamp) return false
    const outcome = [FAILURE, SUCCESS].find((candidate) => findCondition(job.status.conditions, candidate.interim)?.status === 'True')
    if (!outcome || this.ownedPods(job).some((pod) => !isTerminal(pod))) return false
    const interim = findCondition(job.status.conditions, outcome.interim)!
    const updated = this.modify('jobs', job, (next) => {
      const status = (next as Job).status
      mutate(status)
      setCondition(status, outcome.terminal, 'True', interim.reason, interim.message)
      if (outcome === SUCCESS) status.completionTime = now()
      status.active = 0
      status.ready = 0
      status.terminating = 0
    }) as Job
    this.afterJobFinished(updated)
    return true
  }

  private afterJobFinished(job: Job): void {
    const ttl = job.spec.ttlSecondsAfterFinished
    if (ttl === undefined) return
    const key = keyOf(job.metadata.namespace, job.metadata.name)
    this.later(ttl * 1000, () => {
      const current = this.store.jobs.get(key)
      if (current?.metadata.uid === job.metadata.uid && !current.metadata.deletionTimestamp) this.deleteJob(current as Job, 'Background')
    })
  }

  /**
   * Cascading deletion (garbage-collection docs): Foreground marks the Job (deletionTimestamp, finalizer
   * foregroundDeletion), deletes the pods and removes the Job once they are gone; Background removes the Job at once and
   * then the pods; Orphan removes the Job and strips the pods' ownerReferences. Returns the Job if it still exists.
   */
  private deleteJob(job: Job, policy: 'Foreground' | 'Background' | 'Orphan'): Job | undefined {
    const pods = this.ownedPods(job)
    if (policy === 'Foreground') {
      if (pods.length === 0) {
        this.remove('jobs', job)
        return undefined
      }
      const marked = this.modify('jobs', job, (next) => {
        next.metadata.deletionTimestamp = now()
        next.metadata.deletionGracePeriodSeconds = 0
        next.metadata.finalizers = [...(next.metadata.finalizers ?? []), 'foregroundDeletion']
      }) as Job
      for (const pod of pods) this.deletePodGracefully(this.store.pods.get(keyOf(pod.metadata.namespace, pod.metadata.name)) as Pod)
      return this.store.jobs.has(keyOf(job.metadata.namespace, job.metadata.name)) ? clone(marked) : undefined
    }
    this.remove('jobs', job)
    for (const pod of pods) {
      const current = this.store.pods.get(keyOf(pod.metadata.namespace, pod.metadata.name)) as Pod | undefined
      if (!current) continue
      if (policy === 'Background') this.deletePodGracefully(current)
      else {
        this.modify('pods', current, (next) => {
          next.metadata.ownerReferences = next.metadata.ownerReferences?.filter((reference) => reference.uid !== job.metadata.uid)
          if (next.metadata.ownerReferences?.length === 0) delete next.metadata.ownerReferences
        })
      }
    }
    return undefined
  }
}

/** An HTTP answer on a socket that asked for an upgrade: the Status as the body, then the connection closes. */
function writeSocketStatus(socket: Socket, status: StatusObject): void {
  if (socket.destroyed) return
  const body = JSON.stringify(status)
  socket.end(`HTTP/1.1 ${status.code} ${status.reason ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
