// Owns which health checks exist for a configuration, for the agent and for `danube health` when the agent
// does not answer: one list, so both report the same keys. Checks of features that are not configured
// (cac.repo, Kubernetes, the optional HTTP probes) are omitted, never failed.

import type {Clock} from '../../lib/clock.js'
import type {DanubeConfig} from '../../lib/config/index.js'
import {parseDuration} from '../../lib/duration.js'
import type {AgentSandbox} from '../../lib/store/agent-row.js'
import type {Store} from '../../lib/store/index.js'
import type {Logger} from '../logger.js'
import {cacCheck} from './checks/cac.js'
import {databaseCheck} from './checks/database.js'
import {drainCheck} from './checks/drain.js'
import {isolationCheck} from './checks/isolation.js'
import {dexDiscoveryCheck, registryCheck} from './checks/http-probes.js'
import {type KubeClientProvider, kubernetesCheck, lazyClient, podsCheck} from './checks/kubernetes.js'
import {HealthEngine} from './engine.js'
import type {HealthCheck, HealthStatus} from './types.js'

export interface HealthDependencies {
  config: DanubeConfig
  clock: Clock
  /** The store the drain and CaC checks read (the agent's own connection, or one the CLI opens lazily). */
  store: () => Store
  /** Overrides how the Kubernetes client is made (tests); default: src/lib/kube, loaded on first use. */
  kubeClient?: KubeClientProvider
  /** The local executor's isolation as the running agent probed it; absent (the CLI): the agent row's. */
  isolation?: () => AgentSandbox
}

export function createHealthChecks(deps: HealthDependencies): HealthCheck[] {
  const {config, clock, store} = deps
  const {health} = config
  const checks: HealthCheck[] = [
    databaseCheck({
      stateDir: config.stateDir,
      busyTimeoutMs: parseDuration(health.database.busyTimeout, 'health.database.busyTimeout'),
      warnAfterMs: parseDuration(health.database.warnAfter, 'health.database.warnAfter'),
    }),
    drainCheck(store),
  ]
  if (config.jobs.executor === 'local') checks.push(isolationCheck({isolation: deps.isolation, store}))
  if (config.kubernetes.enabled) {
    const client = deps.kubeClient ?? healthKubeClient(config)
    checks.push(
      kubernetesCheck(client),
      podsCheck({component: 'dex', namespace: health.namespace, selector: health.dex.selector, client}),
      podsCheck({component: 'registry', namespace: health.namespace, selector: health.registry.selector, client}),
    )
  }
  if (health.dex.issuer) checks.push(dexDiscoveryCheck(health.dex.issuer))
  if (health.registry.url) checks.push(registryCheck(health.registry.url))
  if (config.cac.repo) {
    checks.push(
      cacCheck({
        repo: config.cac.repo,
        intervalMs: parseDuration(config.cac.interval, 'cac.interval'),
        timeoutMs: parseDuration(config.cac.timeout, 'cac.timeout'),
        store,
        clock,
      }),
    )
  }
  return checks
}

/**
 * The Kubernetes client of the health checks: its own request timeout (the check timeout), loaded on first
 * use. Callers may call it early to warm it up: loading @kubernetes/client-node takes longer than a check may.
 */
export function healthKubeClient(config: DanubeConfig): KubeClientProvider {
  const timeoutMs = parseDuration(config.health.checkTimeout, 'health.checkTimeout')
  return lazyClient(async () => {
    const {createKubeClient, resolveKubeconfig} = await import('../../lib/kube/index.js')
    const resolved = resolveKubeconfig(config.kubernetes)
    return createKubeClient({kubeconfig: resolved.kubeconfig, requestTimeoutMs: Math.min(timeoutMs, resolved.requestTimeoutMs)})
  })
}

export interface CreateEngineOptions extends HealthDependencies {
  version: string
  logger?: Logger
  /** One-shot runs (the CLI) have no history to damp against: 1 reports every failure as it is. */
  failureThreshold?: number
  onStatus?: (status: HealthStatus) => void
  extraChecks?: HealthCheck[]
}

export function createHealthEngine(options: CreateEngineOptions): HealthEngine {
  const {health} = options.config
  return new HealthEngine({
    checks: [...createHealthChecks(options), ...(options.extraChecks ?? [])],
    clock: options.clock,
    version: options.version,
    checkTimeoutMs: parseDuration(health.checkTimeout, 'health.checkTimeout'),
    responseTimeoutMs: parseDuration(health.responseTimeout, 'health.responseTimeout'),
    cacheTtlMs: parseDuration(health.cacheTtl, 'health.cacheTtl'),
    failureThreshold: options.failureThreshold ?? health.failureThreshold,
    logger: options.logger,
    onStatus: options.onStatus,
  })
}
