// Owns the agent's HTTP listener: the route table (method + path template), bearer-token auth on /api/,
// JSON bodies (capped at api.maxRequestBytes, JSON only), HEAD on every GET route, and the one JSON error
// envelope, bounded in size. Route handlers are thin adapters over agent services.

import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {DanubeError} from '../../lib/errors.js'
import {isAuthenticated} from '../auth.js'
import {JsonBodyParser} from './json-body.js'
import type {Logger} from '../logger.js'

/** The default of api.maxRequestBytes: the largest HTTP body (and gRPC message) the agent reads. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024

/** Non-standard status (nginx's) recorded for a request whose client went away; never sent, the socket is gone. */
const CLIENT_CLOSED_REQUEST = 499

export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  /** The route's path template, such as /api/v1/jobs/:id (for metrics and spans: bounded cardinality). */
  template: string
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
  /** The template as registered (`/api/v1/jobs/:id`): what telemetry reports as http.route. */
  template: string
  pattern: RegExp
  names: string[]
  handler: RouteHandler
  auth: boolean
}

/**
 * Wraps the handling of one request (telemetry: its SERVER span and http.server.request.duration). Told the
 * matched route template (`/api/v1/jobs/:id`), never the raw path; `handle` answers the request.
 */
export type RequestObserver = (req: IncomingMessage, res: ServerResponse, template: string | undefined, handle: () => Promise<void>) => Promise<void>

export class HttpServer {
  private readonly routes: Route[] = []
  private server?: Server
  private readonly json = new JsonBodyParser()

  constructor(
    private readonly token: string,
    private readonly logger: Logger,
    private readonly maxBodyBytes: number = DEFAULT_MAX_REQUEST_BYTES,
    /** Sent with every response, errors included (Danube-State-Id: which state directory this agent serves). */
    private readonly responseHeaders: Readonly<Record<string, string>> = {},
    private readonly observe?: RequestObserver,
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
    this.routes.push({method, template: path, pattern, names, handler, auth: path.startsWith('/api/')})
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
    await this.json.close()
  }

  private handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.observe) return this.respond(req, res)
    let url: URL | undefined
    try {
      url = requestUrl(req.url ?? '/')
    } catch {
      // A target that does not parse has no route; respond() answers it with its 400.
    }
    const template = url && this.routes.find((r) => r.pattern.test(url.pathname))?.template
    return this.observe(req, res, template, () => this.respond(req, res, url))
  }

  private async respond(req: IncomingMessage, res: ServerResponse, parsed?: URL): Promise<void> {
    const controller = new AbortController()
    // Aborted only for a client that went away: after a complete response nobody is left to stop, and an abort
    // (its DOMException and stack) cost about 5% of each request's CPU.
    res.on('close', () => {
      if (!res.writableFinished) controller.abort()
    })
    for (const [name, value] of Object.entries(this.responseHeaders)) res.setHeader(name, value)
    try {
      const url = parsed ?? requestUrl(req.url ?? '/')
      const matching = this.routes.filter((r) => r.pattern.test(url.pathname))
      if (matching.length === 0) throw new DanubeError('NOT_FOUND', `no route ${url.pathname}`, {httpStatus: 404})
      // HEAD is answered by the GET route; node:http sends its headers and drops the body.
      const method = req.method === 'HEAD' ? 'GET' : req.method
      const route = matching.find((r) => r.method === method)
      // headersDistinct: node:http keeps only the first of repeated Authorization headers in req.headers.
      const authenticated = isAuthenticated(req.headersDistinct.authorization ?? [], this.token)
      if (matching[0]!.auth && !authenticated) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="danube"')
        throw new DanubeError('UNAUTHORIZED', 'missing or wrong bearer token', {httpStatus: 401, hint: 'send Authorization: Bearer <token from agent.token>'})
      }
      if (!route) {
        res.setHeader('Allow', allowed(matching))
        throw new DanubeError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`, {httpStatus: 405})
      }
      const match = route.pattern.exec(url.pathname)!
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodePathSegment(match[i + 1]!)]))
      const result = await route.handler({
        req,
        res,
        url,
        template: route.template,
        params,
        authenticated,
        signal: controller.signal,
        body: () => readJsonBody(req, this.maxBodyBytes, this.json),
      })
      if (result) sendJson(res, result.status ?? 200, result.body, result.headers)
    } catch (error) {
      this.sendError(res, error)
    }
  }

  private sendError(res: ServerResponse, error: unknown): void {
    const danube =
      error instanceof DanubeError ? error : clientWentAway(res, error) ?? new DanubeError('INTERNAL', 'internal error; see the agent log', {httpStatus: 500, cause: error})
    // A client that hangs up mid-request is not an agent fault: info, with its own code, never INTERNAL.
    if (danube.code === 'CLIENT_ABORTED') this.logger.info('request abandoned by the client', {code: danube.code, method: res.req.method, path: clipPath(res.req.url)})
    else if (danube.httpStatus >= 500) this.logger.error('request failed', {code: danube.code, error: (error as Error).message})
    if (res.headersSent || res.destroyed) {
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

async function readJsonBody(req: IncomingMessage, maxBytes: number, json: JsonBodyParser): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new DanubeError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, not "${type.slice(0, 100) || '(none)'}"`, {httpStatus: 415})
  }
  const tooLarge = () =>
    new DanubeError('BODY_TOO_LARGE', `request body is over the ${maxBytes} byte limit (api.maxRequestBytes)`, {httpStatus: 413, hint: 'send a smaller job spec; the limits are in docs/job-spec.md'})
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) {
    req.resume()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBytes) {
        req.resume()
        throw tooLarge()
      }
      chunks.push(chunk)
    }
  } catch (error) {
    if (error instanceof DanubeError) throw error
    throw new DanubeError('CLIENT_ABORTED', `the client went away after ${size} bytes of the body`, {httpStatus: CLIENT_CLOSED_REQUEST, cause: error})
  }
  return json.parse(Buffer.concat(chunks))
}

/**
 * The request target as sent. Parsed by hand rather than with `new URL(target, base)`, which reads
 * `//api/v1/jobs` as a host name: the path must stay exactly what the client sent, so 404s can name it.
 */
function requestUrl(target: string): URL {
  const cut = target.search(/[?#]/)
  const pathname = cut === -1 ? target : target.slice(0, cut)
  if (!pathname.startsWith('/')) throw new DanubeError('INVALID_PATH', 'the request target must be a path starting with /', {httpStatus: 400})
  const url = new URL('http://agent.invalid/')
  url.pathname = pathname
  if (cut !== -1) url.search = target.slice(cut).replace(/#.*$/, '')
  return url
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new DanubeError('INVALID_PATH', `the path has a malformed percent-escape in "${segment.slice(0, 80)}"; escape % as %25`, {httpStatus: 400})
  }
}

/** GET routes answer HEAD too, so Allow says so. */
function allowed(routes: readonly Route[]): string {
  const methods = new Set(routes.map((r) => r.method))
  if (methods.has('GET')) methods.add('HEAD')
  return [...methods].join(', ')
}

/** The error a request ends with when its client hung up (ECONNRESET, "aborted"), or undefined. */
function clientWentAway(res: ServerResponse, error: unknown): DanubeError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (res.req.destroyed || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error | undefined)?.message === 'aborted') {
    return new DanubeError('CLIENT_ABORTED', 'the client went away before the answer', {httpStatus: CLIENT_CLOSED_REQUEST, cause: error})
  }
  return undefined
}

function clipPath(path: string | undefined): string {
  return (path ?? '').slice(0, 200)
}

export function splitAddr(addr: string): {host: string; port: number} {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr)
  if (!match) throw new DanubeError('INVALID_ADDR', `"${addr}" is not host:port`, {exitCode: 2})
  return {host: match[1]!, port: Number(match[2])}
}
