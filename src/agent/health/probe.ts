// Owns `danube health`: ask the running agent for /health/ready?verbose (its cache answers, so cron adds
// no load); when it does not answer, run the same checks in this process and add agent:heartbeat as fail
// with the heartbeat's age. Either way the result is one readiness document of the same shape.
// An answer counts only when it carries this state directory's id (Danube-State-Id): another agent on
// the same address is reported, never trusted; without a readable database of its own the CLI vouches
// for no agent at all and agent:heartbeat fails with the path and the fix.

import {get} from 'node:http'

import {AgentClient, agentClientFor} from '../../lib/agent-client.js'
import type {Clock} from '../../lib/clock.js'
import type {DanubeConfig} from '../../lib/config/index.js'
import {parseDuration} from '../../lib/duration.js'
import {DanubeError} from '../../lib/errors.js'
import {AgentRowStore} from '../../lib/store/agent-row.js'
import {identityMismatch, localStateIdentity, STATE_ID_HEADER} from '../../lib/store/identity.js'
import {Store} from '../../lib/store/index.js'
import {readToken} from '../../lib/token.js'
import {describeError} from './engine.js'
import {type CheckResult, type HealthCheck, type HealthDocument, KNOWN_CHECK_KEYS, worst} from './types.js'

export interface HealthProbeOptions {
  config: DanubeConfig
  clock: Clock
  version: string
  exclude?: readonly string[]
  /** The CLI's whole budget; the agent gets part of it, the in-process checks the rest. */
  timeoutMs: number
}

export interface HealthReport {
  document: HealthDocument
  /** agent: the running agent answered; local: it did not and the checks ran in this process. */
  source: 'agent' | 'local'
  agentAddr: string
  /** Why the agent's answer was not used (source local). */
  agentError?: string
}

export const HEARTBEAT_KEY = 'agent:heartbeat'

export async function probeHealth(options: HealthProbeOptions): Promise<HealthReport> {
  const exclude = [...new Set(options.exclude ?? [])]
  const unknown = exclude.filter((key) => !(KNOWN_CHECK_KEYS as readonly string[]).includes(key))
  if (unknown.length > 0) {
    throw new DanubeError('UNKNOWN_CHECK', `--exclude: no health check named ${unknown.map((k) => `"${k}"`).join(', ')}`, {
      exitCode: 3,
      httpStatus: 400,
      hint: `known checks: ${KNOWN_CHECK_KEYS.join(', ')}`,
    })
  }
  const responseMs = parseDuration(options.config.health.responseTimeout, 'health.responseTimeout')
  const agentTimeoutMs = Math.max(500, Math.min(3000, options.timeoutMs - responseMs - 500))
  const {stateDir} = options.config
  let identity: {stateId: string; stateDir: string}
  try {
    identity = {stateId: localStateIdentity(stateDir).stateId, stateDir}
  } catch (error) {
    // Nothing to compare an answer with: whatever listens on the network, no agent is vouched for.
    const why = `cannot vouch for any agent: ${error instanceof Error ? error.message : String(error)}${error instanceof DanubeError && error.hint ? ` (fix: ${error.hint})` : ''}`
    const agentAddr = options.config.http.addr
    return {document: await runLocally(options, exclude, agentAddr, why, false), source: 'local', agentAddr, agentError: why}
  }
  let client: AgentClient | undefined
  let why: string
  try {
    client = await agentClientFor(options.config, agentTimeoutMs).catch(
      () => new AgentClient({httpAddr: options.config.http.addr, tokenFile: options.config.auth.tokenFile, timeoutMs: agentTimeoutMs, identity}),
    )
    const document = await askAgent(client, options.config.auth.tokenFile, exclude, agentTimeoutMs, identity)
    if (!exclude.includes(HEARTBEAT_KEY)) {
      document.checks[HEARTBEAT_KEY] = [heartbeatResult(options, `the agent of this state directory (state id ${identity.stateId}) answered at ${addrOf(client)}`)]
    }
    return {document, source: 'agent', agentAddr: addrOf(client)}
  } catch (error) {
    if (error instanceof DanubeError && error.code === 'UNKNOWN_CHECK') throw error
    const agentAddr = (client ? addrOf(client) : undefined) ?? options.config.http.addr
    why = error instanceof DanubeError && error.code === 'AGENT_MISMATCH' ? `not trusted: ${error.message}` : `the agent did not answer at ${agentAddr} (${describeError(error)})`
  }
  const agentAddr = (client ? addrOf(client) : undefined) ?? options.config.http.addr
  return {document: await runLocally(options, exclude, agentAddr, why, true), source: 'local', agentAddr, agentError: why}
}

/**
 * GET /health/ready?verbose with node:http rather than fetch: loading fetch (undici) costs more than the
 * whole request, and this runs from cron. Without a readable token the agent still answers, without output.
 */
async function askAgent(client: AgentClient, tokenFile: string, exclude: readonly string[], timeoutMs: number, identity: {stateId: string; stateDir: string}): Promise<HealthDocument> {
  const addr = addrOf(client)
  const check = (answer: {headers: Record<string, string | string[] | undefined>}) => {
    const header = answer.headers[STATE_ID_HEADER.toLowerCase()]
    const mismatch = identityMismatch(identity, typeof header === 'string' ? header : undefined, addr)
    if (mismatch) throw mismatch
  }
  // First without the token (GET /health needs none): the token goes only to this state directory's agent.
  check(await httpGet(`${client.baseUrl}/health`, undefined, timeoutMs))
  const query = new URLSearchParams([['verbose', ''], ...exclude.map((key): [string, string] => ['exclude', key])])
  let token: string | undefined
  try {
    token = readToken(tokenFile)
  } catch {
    token = undefined
  }
  const answer = await httpGet(`${client.baseUrl}/health/ready?${query.toString()}`, token, timeoutMs)
  check(answer)
  const {status, text} = answer
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new DanubeError('AGENT_BAD_ANSWER', `the agent answered HTTP ${status} with a body that is not JSON`)
  }
  if (isHealthDocument(body)) return body
  const error = (body as {error?: {code?: string; message?: string}}).error
  throw new DanubeError(error?.code ?? 'AGENT_BAD_ANSWER', error?.message ?? `the agent answered HTTP ${status} without a health document`, {exitCode: 3})
}

function httpGet(url: string, token: string | undefined, timeoutMs: number): Promise<{status: number; text: string; headers: Record<string, string | string[] | undefined>}> {
  return new Promise((resolve, reject) => {
    const request = get(url, {agent: false, headers: {Connection: 'close', Accept: 'application/health+json', ...(token ? {Authorization: `Bearer ${token}`} : {})}, timeout: timeoutMs}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: response.headers}))
      response.on('error', reject)
    })
    const address = url.replace(/^http:\/\/([^/]+).*$/, '$1')
    request.on('timeout', () => request.destroy(new DanubeError('AGENT_TIMEOUT', `the agent at ${address} did not answer within ${timeoutMs} ms`)))
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof DanubeError) reject(error)
      else reject(new DanubeError('AGENT_DOWN', `the agent is not reachable at ${address} (${error.code ?? error.message})`))
    })
  })
}

function isHealthDocument(value: unknown): value is HealthDocument {
  const document = value as Partial<HealthDocument> | null
  return typeof document === 'object' && document !== null && typeof document.status === 'string' && typeof document.checks === 'object' && document.checks !== null
}

/** `why` is the whole reason agent:heartbeat fails; `withRow` adds what the agent row says (when the database is readable). */
async function runLocally(options: HealthProbeOptions, exclude: readonly string[], agentAddr: string, why: string, withRow: boolean): Promise<HealthDocument> {
  const {config} = options
  let store: Store | undefined
  const openStore = () => {
    store ??= Store.openInStateDir(config.stateDir, {busyTimeoutMs: parseDuration(config.health.database.busyTimeout, 'health.database.busyTimeout')})
    return store
  }
  const heartbeat: HealthCheck = {
    key: HEARTBEAT_KEY,
    componentType: 'component',
    componentId: agentAddr,
    importance: 'required',
    observedUnit: 's',
    run: async () => {
      if (!withRow) return {status: 'fail', observedValue: null, observedUnit: 's', output: why}
      const result = heartbeatResult(options, why)
      return {status: 'fail', observedValue: result.observedValue, observedUnit: 's', output: result.output}
    },
  }
  // Load the Kubernetes client before the clock starts: its load time is ours, not the API server's.
  // The checks load only here: when the agent answers (the cron fast path), none of them is needed.
  const {createHealthEngine, healthKubeClient} = await import('./index.js')
  const kubeClient = config.kubernetes.enabled ? healthKubeClient(config) : undefined
  await kubeClient?.().catch(() => {})
  const engine = createHealthEngine({
    config,
    kubeClient,
    clock: options.clock,
    store: openStore,
    version: options.version,
    // One run has no history to damp against: report every failure as it is.
    failureThreshold: 1,
    extraChecks: exclude.includes(HEARTBEAT_KEY) ? [] : [heartbeat],
  })
  try {
    return await engine.evaluate({exclude: exclude.filter((key) => engine.keys.includes(key))})
  } finally {
    store?.close()
  }
}

/** The agent row's heartbeat as a check result: its age in seconds, and what the CLI saw. */
function heartbeatResult(options: HealthProbeOptions, seen: string): CheckResult {
  const now = options.clock.now()
  let age: number | null = null
  let detail = ''
  try {
    const store = Store.openInStateDir(options.config.stateDir, {busyTimeoutMs: 250})
    try {
      const row = new AgentRowStore(store, options.clock).read()
      if (!row) detail = '; no agent has run with this state directory'
      else {
        age = Math.round((now.getTime() - Date.parse(row.heartbeatAt)) / 100) / 10
        detail = row.stoppedAt ? `; the last agent (pid ${row.pid}) stopped at ${row.stoppedAt}` : `; last heartbeat ${age}s ago (pid ${row.pid})`
      }
    } finally {
      store.close()
    }
  } catch (error) {
    detail = `; heartbeat unreadable: ${describeError(error)}`
  }
  return {componentType: 'component', status: 'pass', observedValue: age, observedUnit: 's', output: `${seen}${detail}`, time: now.toISOString()}
}

/** Exit status by the monitoring-plugins convention: any fail 2, any warn 1, else 0. */
export function exitStatusOf(document: HealthDocument): 0 | 1 | 2 {
  const status = worst([document.status, ...Object.values(document.checks).flat().map((result) => result.status)])
  return status === 'fail' ? 2 : status === 'warn' ? 1 : 0
}

function addrOf(client: AgentClient): string {
  return client.baseUrl.replace(/^http:\/\//, '')
}
