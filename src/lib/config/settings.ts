// Owns the list of every configuration key: its type, default, environment variable and whether it is a
// secret. One table so that the config file, `DANUBE_*` variables, flags and `danube config show` can
// never disagree on a name.

import {DURATION_FORM, parseDuration} from '../duration.js'

export type SettingKind = 'string' | 'duration' | 'int' | 'bool' | 'addr' | 'enum' | 'paths'

export interface Setting {
  key: string
  kind: SettingKind
  description: string
  /** Accepted values for kind `enum`. */
  values?: readonly string[]
  /** Inclusive bounds for kind `int`. */
  min?: number
  max?: number
  /** Static default; derived defaults (state directory, kubeconfig) are computed by the loader. */
  default?: string | number | boolean | readonly string[]
  /** Extra environment variables read for this key, after `DANUBE_<KEY>`. */
  aliases?: readonly string[]
  secret?: boolean
}

export const SETTINGS: readonly Setting[] = [
  {key: 'stateDir', kind: 'string', description: 'State directory: danube.db, agent.token, logs/, artifacts/, work/'},
  {key: 'http.addr', kind: 'addr', default: '127.0.0.1:7480', description: 'HTTP API listen address (host:port)'},
  {key: 'grpc.addr', kind: 'addr', default: '127.0.0.1:7481', description: 'gRPC API listen address (host:port)'},
  {key: 'auth.tokenFile', kind: 'string', description: 'Bearer token file shared by the agent and the CLI (default <stateDir>/agent.token)'},
  {key: 'api.maxRequestBytes', kind: 'int', min: 64 * 1024, max: 64 * 1024 * 1024, default: 1024 * 1024, description: 'Largest request the agent reads: an HTTP body (413 past it) or a gRPC message (RESOURCE_EXHAUSTED)'},
  {key: 'shutdownGracePeriod', kind: 'duration', default: '30s', description: 'Bound on the whole shutdown: running jobs get SIGTERM at shutdownGracePeriod - jobs.killGracePeriod and SIGKILL when it ends'},
  {key: 'jobs.executor', kind: 'enum', values: ['local', 'kubernetes'], default: 'local', description: 'Where jobs run'},
  {key: 'jobs.maxConcurrent', kind: 'int', min: 1, max: 256, default: 2, description: 'Jobs running at once; the rest wait in queued'},
  {key: 'jobs.killGracePeriod', kind: 'duration', default: '10s', description: 'Time between SIGTERM and SIGKILL when a job is cancelled or times out'},
  {key: 'jobs.local.sandbox', kind: 'enum', values: ['auto', 'bubblewrap', 'none'], description: 'How local steps are isolated: bubblewrap (refuse to start without it), auto (bubblewrap when it works, else unsandboxed with a warning), none (default auto; bubblewrap under an install)'},
  {key: 'jobs.local.network', kind: 'enum', values: ['host', 'none'], default: 'host', description: "Network of sandboxed local steps: host (the machine's network) or none (a loopback of their own)"},
  {key: 'jobs.local.hiddenPaths', kind: 'paths', default: [], description: 'More absolute paths hidden from sandboxed local steps (the state dir, /etc/danube, keys.dir and the kubeconfig always are); YAML list, or colon-separated in DANUBE_JOBS_LOCAL_HIDDEN_PATHS'},
  {key: 'jobs.logMaxBytes', kind: 'int', min: 1024, max: 1024 ** 4, default: 64 * 1024 * 1024, description: 'Cap on one job log; output past it is dropped and noted'},
  {key: 'kubernetes.enabled', kind: 'bool', description: 'Use the Kubernetes API (default: true when a kubeconfig is found)'},
  {key: 'kubernetes.kubeconfig', kind: 'string', aliases: ['KUBECONFIG'], description: 'Kubeconfig file (default /etc/rancher/k3s/k3s.yaml if readable, else ~/.kube/config)'},
  {key: 'kubernetes.requestTimeout', kind: 'duration', default: '5s', description: 'Timeout of every Kubernetes API call'},
  {key: 'kubernetes.jobNamespace', kind: 'string', default: 'danube-jobs', description: 'Namespace of the Kubernetes Jobs that run Danube jobs'},
  {key: 'kubernetes.gracePeriodSeconds', kind: 'int', min: 0, max: 3600, default: 30, description: 'Grace period when a Kubernetes Job is deleted'},
  {key: 'kubernetes.ttlSecondsAfterFinished', kind: 'int', min: 0, max: 604_800, default: 3600, description: 'How long finished Kubernetes Jobs are kept'},
  {key: 'kubernetes.defaultImage', kind: 'string', default: 'busybox:1.36', description: 'Image of job steps that name none (jobs.executor kubernetes)'},
  {key: 'kubernetes.outputsImage', kind: 'string', default: 'busybox:1.36', description: 'Image of the final container the agent copies /outputs from (pods/exec); needs sh, tar, tee, mkfifo, mktemp, sha256sum, wc'},
  {key: 'kubernetes.outputsMaxBytes', kind: 'int', min: 1, max: 1024 ** 5, default: 10 * 1024 ** 3, description: 'Cap on the tar of one Kubernetes job\'s /outputs; a larger one fails the job outputs-incomplete'},
  {key: 'kubernetes.outputsWait', kind: 'duration', default: '10m', description: 'How long the final container waits for the agent to copy /outputs before it exits 3 (a pod whose agent vanished still ends)'},
  {key: 'kubernetes.cancelCap', kind: 'duration', default: '60s', description: 'How long a cancelled Kubernetes job waits for its pods to be gone before it is reported with the pods stuck terminating'},
  {key: 'health.namespace', kind: 'string', default: 'danube-system', description: 'Namespace of the Dex and registry pods'},
  {key: 'health.failureThreshold', kind: 'int', min: 1, max: 100, default: 2, description: 'Consecutive failures before a degrading check reports fail'},
  {key: 'health.checkTimeout', kind: 'duration', default: '2s', description: 'Timeout of each health check; a check that takes longer fails'},
  {key: 'health.responseTimeout', kind: 'duration', default: '1500ms', description: 'Bound on one readiness answer; checks still running then are reported as timed out'},
  {key: 'health.cacheTtl', kind: 'duration', default: '5s', description: 'How long a health check result is reused before the check runs again'},
  {key: 'health.maxEventLoopDelay', kind: 'duration', default: '2s', description: 'Event-loop delay above which GET /health (liveness) answers 503'},
  {key: 'health.database.busyTimeout', kind: 'duration', default: '250ms', description: 'SQLite busy_timeout of the database:responseTime check'},
  {key: 'health.database.warnAfter', kind: 'duration', default: '200ms', description: 'database:responseTime warns when the check takes longer'},
  {key: 'health.dex.selector', kind: 'string', default: 'app.kubernetes.io/name=dex', description: 'Label selector of the Dex pods (dex:pods)'},
  {key: 'health.dex.issuer', kind: 'string', description: 'Dex issuer URL; when set, dex:responseTime checks its OpenID discovery document'},
  {key: 'health.registry.selector', kind: 'string', default: 'app.kubernetes.io/name=registry', description: 'Label selector of the registry pods (registry:pods)'},
  {key: 'health.registry.url', kind: 'string', description: 'Registry base URL; when set, registry:responseTime checks GET /v2/'},
  {key: 'keys.dir', kind: 'string', description: 'Directory of the provenance signing keys (default /etc/danube/keys under an install, else <stateDir>/keys)'},
  {key: 'cac.repo', kind: 'string', description: 'Config-as-code git repository (URL or path); unset disables the sync'},
  {key: 'cac.branch', kind: 'string', default: 'main', description: 'Config-as-code branch'},
  {key: 'cac.interval', kind: 'duration', default: '5m', description: 'Config-as-code sync interval'},
  {key: 'cac.timeout', kind: 'duration', default: '1m', description: 'Time one config-as-code sync (git fetch and checkout) may take before it is killed'},
]

export const SETTINGS_BY_KEY: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.key, s]))

/** `jobs.maxConcurrent` → `DANUBE_JOBS_MAX_CONCURRENT`; `stateDir` is the documented `DANUBE_HOME`. */
export function envName(key: string): string {
  if (key === 'stateDir') return 'DANUBE_HOME'
  return `DANUBE_${key.replaceAll(/([a-z0-9])([A-Z])/g, '$1_$2').replaceAll('.', '_').toUpperCase()}`
}

const ADDR = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/

/**
 * Checks one key's value as it must appear in the config file; returns what was expected, or undefined.
 * By hand rather than with zod: every key is a scalar, and this module is on the start-up path of every
 * command, where importing zod alone costs about 40 ms (a fifth of the cron budget of `danube health`).
 * Job specs, which are nested documents, are validated with zod in src/lib/jobs/spec.ts.
 */
export function checkSetting(setting: Setting, value: unknown): string | undefined {
  switch (setting.kind) {
    case 'string': {
      return typeof value === 'string' && value.length > 0 ? undefined : 'expected a non-empty string'
    }
    case 'duration': {
      if (typeof value !== 'string') return `expected ${DURATION_FORM}`
      try {
        parseDuration(value)
        return undefined
      } catch (error) {
        return (error as Error).message.replace(/^[^:]*: /, '')
      }
    }
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'expected a whole number'
      const min = setting.min ?? 0
      const max = setting.max ?? Number.MAX_SAFE_INTEGER
      return value >= min && value <= max ? undefined : `expected a whole number from ${min} to ${max}`
    }
    case 'bool': {
      return typeof value === 'boolean' ? undefined : 'expected true or false'
    }
    case 'addr': {
      return typeof value === 'string' && ADDR.test(value) && Number(value.slice(value.lastIndexOf(':') + 1)) <= 65_535
        ? undefined
        : 'expected host:port, such as 127.0.0.1:7480'
    }
    case 'paths': {
      return Array.isArray(value) && value.every((entry) => typeof entry === 'string' && entry.startsWith('/') && !entry.includes('\0'))
        ? undefined
        : 'expected a list of absolute paths'
    }
    case 'enum': {
      return setting.values?.includes(value as string) ? undefined : `expected one of ${setting.values?.join(', ')}`
    }
  }
}

/** Environment variables and flags are text: turn them into the type the key's schema expects. */
export function fromText(setting: Setting, text: string): unknown {
  if (setting.kind === 'int') return /^-?\d+$/.test(text.trim()) ? Number(text) : text
  if (setting.kind === 'paths') return text.split(':').filter(Boolean)
  if (setting.kind === 'bool') {
    if (/^(true|1|yes)$/i.test(text)) return true
    if (/^(false|0|no)$/i.test(text)) return false
  }
  return text
}
