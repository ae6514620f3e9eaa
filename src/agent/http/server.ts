// Owns the agent's HTTP listener: routing, bearer-token auth on /api/, JSON bodies (1 MiB cap, JSON
// only) and the one JSON error envelope. Route handlers are thin adapters over agent services.

import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {DanubeError} from '../../lib/errors.js'
import {bearerToken, tokenMatches} from '../../lib/token.js'
import type {Logger} from '../logger.js'

export const MAX_BODY_BYTES = 1024 * 1024

export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  /** Whether the request carried the agent's token (always true on routes that require it). */
  authenticated: boolean
  /** Aborted when the client goes away: long responses (log follow) stop then. */
  signal: AbortSignal
  body(): Promise<unknown>
}

/** A handler returns a value to send as JSON with `status`, or undefined when it wrote the response itself. */
export type RouteHandler = (context: RequestContext) => Promise<RouteResult | undefined> | RouteResult | undefined

export interface RouteResult {
  status?: number
  body: unknown
  headers?: Record<string, string>
}

interface Route {
  method: string
  pattern: RegExp
  names: string[]
  handler: RouteHandler
  auth: boolean
}

export class HttpServer {
  private readonly routes: Route[] = []
  private server?: Server

  constructor(
    private readonly token: string,
    private readonly logger: Logger,
    /** Sent with every response, errors included (Danube-State-Id: which state directory this agent serves). */
    private readonly responseHeaders: Readonly<Record<string, string>> = {},
  ) {}

  /** Registers a route; `:name` segments become params. Routes under /api/ require the token. */
  route(method: string, path: string, handler: RouteHandler): this {
    const names: string[] = []
    const pattern = new RegExp(
      `^${path.replaceAll(/:([a-zA-Z]+)/g, (_m, name: string) => {
        names.push(name)
        return '([^/]+)'
      })}$`,
    )
    this.routes.push({method, pattern, names, handler, auth: path.startsWith('/api/')})
    return this
  }

  async listen(addr: string): Promise<string> {
    const {host, port} = splitAddr(addr)
    const server = createServer((req, res) => void this.handle(req, res))
    server.keepAliveTimeout = 5000
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new DanubeError('ADDRESS_IN_USE', `cannot listen on ${addr} for HTTP: ${error.code ?? error.message}`, {
            hint: 'stop whatever holds the port, or set --http-addr (DANUBE_HTTP_ADDR)',
          }),
        ),
      )
      server.listen(port, host, resolve)
    })
    const bound = server.address() as AddressInfo
    return `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
  }

  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    res.on('close', () => controller.abort())
    for (const [name, value] of Object.entries(this.responseHeaders)) res.setHeader(name, value)
    try {
      const url = new URL(req.url ?? '/', 'http://agent.invalid')
      const matching = this.routes.filter((r) => r.pattern.test(url.pathname))
      if (matching.length === 0) throw new DanubeError('NOT_FOUND', `no route ${url.pathname}`, {httpStatus: 404})
      const route = matching.find((r) => r.method === req.method)
      const authenticated = tokenMatches(bearerToken(req.headers.authorization), this.token)
      if (matching[0]!.auth && !authenticated) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="danube"')
        throw new DanubeError('UNAUTHORIZED', 'missing or wrong bearer token', {httpStatus: 401, hint: 'send Authorization: Bearer <token from agent.token>'})
      }
      if (!route) {
        res.setHeader('Allow', matching.map((r) => r.method).join(', '))
        throw new DanubeError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`, {httpStatus: 405})
      }
      const match = route.pattern.exec(url.pathname)!
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]))
      const result = await route.handler({req, res, url, params, authenticated, signal: controller.signal, body: () => readJsonBody(req)})
      if (result) sendJson(res, result.status ?? 200, result.body, result.headers)
    } catch (error) {
      this.sendError(res, error)
    }
  }

  private sendError(res: ServerResponse, error: unknown): void {
    const danube =
      error instanceof DanubeError ? error : new DanubeError('INTERNAL', 'internal error; see the agent log', {httpStatus: 500, cause: error})
    if (danube.httpStatus >= 500) this.logger.error('request failed', {code: danube.code, error: (error as Error).message})
    if (res.headersSent) {
      res.destroy()
      return
    }
    const headers: Record<string, string> = {}
    if (danube.httpStatus === 503) headers['Retry-After'] = String(danube.retryAfterSeconds ?? 30)
    sendJson(res, danube.httpStatus, danube.toJSON(), headers)
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers})
  res.end(text)
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new DanubeError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, not "${type || '(none)'}"`, {httpStatus: 415})
  }
  const tooLarge = () => new DanubeError('BODY_TOO_LARGE', `request body is over the ${MAX_BODY_BYTES} byte (1 MiB) limit`, {httpStatus: 413})
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    req.resume()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) {
      req.resume()
      throw tooLarge()
    }
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (error) {
    throw new DanubeError('INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`, {httpStatus: 400})
  }
}

export function splitAddr(addr: string): {host: string; port: number} {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr)
  if (!match) throw new DanubeError('INVALID_ADDR', `"${addr}" is not host:port`, {exitCode: 2})
  return {host: match[1]!, port: Number(match[2])}
}
