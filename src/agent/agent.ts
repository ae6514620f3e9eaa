// The agent's composition root: opens the state directory and database, recovers jobs a previous
// agent left behind, starts the job runner, the HTTP and gRPC listeners and the heartbeat, and stops
// them in reverse order. Every dependency is built here or passed in; nothing is a module singleton.

import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {type Clock, systemClock} from '../lib/clock.js'
import type {DanubeConfig} from '../lib/config/index.js'
import {parseDuration} from '../lib/duration.js'
import {DanubeError} from '../lib/errors.js'
import {AgentRowStore, agentIsRunning, HEARTBEAT_INTERVAL_MS, processAlive} from '../lib/store/agent-row.js'
import {Checkpointer} from '../lib/store/checkpointer.js'
import {DrainStore} from '../lib/store/drain.js'
import {readStateIdentity, STATE_ID_HEADER} from '../lib/store/identity.js'
import {Store} from '../lib/store/index.js'
import {JobStore} from '../lib/store/jobs.js'
import {KubeOrphanStore} from '../lib/store/kube-orphans.js'
import {ensureToken} from '../lib/token.js'
import {CacSync} from './cac/sync.js'
import {DrainController} from './drain/controller.js'
import {LocalExecutor} from './executors/local.js'
import {hiddenPathsFor, prepareSandbox} from './executors/sandbox.js'
import type {Executor} from './executors/types.js'
import {GrpcServer} from './grpc/server.js'
import type {HealthEngine} from './health/engine.js'
import {createHealthEngine, healthKubeClient} from './health/index.js'
import {EventLoopWatchdog} from './health/liveness.js'
import type {HealthStatus} from './health/types.js'
import {addHealthRoutes} from './http/health-routes.js'
import {addJobRoutes} from './http/jobs-routes.js'
import {HttpServer} from './http/server.js'
import {JobRunner} from './jobs/runner.js'
import {JobService} from './jobs/service.js'
import {ProvenanceSigner} from './provenance/signer.js'
import {createLogger, type Logger} from './logger.js'
import {addMetricsRoute} from './telemetry/route.js'
import type {AgentTelemetry} from './telemetry/types.js'

export interface AgentOptions {
  config: DanubeConfig
  version: string
  clock?: Clock
  logger?: Logger
  /** Overrides the executor named by jobs.executor (tests, and the Kubernetes executor's own wiring). */
  executor?: Executor
  /** The config file that was read, if any: hidden from sandboxed steps like the rest of the agent's secrets. */
  configFile?: string
  /** Metrics and traces (loaded by `danube agent` unless OTEL_SDK_DISABLED); absent: /metrics answers 404. */
  telemetry?: AgentTelemetry
}

export interface AgentAddresses {
  httpAddr: string
  grpcAddr: string
}

export class Agent {
  private readonly clock: Clock
  private readonly logger: Logger
  private store?: Store
  private checkpointer?: Checkpointer
  private agentRow?: AgentRowStore
  private runner?: JobRunner
  private drain?: DrainController
  private jobService?: JobService
  private http?: HttpServer
  private grpc?: GrpcServer
  private executor?: Executor
  private heartbeat?: NodeJS.Timeout
  private health?: HealthEngine
  private watchdog?: EventLoopWatchdog
  private cacSync?: CacSync
  private readiness?: HealthStatus
  private stopping?: Promise<void>

  constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock
    this.logger = options.logger ?? createLogger()
  }

  async start(): Promise<AgentAddresses> {
    const {config, version, telemetry} = this.options
    const store = Store.openInStateDir(config.stateDir, {create: true, ...(telemetry ? {onQuery: telemetry.onQuery} : {})})
    this.store = store
    try {
      this.agentRow = new AgentRowStore(store, this.clock)
      this.refuseSecondAgent()
      this.checkpointer = new Checkpointer(store, {
        onError: (error) => this.logger.warn('the checkpoint thread failed; commits checkpoint the database themselves again', {error: error.message}),
      })
      this.checkpointer.start()
      const token = ensureToken(config.auth.tokenFile)
      const jobStore = new JobStore(store, this.clock)
      const orphans = new KubeOrphanStore(store, this.clock)
      // Orphans are whatever the Kubernetes executor sees from now on; another executor sees none.
      orphans.replace([])
      this.executor = this.options.executor ?? (await createExecutor(config, {jobs: jobStore, orphans, logger: this.logger, configFile: this.options.configFile, telemetry}))
      const isolation = this.executor instanceof LocalExecutor ? this.executor.isolation : undefined
      if (isolation?.mode === 'none') this.logger.warn('job steps run unsandboxed', {sandbox: isolation.setting, reason: isolation.reason, fix: isolation.fix})
      else if (isolation) this.logger.info('job steps run in a bubblewrap sandbox', {network: isolation.network})
      await this.executor.start?.()
      const provenance = new ProvenanceSigner({
        keysDir: config.keys.dir,
        builderIdTemplate: config.provenance.builderId,
        version,
        executor: this.executor.name,
        settings: {'jobs.killGracePeriod': config.jobs.killGracePeriod, 'jobs.logMaxBytes': config.jobs.logMaxBytes},
        logger: this.logger,
      })
      this.runner = new JobRunner({
        jobs: jobStore,
        executor: this.executor,
        stateDir: config.stateDir,
        maxConcurrent: config.jobs.maxConcurrent,
        killGraceMs: parseDuration(config.jobs.killGracePeriod, 'jobs.killGracePeriod'),
        logMaxBytes: config.jobs.logMaxBytes,
        logger: this.logger,
        provenance,
        ...(telemetry ? {telemetry} : {}),
      })
      this.drain = new DrainController({drains: new DrainStore(store, this.clock), runner: this.runner, clock: this.clock, logger: this.logger})
      const recovered = await this.runner.recoverJobs({lostAs: this.drain.recoveryOutcome()})
      if (recovered.lost.length > 0) this.logger.warn('jobs left running by a previous agent marked failed (agent-restart)', {jobIds: recovered.lost})
      if (recovered.adopted.length > 0) this.logger.info('jobs re-adopted from a previous agent', {jobIds: recovered.adopted})
      this.jobService = new JobService(jobStore, this.runner, this.executor.name, config.stateDir, telemetry)

      if (config.cac.repo) {
        this.cacSync = new CacSync({
          repo: config.cac.repo,
          branch: config.cac.branch,
          stateDir: config.stateDir,
          intervalMs: parseDuration(config.cac.interval, 'cac.interval'),
          timeoutMs: parseDuration(config.cac.timeout, 'cac.timeout'),
          store,
          clock: this.clock,
          logger: this.logger,
        })
      }
      const kubeClient = config.kubernetes.enabled ? healthKubeClient(config, telemetry?.onKubeCall) : undefined
      const warmUp = kubeClient ? kubeClient() : Promise.resolve()
      warmUp.catch((error: unknown) => this.logger.warn('Kubernetes client for health checks not ready', {error: (error as Error).message}))
      this.health = createHealthEngine({
        config,
        clock: this.clock,
        store: () => store,
        version,
        logger: this.logger,
        kubeClient,
        isolation: isolation ? () => isolation : undefined,
        onStatus: (status) => this.setReadiness(status),
      })
      this.watchdog = new EventLoopWatchdog(parseDuration(config.health.maxEventLoopDelay, 'health.maxEventLoopDelay'))
      this.watchdog.start()

      const {stateId} = readStateIdentity(store)
      this.http = new HttpServer(token, this.logger, config.api.maxRequestBytes, {[STATE_ID_HEADER]: stateId}, telemetry?.observeHttpRequest)
      addHealthRoutes(this.http, this.health, this.watchdog, {version, stateId})
      addJobRoutes(this.http, this.jobService)
      addMetricsRoute(this.http, telemetry)
      const health = this.health
      telemetry?.bind({
        store,
        runner: this.runner,
        healthChecks: () => health.lastStatuses(),
        readiness: () => this.readiness,
        cacEnabled: this.cacSync !== undefined,
      })
      const httpAddr = await this.http.listen(config.http.addr)
      this.grpc = new GrpcServer(this.jobService, token, this.logger, stateId, config.api.maxRequestBytes, telemetry?.grpcInterceptors)
      const grpcAddr = await this.grpc.listen(config.grpc.addr)
      if (this.readiness) this.setReadiness(this.readiness)

      this.agentRow.register({pid: process.pid, version, httpAddr, grpcAddr, executor: this.executor.name, sandbox: isolation ?? null})
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS)
      // The controller first: it ends a drain whose jobs are gone, or kills at once past a forced deadline.
      this.drain.start()
      this.runner.dispatch()
      this.cacSync?.start()
      this.health.start(warmUp)
      provenance.announce()
      this.logger.info('agent started', {pid: process.pid, version, httpAddr, grpcAddr, executor: this.executor.name, sandbox: isolation?.mode ?? null, stateDir: config.stateDir, stateId})
      return {httpAddr, grpcAddr}
    } catch (error) {
      this.health?.stop()
      this.watchdog?.stop()
      this.drain?.stop()
      await this.closeListeners()
      // A started executor holds watches open; they would keep a failed agent's process alive.
      await this.executor?.stop?.()
      await this.checkpointer?.stop()
      store.close()
      throw error
    }
  }

  /** Stops admitting, lets running jobs finish within shutdownGracePeriod, cancels the rest, closes everything. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    const graceMs = parseDuration(this.options.config.shutdownGracePeriod, 'shutdownGracePeriod')
    this.logger.info('agent stopping', {runningJobs: this.runner?.runningJobs().length ?? 0, gracePeriod: this.options.config.shutdownGracePeriod})
    this.jobService?.stopAdmitting()
    // Readiness fails from the first moment of shutdown (HTTP 503, gRPC NOT_SERVING); liveness stays up.
    this.health?.setShuttingDown()
    // A shutdown is not a drain verdict: the next agent reads the row and carries the drain on.
    this.drain?.stop()
    this.grpc?.setServingStatus('NOT_SERVING')
    this.health?.stop()
    await Promise.all([this.runner?.shutdown(graceMs), this.cacSync?.stop()])
    clearInterval(this.heartbeat)
    this.watchdog?.stop()
    await this.executor?.stop?.()
    this.agentRow?.markStopped(process.pid)
    await this.closeListeners()
    await this.checkpointer?.stop()
    this.store?.close()
    // Last: the spans of the jobs that just ended are flushed (bounded in time).
    await this.options.telemetry?.shutdown()
    this.logger.info('agent stopped')
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([this.http?.close(), this.grpc?.close()])
  }

  /** The gRPC health service reports NOT_SERVING exactly when readiness is fail. */
  private setReadiness(status: HealthStatus): void {
    this.readiness = status
    this.grpc?.setServingStatus(status === 'fail' ? 'NOT_SERVING' : 'SERVING')
  }

  private beat(): void {
    try {
      this.agentRow?.heartbeat(process.pid)
    } catch (error) {
      this.logger.warn('heartbeat not recorded', {error: (error as Error).message})
    }
  }

  private refuseSecondAgent(): void {
    const row = this.agentRow!.read()
    if (!row || row.pid === process.pid || !agentIsRunning(row, this.clock.now()) || !processAlive(row.pid)) return
    throw new DanubeError('AGENT_RUNNING', `another agent (pid ${row.pid}) is running on ${path.join(this.options.config.stateDir)}`, {
      hint: 'stop it first (systemctl stop danube), or use another DANUBE_HOME',
    })
  }
}

async function createExecutor(
  config: DanubeConfig,
  deps: {jobs: JobStore; orphans: KubeOrphanStore; logger: Logger; configFile?: string; telemetry?: AgentTelemetry | undefined},
): Promise<Executor> {
  if (config.jobs.executor === 'local') {
    // Probed once here: `bubblewrap` refuses to start without a working sandbox; `auto` falls back, loudly.
    const probeDir = path.join(config.stateDir, 'work')
    mkdirSync(probeDir, {recursive: true, mode: 0o700})
    const {sandbox, isolation} = await prepareSandbox({
      setting: config.jobs.local.sandbox,
      network: config.jobs.local.network,
      hidden: hiddenPathsFor(config, deps.configFile),
      probeDir,
    })
    return new LocalExecutor({sandbox, isolation})
  }
  if (config.jobs.executor === 'kubernetes') {
    // Loaded only here: the executor brings @kubernetes/client-node (~0.4 s), which no other agent path needs.
    const {KubernetesExecutor} = await import('./executors/kubernetes/index.js')
    return new KubernetesExecutor({
      config,
      logger: deps.logger,
      jobExists: (id) => deps.jobs.exists(id),
      orphans: deps.orphans,
      ...(deps.telemetry ? {onCall: deps.telemetry.onKubeCall, onWatch: deps.telemetry.onKubeWatch} : {}),
    })
  }
  throw new DanubeError('EXECUTOR_UNAVAILABLE', `jobs.executor "${config.jobs.executor}" is not available in this build`, {exitCode: 2})
}
