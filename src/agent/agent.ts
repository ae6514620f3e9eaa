// The agent's composition root: opens the state directory and database, recovers jobs a previous
// agent left behind, starts the job runner, the HTTP and gRPC listeners and the heartbeat, and stops
// them in reverse order. Every dependency is built here or passed in; nothing is a module singleton.

import path from 'node:path'

import {type Clock, systemClock} from '../lib/clock.js'
import type {DanubeConfig} from '../lib/config/index.js'
import {parseDuration} from '../lib/duration.js'
import {DanubeError} from '../lib/errors.js'
import {AgentRowStore, agentIsRunning, HEARTBEAT_INTERVAL_MS} from '../lib/store/agent-row.js'
import {DrainStore} from '../lib/store/drain.js'
import {Store} from '../lib/store/index.js'
import {JobStore} from '../lib/store/jobs.js'
import {ensureToken} from '../lib/token.js'
import {DrainController} from './drain/controller.js'
import {LocalExecutor} from './executors/local.js'
import type {Executor} from './executors/types.js'
import {GrpcServer} from './grpc/server.js'
import {addJobRoutes} from './http/jobs-routes.js'
import {HttpServer} from './http/server.js'
import {JobRunner} from './jobs/runner.js'
import {JobService} from './jobs/service.js'
import {createLogger, type Logger} from './logger.js'

export interface AgentOptions {
  config: DanubeConfig
  version: string
  clock?: Clock
  logger?: Logger
  /** Overrides the executor named by jobs.executor (tests, and the Kubernetes executor's own wiring). */
  executor?: Executor
}

export interface AgentAddresses {
  httpAddr: string
  grpcAddr: string
}

export class Agent {
  private readonly clock: Clock
  private readonly logger: Logger
  private store?: Store
  private agentRow?: AgentRowStore
  private runner?: JobRunner
  private drain?: DrainController
  private jobService?: JobService
  private http?: HttpServer
  private grpc?: GrpcServer
  private executor?: Executor
  private heartbeat?: NodeJS.Timeout
  private stopping?: Promise<void>

  constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock
    this.logger = options.logger ?? createLogger()
  }

  async start(): Promise<AgentAddresses> {
    const {config, version} = this.options
    const store = Store.openInStateDir(config.stateDir, {create: true})
    this.store = store
    try {
      this.agentRow = new AgentRowStore(store, this.clock)
      this.refuseSecondAgent()
      const token = ensureToken(config.auth.tokenFile)
      const jobStore = new JobStore(store, this.clock)
      this.executor = this.options.executor ?? (await createExecutor(config))
      await this.executor.start?.()
      this.runner = new JobRunner({
        jobs: jobStore,
        executor: this.executor,
        stateDir: config.stateDir,
        maxConcurrent: config.jobs.maxConcurrent,
        killGraceMs: parseDuration(config.jobs.killGracePeriod, 'jobs.killGracePeriod'),
        logMaxBytes: config.jobs.logMaxBytes,
        logger: this.logger,
      })
      this.drain = new DrainController({drains: new DrainStore(store, this.clock), runner: this.runner, clock: this.clock, logger: this.logger})
      const recovered = await this.runner.recoverJobs({lostAs: this.drain.recoveryOutcome()})
      if (recovered.lost.length > 0) this.logger.warn('jobs left running by a previous agent marked failed (agent-restart)', {jobIds: recovered.lost})
      if (recovered.adopted.length > 0) this.logger.info('jobs re-adopted from a previous agent', {jobIds: recovered.adopted})
      this.jobService = new JobService(jobStore, this.runner, this.executor.name, config.stateDir)

      this.http = new HttpServer(token, this.logger)
      this.http.route('GET', '/health', () => ({body: {status: 'pass', version}}))
      addJobRoutes(this.http, this.jobService)
      const httpAddr = await this.http.listen(config.http.addr)
      this.grpc = new GrpcServer(this.jobService, token, this.logger)
      const grpcAddr = await this.grpc.listen(config.grpc.addr)

      this.agentRow.register({pid: process.pid, version, httpAddr, grpcAddr, executor: this.executor.name})
      this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS)
      // The controller first: it ends a drain whose jobs are gone, or kills at once past a forced deadline.
      this.drain.start()
      this.runner.dispatch()
      this.logger.info('agent started', {pid: process.pid, version, httpAddr, grpcAddr, executor: this.executor.name, stateDir: config.stateDir})
      return {httpAddr, grpcAddr}
    } catch (error) {
      this.drain?.stop()
      await this.closeListeners()
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
    // A shutdown is not a drain verdict: the next agent reads the row and carries the drain on.
    this.drain?.stop()
    this.grpc?.setServingStatus('NOT_SERVING')
    await this.runner?.shutdown(graceMs)
    clearInterval(this.heartbeat)
    await this.executor?.stop?.()
    this.agentRow?.markStopped(process.pid)
    await this.closeListeners()
    this.store?.close()
    this.logger.info('agent stopped')
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([this.http?.close(), this.grpc?.close()])
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

async function createExecutor(config: DanubeConfig): Promise<Executor> {
  if (config.jobs.executor === 'local') return new LocalExecutor()
  throw new DanubeError('EXECUTOR_UNAVAILABLE', `jobs.executor "${config.jobs.executor}" is not available in this build`, {exitCode: 2})
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
