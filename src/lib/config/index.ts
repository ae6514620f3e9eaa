// Owns loading the effective configuration: flags > environment (`DANUBE_*`) > config file > defaults,
// each value validated against its setting and remembered with where it came from.

import {accessSync, constants, existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'


import {DanubeError, EXIT_USAGE} from '../errors.js'
import {REDACTED, redactUrlCredentials} from '../redact.js'
import {yaml} from '../yaml.js'
import {checkSetting, envName, fromText, type Setting, SETTINGS, SETTINGS_BY_KEY} from './settings.js'

export {envName, SETTINGS} from './settings.js'

export const DEFAULT_CONFIG_FILE = '/etc/danube/config.yaml'
const K3S_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'

export type ConfigSource = 'flag' | 'env' | 'file' | 'default'

export interface DanubeConfig {
  stateDir: string
  http: {addr: string}
  grpc: {addr: string}
  api: {maxRequestBytes: number}
  auth: {tokenFile: string}
  shutdownGracePeriod: string
  jobs: {
    executor: 'local' | 'kubernetes'
    maxConcurrent: number
    killGracePeriod: string
    logMaxBytes: number
    local: {sandbox: 'auto' | 'bubblewrap' | 'none'; network: 'host' | 'none'; hiddenPaths: string[]}
  }
  kubernetes: {
    enabled: boolean
    kubeconfig?: string
    requestTimeout: string
    jobNamespace: string
    gracePeriodSeconds: number
    ttlSecondsAfterFinished: number
    defaultImage: string
    outputsImage: string
    outputsMaxBytes: number
    outputsWait: string
    cancelCap: string
  }
  health: {
    namespace: string
    failureThreshold: number
    checkTimeout: string
    responseTimeout: string
    cacheTtl: string
    maxEventLoopDelay: string
    database: {busyTimeout: string; warnAfter: string}
    dex: {selector: string; issuer?: string}
    registry: {selector: string; url?: string}
  }
  cac: {repo?: string; branch: string; interval: string; timeout: string}
  keys: {dir: string}
  provenance: {builderId: string}
  telemetry?: {otlp?: {endpoint?: string}}
}

export interface LoadedConfig {
  config: DanubeConfig
  /** Where each key's value came from, keyed by dotted key. */
  sources: Record<string, ConfigSource>
  /** The config file that was read, if any. */
  file?: string
}

export interface LoadConfigOptions {
  /** Values from command-line flags, keyed by dotted config key; undefined entries are ignored. */
  flags?: Record<string, string | number | boolean | undefined>
  /** Explicit `--config` path. */
  configFile?: string
  env?: NodeJS.ProcessEnv
  /** Seam for tests: whether the process runs as root. */
  isRoot?: boolean
  /** Seam for tests: the system config file (DEFAULT_CONFIG_FILE) read when it exists and no other is given. */
  defaultConfigFile?: string
  /** Seam for tests: K3s's kubeconfig, preferred when readable (/etc/rancher/k3s/k3s.yaml). */
  k3sKubeconfig?: string
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const values = new Map<string, unknown>()
  const sources: Record<string, ConfigSource> = {}
  const set = (key: string, value: unknown, source: ConfigSource) => {
    values.set(key, value)
    sources[key] = source
  }

  for (const setting of SETTINGS) {
    if (setting.default !== undefined) set(setting.key, setting.default, 'default')
  }

  const systemFile = options.defaultConfigFile ?? DEFAULT_CONFIG_FILE
  const file = options.configFile ?? env.DANUBE_CONFIG ?? (existsSync(systemFile) ? systemFile : undefined)
  if (file) {
    for (const [key, value] of Object.entries(readConfigFile(file))) {
      validate(SETTINGS_BY_KEY.get(key)!, value, `in ${file}`)
      set(key, value, 'file')
    }
  }

  for (const setting of SETTINGS) {
    for (const name of [envName(setting.key), ...(setting.aliases ?? [])]) {
      const text = env[name]
      if (text === undefined || text === '') continue
      const value = fromText(setting, name === 'KUBECONFIG' ? firstExisting(text) : text)
      validate(setting, value, `from environment variable ${name}`)
      set(setting.key, value, 'env')
      break
    }
  }

  for (const [key, text] of Object.entries(options.flags ?? {})) {
    if (text === undefined) continue
    const setting = SETTINGS_BY_KEY.get(key)
    if (!setting) throw new Error(`BUG: flag mapped to unknown config key ${key}`)
    const value = typeof text === 'string' ? fromText(setting, text) : text
    validate(setting, value, `from flag --${flagName(key)}`)
    set(key, value, 'flag')
  }

  applyDerivedDefaults(values, sources, {file, systemFile, k3sKubeconfig: options.k3sKubeconfig ?? K3S_KUBECONFIG}, env, options.isRoot ?? process.getuid?.() === 0)
  return {config: nest(values) as unknown as DanubeConfig, sources, file}
}

/** The flag that sets a key: `http.addr` → `http-addr`. */
export function flagName(key: string): string {
  return key.replaceAll('.', '-').replaceAll(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
}

function applyDerivedDefaults(
  values: Map<string, unknown>,
  sources: Record<string, ConfigSource>,
  files: {file: string | undefined; systemFile: string; k3sKubeconfig: string},
  env: NodeJS.ProcessEnv,
  isRoot: boolean,
): void {
  const {file, systemFile, k3sKubeconfig} = files
  const derive = (key: string, value: unknown) => {
    if (values.has(key) || value === undefined) return
    values.set(key, value)
    sources[key] = 'default'
  }
  const home = env.HOME || homedir()
  const stateBase = env.XDG_STATE_HOME || path.join(home, '.local', 'state')
  const installed = isRoot && file === systemFile
  derive('stateDir', installed ? '/var/lib/danube' : path.join(stateBase, 'danube'))
  values.set('stateDir', path.resolve(values.get('stateDir') as string))
  derive('auth.tokenFile', path.join(values.get('stateDir') as string, 'agent.token'))
  derive('jobs.local.sandbox', installed ? 'bubblewrap' : 'auto')
  derive('keys.dir', installed ? '/etc/danube/keys' : path.join(values.get('stateDir') as string, 'keys'))
  const kubeconfig = [k3sKubeconfig, path.join(home, '.kube', 'config')].find((candidate) => readable(candidate))
  derive('kubernetes.kubeconfig', kubeconfig)
  derive('kubernetes.enabled', values.has('kubernetes.kubeconfig'))
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new DanubeError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      exitCode: EXIT_USAGE,
      hint: 'pass an existing YAML file with --config or DANUBE_CONFIG',
    })
  }
  // Loaded only when there is a file to parse: commands without one skip its import cost.
  const {parse, YAMLParseError} = yaml()
  let document: unknown
  try {
    document = parse(text) ?? {}
  } catch (error) {
    const line = error instanceof YAMLParseError ? ` at line ${error.linePos?.[0]?.line}` : ''
    throw new DanubeError('CONFIG_INVALID', `config file ${file} is not valid YAML${line}: ${(error as Error).message.split('\n')[0]}`, {exitCode: EXIT_USAGE})
  }
  if (!isPlainObject(document)) {
    throw new DanubeError('CONFIG_INVALID', `config file ${file} must be a YAML mapping of keys such as "jobs: {executor: local}"`, {exitCode: EXIT_USAGE})
  }
  const flat: Record<string, unknown> = {}
  flatten(document, '', flat, file)
  return flat
}

function flatten(object: Record<string, unknown>, prefix: string, out: Record<string, unknown>, file: string): void {
  for (const [name, value] of Object.entries(object)) {
    const key = prefix ? `${prefix}.${name}` : name
    if (SETTINGS_BY_KEY.has(key)) {
      if (value !== null) out[key] = value
      continue
    }
    const isSection = SETTINGS.some((s) => s.key.startsWith(`${key}.`))
    if (isSection && (value === null || isPlainObject(value))) {
      if (value) flatten(value, key, out, file)
      continue
    }
    throw new DanubeError('CONFIG_INVALID', `unknown key "${key}" in ${file}`, {
      exitCode: EXIT_USAGE,
      hint: `accepted keys: ${SETTINGS.map((s) => s.key).join(', ')}`,
    })
  }
}

function validate(setting: Setting, value: unknown, where: string): void {
  const expected = checkSetting(setting, value)
  if (expected !== undefined) {
    throw new DanubeError('CONFIG_INVALID', `invalid value ${JSON.stringify(value)} for "${setting.key}" ${where}: ${expected}`, {exitCode: EXIT_USAGE})
  }
}

function nest(values: Map<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {}
  for (const setting of SETTINGS) {
    const parts = setting.key.split('.')
    let node = root
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>
    if (values.has(setting.key)) node[parts.at(-1)!] = values.get(setting.key)
  }
  return root
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK)
    return true
  } catch {
    return false
  }
}

function firstExisting(list: string): string {
  const entries = list.split(path.delimiter).filter(Boolean)
  return entries.find((entry) => existsSync(entry)) ?? entries[0] ?? list
}

/** The effective configuration as `danube config show` prints it: every key, its value and its source. */
export function describeConfig(loaded: LoadedConfig): {key: string; value: unknown; source: ConfigSource | 'unset'}[] {
  const flat = new Map<string, unknown>()
  const walk = (object: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(object)) {
      const key = prefix ? `${prefix}.${name}` : name
      if (isPlainObject(value)) walk(value, key)
      else flat.set(key, value)
    }
  }
  walk(loaded.config as unknown as Record<string, unknown>, '')
  return SETTINGS.map((setting) => {
    const value = flat.get(setting.key)
    if (value === undefined) return {key: setting.key, value: null, source: 'unset' as const}
    return {key: setting.key, value: redact(setting, value), source: loaded.sources[setting.key] ?? 'default'}
  })
}

/** Secret keys are hidden whole; credentials inside URLs (`https://user:token@host/repo`) lose the password. */
export function redact(setting: Setting, value: unknown): unknown {
  if (setting.secret) return REDACTED
  return typeof value === 'string' ? redactUrlCredentials(value) : value
}
