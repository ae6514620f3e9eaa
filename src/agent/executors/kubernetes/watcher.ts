// Owns the agent's view of the Kubernetes Jobs and pods Danube manages: one list-then-watch per resource for the whole
// namespace (label app.kubernetes.io/managed-by=danube), however many jobs run, kept as an in-memory cache that the
// per-job trackers read and are woken by. A watch that the server closes resumes from the last resourceVersion seen;
// after 410 Gone or a dropped stream the resource is listed again (changes missed meanwhile become synthetic events)
// and watched from the list's resourceVersion. Failures back off up to 5 s and never end the loop; only stop() does.

import type {V1Job, V1ObjectMeta, V1Pod} from '@kubernetes/client-node'

import type {DanubeError} from '../../../lib/errors.js'
import type {KubeClient, ListResult, WatchEventType, WatchHandle} from '../../../lib/kube/index.js'
import type {Logger} from '../../logger.js'
import {JOB_ID_LABEL, MANAGED_SELECTOR} from './manifest.js'

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED'
export type ResourceKind = 'job' | 'pod'

interface KubeObject {
  metadata?: V1ObjectMeta
}

/** How long a watch stays open before the agent resumes it (the server may close it sooner). */
const WATCH_TIMEOUT_SECONDS = 300
const MAX_BACKOFF_MS = 5000

class ResourceStream<T extends KubeObject> {
  readonly items = new Map<string, T>()
  private resourceVersion = ''
  private handle?: WatchHandle
  private stopped = false
  private backoffMs = 0
  private timer?: NodeJS.Timeout

  constructor(
    readonly kind: ResourceKind,
    private readonly path: string,
    private readonly client: KubeClient,
    private readonly list: () => Promise<ListResult<T>>,
    private readonly emit: (kind: ResourceKind, type: ChangeType, object: T) => void,
    private readonly logger: Logger,
  ) {}

  /** The first list: its errors reach the caller (the agent then refuses to start). */
  async start(): Promise<void> {
    await this.relist()
    await this.watch()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.handle?.abort()
  }

  /** Lists, turning every difference from the cache into an event, and remembers the list's resourceVersion. */
  private async relist(): Promise<void> {
    const {items, resourceVersion} = await this.list()
    if (this.stopped) return
    const seen = new Set<string>()
    for (const item of items) {
      const name = item.metadata?.name
      if (!name) continue
      seen.add(name)
      const previous = this.items.get(name)
      this.items.set(name, item)
      if (!previous) this.emit(this.kind, 'ADDED', item)
      else if (previous.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.emit(this.kind, 'MODIFIED', item)
    }
    for (const [name, item] of [...this.items]) {
      if (seen.has(name)) continue
      this.items.delete(name)
      this.emit(this.kind, 'DELETED', item)
    }
    this.resourceVersion = resourceVersion
  }

  private async watch(): Promise<void> {
    this.handle = await this.client.watch<T>(
      this.path,
      {labelSelector: MANAGED_SELECTOR, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS},
      (type, object) => this.onEvent(type, object),
      (error) => this.onDone(error),
    )
    if (this.stopped) this.handle.abort()
  }

  private onEvent(type: WatchEventType, object: T): void {
    if (this.stopped) return
    const version = object.metadata?.resourceVersion
    if (version) this.resourceVersion = version
    const name = object.metadata?.name
    if (type === 'BOOKMARK' || !name) return
    if (type === 'DELETED') this.items.delete(name)
    else this.items.set(name, object)
    this.emit(this.kind, type, object)
  }

  private onDone(error: DanubeError | null): void {
    if (this.stopped) return
    this.handle = undefined
    if (error === null) {
      // The server ended the watch on schedule: carry on from where it stopped, nothing was missed.
      void this.resync(false)
      return
    }
    this.logger.info('Kubernetes watch ended; listing again', {resource: this.kind, code: error.code, error: error.message})
    void this.resync(true)
  }

  private async resync(list: boolean): Promise<void> {
    let needList = list
    while (!this.stopped) {
      try {
        if (needList) await this.relist()
        if (this.stopped) return
        await this.watch()
        this.backoffMs = 0
        return
      } catch (error) {
        const danube = error as DanubeError
        // Whatever failed, the next attempt lists first: the stream's position is no longer trustworthy.
        needList = true
        this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(100, this.backoffMs * 2))
        this.logger.warn('Kubernetes watch cannot resume; retrying', {resource: this.kind, code: danube.code, error: danube.message, retryInMs: this.backoffMs})
        await new Promise<void>((resolve) => {
          this.timer = setTimeout(resolve, this.backoffMs)
        })
      }
    }
  }
}

export type JobListener = (kind: ResourceKind, type: ChangeType, object: V1Job | V1Pod) => void

export class ClusterWatcher {
  private readonly jobs: ResourceStream<V1Job>
  private readonly pods: ResourceStream<V1Pod>
  private readonly listeners = new Map<string, Set<JobListener>>()

  constructor(
    client: KubeClient,
    readonly namespace: string,
    private readonly logger: Logger,
    /** Sees every Job change, for orphan bookkeeping. */
    private readonly onJobChange: (type: ChangeType, job: V1Job) => void = () => {},
  ) {
    const emit = (kind: ResourceKind, type: ChangeType, object: V1Job | V1Pod) => this.dispatch(kind, type, object)
    this.jobs = new ResourceStream<V1Job>('job', `/apis/batch/v1/namespaces/${namespace}/jobs`, client, () => client.listJobs(namespace, MANAGED_SELECTOR), emit, logger)
    this.pods = new ResourceStream<V1Pod>('pod', `/api/v1/namespaces/${namespace}/pods`, client, () => client.listPods(namespace, MANAGED_SELECTOR), emit, logger)
  }

  /** Lists both resources and starts watching; throws (after cleaning up) when the first list or watch fails. */
  async start(): Promise<void> {
    try {
      await this.jobs.start()
      await this.pods.start()
    } catch (error) {
      this.stop()
      throw error
    }
  }

  stop(): void {
    this.jobs.stop()
    this.pods.stop()
  }

  /** Calls listener for every change to the Job or pods labelled with jobId, until the returned function is called. */
  subscribe(jobId: string, listener: JobListener): () => void {
    let set = this.listeners.get(jobId)
    if (!set) this.listeners.set(jobId, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.listeners.delete(jobId)
    }
  }

  allJobs(): V1Job[] {
    return [...this.jobs.items.values()]
  }

  jobOf(jobId: string): V1Job | undefined {
    return this.allJobs().find((job) => job.metadata?.labels?.[JOB_ID_LABEL] === jobId)
  }

  /** The job's pods, oldest first. */
  podsOf(jobId: string): V1Pod[] {
    return [...this.pods.items.values()]
      .filter((pod) => pod.metadata?.labels?.[JOB_ID_LABEL] === jobId)
      .sort((a, b) => createdMs(a) - createdMs(b))
  }

  private dispatch(kind: ResourceKind, type: ChangeType, object: V1Job | V1Pod): void {
    // Listeners write to SQLite; a failure there is one job's problem and must not break the shared stream.
    const safely = (what: string, call: () => void) => {
      try {
        call()
      } catch (error) {
        this.logger.error('Kubernetes event not handled', {what, resource: kind, name: object.metadata?.name, error: (error as Error).message})
      }
    }
    if (kind === 'job') safely('orphans', () => this.onJobChange(type, object as V1Job))
    const jobId = object.metadata?.labels?.[JOB_ID_LABEL]
    if (!jobId) return
    for (const listener of [...(this.listeners.get(jobId) ?? [])]) safely(`job ${jobId}`, () => listener(kind, type, object))
  }
}

/** Lists deserialize timestamps to Dates, watch events leave them as strings: compare both as milliseconds. */
function createdMs(object: KubeObject): number {
  const stamp = object.metadata?.creationTimestamp as Date | string | undefined
  return stamp === undefined ? 0 : new Date(stamp).getTime()
}
