// Owns the `kubernetes` executor: each Danube job runs as one batch/v1 Job in kubernetes.jobNamespace. At start it
// connects (refusing to start, with a one-line error, when Kubernetes is disabled, misconfigured or unreachable), makes
// the namespace, and lists and watches every Danube-labelled Job and pod; at recovery it re-adopts the Jobs a previous
// agent left; it records labelled Jobs without a row as orphans (logged, never deleted). The agent loads this module
// only when jobs.executor is kubernetes, so @kubernetes/client-node stays off every other path.

import type {V1Job} from '@kubernetes/client-node'

import type {DanubeConfig} from '../../../lib/config/index.js'
import {parseDuration} from '../../../lib/duration.js'
import {DanubeError} from '../../../lib/errors.js'
import type {JobLog} from '../../../lib/jobs/log.js'
import type {Job} from '../../../lib/jobs/model.js'
import {type KubeCallInfo, type KubeClient, type KubeWatchEvent, kubeClientFromConfig} from '../../../lib/kube/index.js'
import type {KubeOrphan} from '../../../lib/store/kube-orphans.js'
import type {Logger} from '../../logger.js'
import type {ExecutionContext, ExecutionResult, Executor, ProvenanceContext} from '../types.js'
import {KubeJobRun, type KubeRunSettings} from './job-run.js'
import {JOB_ID_LABEL, kubeJobName, OUTPUT_DIR, WORKSPACE_DIR} from './manifest.js'
import {type ChangeType, ClusterWatcher} from './watcher.js'

export {buildJobManifest, kubeJobName} from './manifest.js'

export interface KubernetesExecutorDeps {
  config: DanubeConfig
  logger: Logger
  /** Whether SQLite has a row for a Danube job id (a labelled Job without one is an orphan). */
  jobExists(id: string): boolean
  orphans: {replace(orphans: ReadonlyArray<Omit<KubeOrphan, 'seenAt'>>): void}
  /** Tests inject a client; otherwise one is made from config.kubernetes. */
  client?: KubeClient
  onCall?: (call: KubeCallInfo) => void
  onWatch?: (event: KubeWatchEvent) => void
}

/** Errors that mean the configuration, not the cluster, is wrong: the agent exits 2 for these. */
const CONFIG_ERRORS = new Set(['KUBERNETES_DISABLED', 'KUBECONFIG_MISSING', 'KUBECONFIG_NOT_FOUND', 'KUBECONFIG_INVALID', 'KUBECONFIG_UNREADABLE'])

export class KubernetesExecutor implements Executor {
  readonly name = 'kubernetes' as const
  readonly makesTracedCalls = true
  private client?: KubeClient
  private watcher?: ClusterWatcher
  private readonly settings: KubeRunSettings
  /** Jobs recover() found a Kubernetes Job for: run() follows them instead of creating one. */
  private readonly adopted = new Set<string>()
  private readonly orphans = new Map<string, Omit<KubeOrphan, 'seenAt'>>()
  private readonly knownIds = new Set<string>()
  private started = false
  /** The API server's gitVersion, for provenance's builder.version (unknown when /version did not answer). */
  private serverVersion?: string

  constructor(private readonly deps: KubernetesExecutorDeps) {
    const kubernetes = deps.config.kubernetes
    this.settings = {
      namespace: kubernetes.jobNamespace,
      gracePeriodSeconds: kubernetes.gracePeriodSeconds,
      cancelCapMs: parseDuration(kubernetes.cancelCap, 'kubernetes.cancelCap'),
      outputsMaxBytes: kubernetes.outputsMaxBytes,
      manifest: {
        defaultImage: kubernetes.defaultImage,
        outputsImage: kubernetes.outputsImage,
        outputsWaitMs: parseDuration(kubernetes.outputsWait, 'kubernetes.outputsWait'),
        gracePeriodSeconds: kubernetes.gracePeriodSeconds,
        ttlSecondsAfterFinished: kubernetes.ttlSecondsAfterFinished,
      },
    }
  }

  async start(): Promise<void> {
    const {logger} = this.deps
    const namespace = this.settings.namespace
    try {
      this.client = this.deps.client ?? (await kubeClientFromConfig(this.deps.config.kubernetes, this.deps.onCall, this.deps.onWatch))
      const {created} = await this.client.ensureNamespace(namespace)
      if (created) logger.info('created Kubernetes namespace for jobs', {namespace})
      this.watcher = new ClusterWatcher(this.client, namespace, logger, (type, job) => this.trackOrphan(type, job))
      await this.watcher.start()
    } catch (error) {
      throw startError(error)
    }
    try {
      this.serverVersion = (await this.client.version()).gitVersion
    } catch (error) {
      logger.warn('Kubernetes server version unknown; provenance will not record it', {error: (error as Error).message})
    }
    this.started = true
    this.saveOrphans()
    logger.info('kubernetes executor ready', {server: this.client.server, namespace, jobs: this.watcher.allJobs().length, orphans: this.orphans.size})
  }

  async stop(): Promise<void> {
    this.watcher?.stop()
  }

  async recover(job: Job, log: JobLog): Promise<'lost' | 'adopted'> {
    const watcher = this.requireStarted()
    const where = `${this.settings.namespace}/${kubeJobName(job.id)}`
    if (watcher.jobOf(job.id)) {
      this.adopted.add(job.id)
      log.note(`the agent restarted while this job ran; re-adopting Kubernetes Job ${where}`)
      return 'adopted'
    }
    if (job.executorHandle === null) {
      // No handle: the previous agent stopped before it tried to create the Job, so nothing of it ever ran; start it now.
      log.note('the agent restarted before this job reached Kubernetes; starting it now')
      return 'adopted'
    }
    log.note(`Kubernetes Job ${where} no longer exists`)
    return 'lost'
  }

  run(context: ExecutionContext): Promise<ExecutionResult> {
    const watcher = this.requireStarted()
    const adopt = this.adopted.delete(context.job.id)
    this.knownIds.add(context.job.id)
    return new KubeJobRun({client: this.client!, watcher, settings: this.settings, logger: this.deps.logger}, context, adopt).run()
  }

  /** Pods are the isolation: one fresh pod per job, no service-account token, no host namespaces, the key never in the cluster. */
  provenanceContext(): ProvenanceContext {
    const {manifest, namespace} = this.settings
    return {
      isolation: 'pod',
      versions: this.serverVersion ? {kubernetes: this.serverVersion} : {},
      internal: {
        kubernetes: {
          namespace,
          defaultImage: manifest.defaultImage,
          outputsImage: manifest.outputsImage,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: manifest.gracePeriodSeconds,
        },
      },
      environment: {DANUBE_WORKSPACE: WORKSPACE_DIR, DANUBE_OUTPUT_DIR: OUTPUT_DIR},
      defaultImage: manifest.defaultImage,
    }
  }

  private requireStarted(): ClusterWatcher {
    if (!this.watcher) throw new Error('BUG: the kubernetes executor was used before start()')
    return this.watcher
  }

  private trackOrphan(type: ChangeType, job: V1Job): void {
    const name = job.metadata?.name
    if (!name) return
    if (type === 'DELETED') {
      if (this.orphans.delete(name)) this.saveOrphans()
      return
    }
    const jobId = job.metadata?.labels?.[JOB_ID_LABEL] ?? null
    if (jobId !== null && (this.knownIds.has(jobId) || this.deps.jobExists(jobId))) {
      this.knownIds.add(jobId)
      return
    }
    const orphan = {namespace: this.settings.namespace, name, jobId, state: jobState(job), createdAt: toIso(job.metadata?.creationTimestamp)}
    const previous = this.orphans.get(name)
    if (previous && previous.state === orphan.state) return
    this.orphans.set(name, orphan)
    if (!previous) {
      this.deps.logger.warn('orphaned Kubernetes Job: labelled as Danube\'s but no job has its id; leaving it alone', {
        namespace: orphan.namespace, name, jobId, state: orphan.state,
      })
    }
    this.saveOrphans()
  }

  private saveOrphans(): void {
    // Before start() finishes the initial list is still arriving: write once, at the end of it.
    if (!this.started) return
    try {
      this.deps.orphans.replace([...this.orphans.values()])
    } catch (error) {
      this.deps.logger.warn('orphaned Kubernetes Jobs not recorded', {error: (error as Error).message})
    }
  }
}

function jobState(job: V1Job): string {
  const conditions = job.status?.conditions ?? []
  if (conditions.some((condition) => condition.type === 'Complete' && condition.status === 'True')) return 'succeeded'
  if (conditions.some((condition) => condition.type === 'Failed' && condition.status === 'True')) return 'failed'
  return 'running'
}

function toIso(stamp: Date | string | undefined): string | null {
  if (stamp === undefined) return null
  const date = new Date(stamp)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

/** One line that says the executor is the problem; configuration mistakes exit 2, cluster problems 1. */
function startError(error: unknown): DanubeError {
  if (!(error instanceof DanubeError)) return new DanubeError('KUBE_ERROR', `jobs.executor is kubernetes, but it cannot start: ${(error as Error).message}`, {cause: error})
  const config = CONFIG_ERRORS.has(error.code)
  return new DanubeError(error.code, `jobs.executor is kubernetes, but ${error.message}`, {
    exitCode: config ? 2 : 1,
    cause: error,
    ...(error.hint ? {hint: config ? `${error.hint}; or set jobs.executor: local` : error.hint} : {}),
  })
}
