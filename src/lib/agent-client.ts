// Owns how the CLI talks to a running agent over HTTP: base address, bearer token, timeouts, trusting only
// the agent of its own state directory (Danube-State-Id), and turning the API's JSON error envelope back
// into the same DanubeError the agent threw.

import {DanubeError} from './errors.js'
import type {Job} from './jobs/model.js'
import type {JobSpec} from './jobs/spec.js'
import {identityMismatch, STATE_ID_HEADER} from './store/identity.js'
import {readToken} from './token.js'

/** Exit statuses the CLI uses for API error codes that are not plain failures. */
const EXIT_BY_CODE: Record<string, number> = {INVALID_SPEC: 2, INVALID_QUERY: 2, DRAINING: 75}

export interface AgentClientOptions {
  httpAddr: string
  tokenFile: string
  timeoutMs?: number
  /**
   * The state directory this client serves and the id in its database: an answer carrying another id (or
   * none) is refused with AGENT_MISMATCH, and the token goes only to an agent that passed that check.
   */
  identity?: {stateId: string; stateDir: string}
}

export class AgentClient {
  private token?: string
  private verified = false

  constructor(private readonly options: AgentClientOptions) {}

  get baseUrl(): string {
    return `http://${this.options.httpAddr}`
  }

  triggerJob(spec: JobSpec): Promise<Job> {
    return this.request<Job>('POST', '/api/v1/jobs', spec)
  }

  getJob(id: string): Promise<Job> {
    return this.request<Job>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`)
  }

  cancelJob(id: string): Promise<Job> {
    return this.request<Job>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`)
  }

  async request<T>(method: string, path: string, body?: unknown, options: {timeoutMs?: number; auth?: boolean} = {}): Promise<T> {
    const response = await this.fetch(method, path, body, options)
    const text = await response.text()
    const document = text ? (JSON.parse(text) as unknown) : undefined
    if (!response.ok) throw fromEnvelope(document, response.status)
    return document as T
  }

  async fetch(method: string, path: string, body?: unknown, options: {timeoutMs?: number; auth?: boolean} = {}): Promise<Response> {
    const headers: Record<string, string> = {}
    if (options.auth !== false && this.options.identity && !this.verified) {
      // GET /health needs no token: the token is sent only once the answering agent is known to be ours.
      this.checkIdentity(await this.send('GET', '/health', {}, undefined, options.timeoutMs))
      this.verified = true
    }
    if (options.auth !== false) {
      this.token ??= readToken(this.options.tokenFile)
      headers.Authorization = `Bearer ${this.token}`
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const response = await this.send(method, path, headers, body, options.timeoutMs)
    this.checkIdentity(response)
    return response
  }

  private checkIdentity(response: Response): void {
    if (!this.options.identity) return
    const mismatch = identityMismatch(this.options.identity, response.headers.get(STATE_ID_HEADER) ?? undefined, this.options.httpAddr)
    if (mismatch) {
      void response.body?.cancel()
      throw mismatch
    }
  }

  private async send(method: string, path: string, headers: Record<string, string>, body: unknown, timeoutMs: number | undefined): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs ?? this.options.timeoutMs ?? 10_000),
      })
    } catch (error) {
      const cause = (error as {cause?: {code?: string}}).cause?.code ?? (error as Error).name
      if (cause === 'TimeoutError') {
        throw new DanubeError('AGENT_TIMEOUT', `the agent at ${this.options.httpAddr} did not answer in time`, {hint: 'check `danube status` and the agent log'})
      }
      throw new DanubeError('AGENT_DOWN', `the agent is not reachable at ${this.options.httpAddr} (${cause})`, {
        hint: 'start it with `danube agent` (or `systemctl start danube`); if it listens elsewhere, set http.addr (DANUBE_HTTP_ADDR) to its address',
      })
    }
  }
}

function fromEnvelope(document: unknown, status: number): DanubeError {
  const error = (document as {error?: {code?: string; message?: string; hint?: string; details?: {path: string; message: string}[]}} | undefined)?.error
  const code = error?.code ?? 'HTTP_ERROR'
  return new DanubeError(code, error?.message ?? `the agent answered HTTP ${status}`, {
    httpStatus: status,
    exitCode: EXIT_BY_CODE[code] ?? 1,
    hint: error?.hint,
    details: error?.details,
  })
}

/**
 * A client for the agent that serves this state directory: the address comes from the agent's own row
 * in SQLite when it is running (it may listen on a port other than the configured one), else from config.
 * The database must exist and be readable (its state id is what an answering agent must match): a missing
 * or unreadable state directory is an error naming the path, whatever listens on the network.
 */
export async function agentClientFor(config: {stateDir: string; http: {addr: string}; auth: {tokenFile: string}}, timeoutMs?: number): Promise<AgentClient> {
  const {localStateIdentity} = await import('./store/identity.js')
  const {Store} = await import('./store/index.js')
  const {AgentRowStore, agentIsRunning} = await import('./store/agent-row.js')
  const {systemClock} = await import('./clock.js')
  const {stateId} = localStateIdentity(config.stateDir)
  let httpAddr = config.http.addr
  try {
    const store = Store.openInStateDir(config.stateDir, {readonly: true, busyTimeoutMs: 250})
    try {
      const row = new AgentRowStore(store, systemClock).read()
      if (row && agentIsRunning(row, new Date())) httpAddr = row.httpAddr
    } finally {
      store.close()
    }
  } catch {
    // The identity was readable; an agent row that is not (a read-only WAL without -shm) leaves the configured address.
  }
  return new AgentClient({httpAddr, tokenFile: config.auth.tokenFile, timeoutMs, identity: {stateId, stateDir: config.stateDir}})
}
