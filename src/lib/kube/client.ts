// The KubeClient implementation over @kubernetes/client-node. Only ./index.ts loads this module, lazily.
// Every call goes through KubeClientImpl.call: one place that knows verb, resource, namespace, status and duration,
// enforces the request timeout (aborting the socket, so a hung server leaves nothing open) and maps failures.

import {readFileSync} from 'node:fs'
import {request as httpsRequest, type RequestOptions} from 'node:https'
import {performance} from 'node:perf_hooks'
import {
  BatchV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  Observable,
  VersionApi,
  Watch,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
  type V1Job,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node'
import {DanubeError} from '../errors.js'
import {execInPod} from './exec.js'
import {errorForStatus, type KubeCallTarget, type KubeStatus, type MapContext, toKubeError} from './errors.js'
import {DEFAULT_REQUEST_TIMEOUT_MS} from './defaults.js'
import {APPLY_CONTENT_TYPE, objectPath, type ObjectRef, resourceOf} from './resources.js'
import type {
  ApplyOptions,
  DeleteJobOptions,
  DeletePodOptions,
  ExecOutcome,
  ExecStreams,
  KubeCallInfo,
  KubeClient,
  KubeClientOptions,
  KubeObject,
  KubeVersion,
  KubeWatchEvent,
  ListResult,
  ReadyzResult,
  WatchDone,
  WatchEventType,
  WatchHandle,
  WatchOptions,
} from './index.js'

interface CallScope {
  /** Per-call client options: a middleware that sets the abort signal and records the HTTP status. */
  options: ConfigurationOptions
  signal: AbortSignal
  setStatus(code: number): void
}

function loadKubeconfig(file: string): KubeConfig {
  try {
    readFileSync(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new DanubeError('KUBECONFIG_NOT_FOUND', `kubeconfig ${file} does not exist`, {
        hint: 'set kubernetes.kubeconfig (or KUBECONFIG) to an existing file, or kubernetes.enabled: false',
      })
    }
    throw new DanubeError('KUBECONFIG_UNREADABLE', `cannot read kubeconfig ${file}: ${code ?? String(error)}`, {hint: 'check the file permissions'})
  }
  const kc = new KubeConfig()
  try {
    kc.loadFromFile(file)
  } catch (error) {
    const detail = (error instanceof Error ? error.message : String(error)).split('\n')[0]
    throw new DanubeError('KUBECONFIG_INVALID', `kubeconfig ${file} is not a valid kubeconfig: ${detail}`, {
      cause: error,
      hint: 'check it with kubectl --kubeconfig <file> config view',
    })
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster?.server) {
    throw new DanubeError('KUBECONFIG_INVALID', `kubeconfig ${file} has no current context with a cluster server`, {
      hint: 'set current-context to a context whose cluster has a server URL',
    })
  }
  return kc
}

/** /api/v1/namespaces/x/pods → {resource: pods, namespace: x}. */
function targetOfPath(path: string, verb: string): KubeCallTarget {
  const match = path.match(/^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+)(?=\/[^/]))?\/([^/?]+)/)
  if (!match) return {verb, resource: path}
  return {verb, resource: match[2]!, ...(match[1] ? {namespace: decodeURIComponent(match[1])} : {})}
}

class KubeClientImpl implements KubeClient {
  readonly server: string
  private readonly core: CoreV1Api
  private readonly batch: BatchV1Api
  private readonly versionApi: VersionApi
  private readonly timeoutMs: number

  constructor(
    private readonly kc: KubeConfig,
    readonly kubeconfig: string,
    timeoutMs: number | undefined,
    private readonly onCall?: (call: KubeCallInfo) => void,
    private readonly onWatch?: (event: KubeWatchEvent) => void,
  ) {
    this.server = kc.getCurrentCluster()!.server
    this.timeoutMs = timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.core = kc.makeApiClient(CoreV1Api)
    this.batch = kc.makeApiClient(BatchV1Api)
    this.versionApi = kc.makeApiClient(VersionApi)
  }

  private report(info: KubeCallInfo): void {
    try {
      this.onCall?.(info)
    } catch {
      // A telemetry hook must never break a Kubernetes call.
    }
  }

  private reportWatch(event: KubeWatchEvent): void {
    try {
      this.onWatch?.(event)
    } catch {
      // As for onCall: telemetry never breaks a watch.
    }
  }

  private context(target: KubeCallTarget, timedOut = false): MapContext {
    return {target, kubeconfig: this.kubeconfig, timeoutMs: this.timeoutMs, timedOut}
  }

  /** The one path every request takes: timeout, status capture, error mapping and the onCall hook. */
  private async call<T>(target: KubeCallTarget, run: (scope: CallScope) => Promise<T>): Promise<T> {
    const controller = new AbortController()
    const started = performance.now()
    let statusCode: number | undefined
    let timedOut = false
    let timer: NodeJS.Timeout | undefined
    const scope: CallScope = {
      signal: controller.signal,
      setStatus: (code) => (statusCode = code),
      options: {
        middleware: [{
          pre: (context: RequestContext) => {
            context.setSignal(controller.signal)
            return new Observable(Promise.resolve(context))
          },
          post: (response: ResponseContext) => {
            statusCode = response.httpStatusCode
            return new Observable(Promise.resolve(response))
          },
        }],
        middlewareMergeStrategy: 'append',
      },
    }
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true
        controller.abort()
        reject(new Error('timeout'))
      }, this.timeoutMs)
    })
    try {
      const result = await Promise.race([run(scope), timeout])
      this.report({...target, statusCode, durationMs: performance.now() - started})
      return result
    } catch (error) {
      const mapped = toKubeError(error, this.context(target, timedOut))
      const code = statusCode ?? (typeof (error as {code?: unknown})?.code === 'number' ? (error as {code: number}).code : undefined)
      this.report({...target, ...(code !== undefined ? {statusCode: code} : {}), durationMs: performance.now() - started, error: mapped})
      throw mapped
    } finally {
      clearTimeout(timer)
    }
  }

  async version(): Promise<KubeVersion> {
    const info = await this.call({verb: 'get', resource: '/version'}, ({options}) => this.versionApi.getCode({}, options))
    return {gitVersion: info.gitVersion, major: info.major, minor: info.minor, platform: info.platform}
  }

  async readyz(): Promise<ReadyzResult> {
    const target: KubeCallTarget = {verb: 'get', resource: '/readyz'}
    const answer = await this.call(target, async ({signal, setStatus}) => {
      const response = await this.rawGet('/readyz', signal)
      setStatus(response.statusCode)
      if (response.statusCode === 401) throw errorForStatus(401, undefined, this.context(target))
      return response
    })
    if (answer.statusCode === 200) return {ready: true, endpoint: '/readyz', statusCode: 200}
    if (answer.statusCode === 404 || answer.statusCode === 403) {
      // Servers without /readyz (or that do not let us read it) still answer /version when they are up.
      await this.version()
      return {ready: true, endpoint: '/version', statusCode: 200}
    }
    return {ready: false, endpoint: '/readyz', statusCode: answer.statusCode, detail: answer.text.trim().slice(0, 2000)}
  }

  /** A GET outside the generated API (health endpoints), with the kubeconfig's TLS and credentials. */
  private rawGet(path: string, signal: AbortSignal): Promise<{statusCode: number; text: string}> {
    return this.rawRequest('GET', path, signal)
  }

  /**
   * A request outside the generated API: server-side apply has no typed method per kind in the client, and
   * its KubernetesObjectApi would add a discovery call per kind.
   */
  private async rawRequest(method: string, path: string, signal: AbortSignal, body?: {text: string; contentType: string}): Promise<{statusCode: number; text: string}> {
    const options: RequestOptions = {}
    await this.kc.applyToHTTPSOptions(options)
    const headers: Record<string, string | number> = {...(options.headers as Record<string, string> | undefined), Accept: 'application/json'}
    if (body) Object.assign(headers, {'Content-Type': body.contentType, 'Content-Length': Buffer.byteLength(body.text)})
    return new Promise((resolve, reject) => {
      const request = httpsRequest(new URL(path, this.server), {...options, headers, method, signal}, (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({statusCode: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8')}))
        response.on('error', reject)
      })
      request.on('error', reject)
      request.end(body?.text)
    })
  }

  /** A raw call whose non-2xx answer becomes the typed error its Status describes. */
  private async rawJson(target: KubeCallTarget, method: string, path: string, body?: {text: string; contentType: string}): Promise<{statusCode: number; value: unknown}> {
    return this.call(target, async ({signal, setStatus}) => {
      const response = await this.rawRequest(method, path, signal, body)
      setStatus(response.statusCode)
      let value: unknown
      try {
        value = response.text ? JSON.parse(response.text) : undefined
      } catch {
        value = undefined
      }
      if (response.statusCode >= 300) throw errorForStatus(response.statusCode, value as KubeStatus | undefined, this.context(target))
      return {statusCode: response.statusCode, value}
    })
  }

  async applyObject(object: KubeObject, applyOptions: ApplyOptions): Promise<KubeObject> {
    const ref = {apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace}
    const query = new URLSearchParams({fieldManager: applyOptions.fieldManager, ...(applyOptions.force ? {force: 'true'} : {})})
    const target: KubeCallTarget = {verb: 'patch', resource: resourceOf(ref), name: ref.name, ...(ref.namespace ? {namespace: ref.namespace} : {})}
    const {value} = await this.rawJson(target, 'PATCH', `${objectPath(ref)}?${query}`, {text: JSON.stringify(object), contentType: APPLY_CONTENT_TYPE})
    return value as KubeObject
  }

  async getObject(ref: ObjectRef): Promise<KubeObject | undefined> {
    const target: KubeCallTarget = {verb: 'get', resource: resourceOf(ref), name: ref.name, ...(ref.namespace ? {namespace: ref.namespace} : {})}
    try {
      return (await this.rawJson(target, 'GET', objectPath(ref))).value as KubeObject
    } catch (error) {
      if (error instanceof DanubeError && error.code === 'KUBE_NOT_FOUND') return undefined
      throw error
    }
  }

  async deleteObject(ref: ObjectRef): Promise<boolean> {
    const target: KubeCallTarget = {verb: 'delete', resource: resourceOf(ref), name: ref.name, ...(ref.namespace ? {namespace: ref.namespace} : {})}
    try {
      await this.rawJson(target, 'DELETE', objectPath(ref))
      return true
    } catch (error) {
      if (error instanceof DanubeError && error.code === 'KUBE_NOT_FOUND') return false
      throw error
    }
  }

  async listNodes(): Promise<ListResult<V1Node>> {
    const list = await this.call({verb: 'list', resource: 'nodes'}, ({options}) => this.core.listNode({}, options))
    return {items: list.items, resourceVersion: list.metadata?.resourceVersion ?? ''}
  }

  async ensureNamespace(name: string): Promise<{created: boolean}> {
    try {
      await this.call({verb: 'get', resource: 'namespaces', name}, ({options}) => this.core.readNamespace({name}, options))
      return {created: false}
    } catch (error) {
      // Forbidden to read it is not forbidden to create it: try, and let AlreadyExists say it is there.
      if (!(error instanceof DanubeError) || !['KUBE_NOT_FOUND', 'KUBE_FORBIDDEN'].includes(error.code)) throw error
    }
    try {
      await this.call({verb: 'create', resource: 'namespaces'}, ({options}) =>
        this.core.createNamespace({body: {apiVersion: 'v1', kind: 'Namespace', metadata: {name}}}, options))
      return {created: true}
    } catch (error) {
      if (error instanceof DanubeError && error.code === 'KUBE_CONFLICT') return {created: false}
      throw error
    }
  }

  createJob(namespace: string, body: V1Job): Promise<V1Job> {
    return this.call({verb: 'create', resource: 'jobs', namespace}, ({options}) =>
      this.batch.createNamespacedJob({namespace, body}, options))
  }

  getJob(namespace: string, name: string): Promise<V1Job> {
    return this.call({verb: 'get', resource: 'jobs', namespace, name}, ({options}) => this.batch.readNamespacedJob({namespace, name}, options))
  }

  async listJobs(namespace: string, labelSelector?: string): Promise<ListResult<V1Job>> {
    const list = await this.call({verb: 'list', resource: 'jobs', namespace}, ({options}) =>
      this.batch.listNamespacedJob({namespace, ...(labelSelector ? {labelSelector} : {})}, options))
    return {items: list.items, resourceVersion: list.metadata?.resourceVersion ?? ''}
  }

  async deleteJob(namespace: string, name: string, deleteOptions: DeleteJobOptions = {}): Promise<void> {
    const propagationPolicy = deleteOptions.propagationPolicy ?? 'Background'
    await this.call({verb: 'delete', resource: 'jobs', namespace, name}, ({options}) =>
      this.batch.deleteNamespacedJob({
        namespace, name, propagationPolicy,
        ...(deleteOptions.gracePeriodSeconds !== undefined ? {gracePeriodSeconds: deleteOptions.gracePeriodSeconds} : {}),
      }, options))
  }

  async listPods(namespace: string, labelSelector?: string): Promise<ListResult<V1Pod>> {
    const list = await this.call({verb: 'list', resource: 'pods', namespace}, ({options}) =>
      this.core.listNamespacedPod({namespace, ...(labelSelector ? {labelSelector} : {})}, options))
    return {items: list.items, resourceVersion: list.metadata?.resourceVersion ?? ''}
  }

  getPod(namespace: string, name: string): Promise<V1Pod> {
    return this.call({verb: 'get', resource: 'pods', namespace, name}, ({options}) => this.core.readNamespacedPod({namespace, name}, options))
  }

  async deletePod(namespace: string, name: string, deleteOptions: DeletePodOptions = {}): Promise<void> {
    await this.call({verb: 'delete', resource: 'pods', namespace, name}, ({options}) =>
      this.core.deleteNamespacedPod({
        namespace, name,
        ...(deleteOptions.gracePeriodSeconds !== undefined ? {gracePeriodSeconds: deleteOptions.gracePeriodSeconds} : {}),
      }, options))
  }

  readPodLog(namespace: string, pod: string, container: string): Promise<string> {
    return this.call({verb: 'get', resource: 'pods/log', namespace, name: pod}, ({options}) =>
      this.core.readNamespacedPodLog({namespace, name: pod, container}, options))
  }

  exec(namespace: string, pod: string, container: string, command: string[], streams: ExecStreams): Promise<ExecOutcome> {
    const deps = {Exec, kc: this.kc, kubeconfig: this.kubeconfig, server: this.server, timeoutMs: this.timeoutMs, report: (info: KubeCallInfo) => this.report(info)}
    return execInPod(deps, namespace, pod, container, command, streams)
  }

  async watch<T = unknown>(path: string, watchOptions: WatchOptions, onEvent: (type: WatchEventType, object: T) => void, onDone: WatchDone): Promise<WatchHandle> {
    const target = targetOfPath(path, 'watch')
    const started = performance.now()
    // The client's Watch has no connect timeout; node-fetch's `timeout` covers the request until response headers
    // (not the stream), and destroys the socket when it fires.
    const kc = this.kc
    const timeoutMs = this.timeoutMs
    const config = Object.create(kc) as KubeConfig
    config.applyToFetchOptions = async (options) => ({...(await kc.applyToFetchOptions(options)), timeout: timeoutMs})

    let connected = false
    let aborted = false
    let finished = false
    let connectError: unknown
    let streamError: DanubeError | undefined
    const handle: {controller?: AbortController} = {}
    const finish = (error: DanubeError | null) => {
      if (finished || aborted) return
      finished = true
      this.reportWatch({resource: target.resource, event: 'closed', ...(error ? {error} : {})})
      onDone(error)
    }
    const query = {
      labelSelector: watchOptions.labelSelector,
      fieldSelector: watchOptions.fieldSelector,
      resourceVersion: watchOptions.resourceVersion,
      allowWatchBookmarks: watchOptions.allowWatchBookmarks,
      timeoutSeconds: watchOptions.timeoutSeconds,
    }
    handle.controller = await new Watch(config).watch(path, query, (type: string, object: unknown) => {
      if (aborted || finished) return
      if (type === 'ERROR') {
        // The server reports watch failures (410 Expired above all) as an ERROR event carrying a Status.
        const status = object as KubeStatus
        streamError ??= errorForStatus(status.code ?? 500, status, this.context(target))
        handle.controller?.abort()
        return
      }
      onEvent(type as WatchEventType, object as T)
    }, (error: unknown) => {
      if (!connected) {
        connectError = error ?? new Error('watch closed before it was established')
        return
      }
      if (streamError) return finish(streamError)
      finish(error && (error as {name?: string}).name !== 'AbortError' ? toKubeError(error, this.context(target)) : null)
    })
    if (connectError !== undefined) {
      const mapped = toKubeError(connectError, this.context(target))
      const statusCode = (connectError as {statusCode?: number}).statusCode
      this.report({...target, ...(statusCode !== undefined ? {statusCode} : {}), durationMs: performance.now() - started, error: mapped})
      throw mapped
    }
    connected = true
    this.report({...target, statusCode: 200, durationMs: performance.now() - started})
    this.reportWatch({resource: target.resource, event: 'opened'})
    if (streamError) queueMicrotask(() => finish(streamError!))
    return {
      abort: () => {
        if (!aborted && !finished) this.reportWatch({resource: target.resource, event: 'closed', aborted: true})
        aborted = true
        handle.controller?.abort()
      },
    }
  }
}

export function createClient(options: KubeClientOptions): KubeClient {
  const kc = loadKubeconfig(options.kubeconfig)
  return new KubeClientImpl(kc, options.kubeconfig, options.requestTimeoutMs, options.onCall, options.onWatch)
}
