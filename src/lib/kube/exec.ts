// Owns pods/exec for the Kubernetes client: @kubernetes/client-node's Exec builds the request and decodes the channel
// frames (stdout 1, stderr 2, the Status on 3); this module is the WebSocket connection under it (its
// WebSocketInterface), written here because client-node's own WebSocketHandler cannot do what a long, large copy
// needs: it has no connect timeout, reads no error body (a 403 arrives as "Unexpected server response"), ignores
// backpressure (a slow disk would buffer the whole stream in memory), never reports a connection that drops after
// it opened, ends process.stdout when a v5 server half-closes a channel, and throws out of its message handler on an
// unknown channel. Only the v5 and v4 channel protocols are offered: v4 is the first with exit codes.
// Loaded only through ./client.js.

import {performance} from 'node:perf_hooks'
import {Writable} from 'node:stream'

import type {Exec, KubeConfig, V1Status} from '@kubernetes/client-node'
import WebSocket from 'ws'

import {DanubeError} from '../errors.js'
import {errorForStatus, type KubeCallTarget, type KubeStatus, type MapContext, parseStatus, toKubeError} from './errors.js'
import type {ExecOutcome, ExecStreams, KubeCallInfo} from './index.js'

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io']
/** An error body longer than this is cut: it only feeds one log line. */
const MAX_ERROR_BODY = 16 * 1024

type BinaryHandler = (stream: number, buff: Buffer) => boolean
type TextHandler = (text: string) => boolean

export interface ExecDeps {
  /** client-node's Exec class, handed over by ./client.js (the one module that loads client-node). */
  Exec: typeof Exec
  kc: KubeConfig
  kubeconfig: string
  server: string
  /** Bounds the upgrade (connect, TLS, HTTP answer), not the stream. */
  timeoutMs: number
  report(info: KubeCallInfo): void
}

/**
 * Forwards what client-node writes to the caller's stream, holding the socket (pause) while the caller's stream has
 * not drained, so memory stays flat whatever the size of the output. It never ends the caller's stream: the caller
 * does, once the status says the command ended.
 */
class Forward extends Writable {
  constructor(private readonly target: NodeJS.WritableStream, private readonly pressure: (held: boolean) => void) {
    super({highWaterMark: 1 << 20})
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.target.write(chunk)) return done()
    this.pressure(true)
    this.target.once('drain', () => {
      this.pressure(false)
      done()
    })
  }

  override write(chunk: unknown, ...rest: unknown[]): boolean {
    // A server that sends after the status (or after a v5 close of the channel) must not crash the agent.
    if (this.writableEnded || this.destroyed) return false
    return (super.write as (chunk: unknown, ...rest: unknown[]) => boolean)(chunk, ...rest)
  }
}

export async function execInPod(deps: ExecDeps, namespace: string, pod: string, container: string, command: string[], streams: ExecStreams): Promise<ExecOutcome> {
  const target: KubeCallTarget = {verb: 'create', resource: 'pods/exec', namespace, name: pod}
  const context = (timedOut = false): MapContext => ({target, kubeconfig: deps.kubeconfig, timeoutMs: deps.timeoutMs, timedOut})
  const started = performance.now()
  const {signal} = streams
  if (signal?.aborted) throw abortError()

  let socket: WebSocket | undefined
  let held = false
  let refused: DanubeError | undefined
  let refusedCode: number | undefined
  let broken: Error | undefined
  let timedOut = false
  const pressure = (hold: boolean) => {
    held = hold
    if (socket?.readyState !== WebSocket.OPEN) return
    if (hold) socket.pause()
    else socket.resume()
  }
  const stdout = new Forward(streams.stdout, pressure)
  const stderr = new Forward(streams.stderr, pressure)
  let status: V1Status | undefined
  const onStatus = (value: V1Status) => (status ??= value)

  const connector = {
    connect: async (path: string, _text: TextHandler | null, binary: BinaryHandler | null): Promise<WebSocket> => {
      const options: WebSocket.ClientOptions & {headers?: Record<string, string>} = {}
      await deps.kc.applyToHTTPSOptions(options as never)
      const uri = `${deps.server.replace(/^http/, 'ws')}${path}`
      return new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(uri, EXEC_PROTOCOLS, {...options, perMessageDeflate: false})
        socket = ws
        const timer = setTimeout(() => {
          timedOut = true
          ws.terminate()
        }, deps.timeoutMs)
        ws.on('unexpected-response', (request, response) => {
          // Read the Status the API server answered with (bounded), then abort the handshake.
          const chunks: Buffer[] = []
          let size = 0
          response.on('data', (chunk: Buffer) => {
            if (size < MAX_ERROR_BODY) chunks.push(chunk)
            size += chunk.length
          })
          response.on('end', () => {
            const body = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8')
            refusedCode = response.statusCode ?? 0
            refused = refusalError(refusedCode, parseStatus(body), context())
            request.destroy()
            ws.terminate()
          })
          response.on('error', () => ws.terminate())
        })
        ws.once('open', () => {
          clearTimeout(timer)
          if (held) ws.pause()
          resolve(ws)
        })
        ws.on('error', (error) => {
          clearTimeout(timer)
          broken ??= error
          reject(error)
        })
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (!isBinary || data.length === 0 || !binary) return
          try {
            // v5's CLOSE (255, channel) half-closes a channel: for stdout and stderr that means no more output.
            if (data[0] === 255) {
              if (data[1] === 1) stdout.end()
              else if (data[1] === 2) stderr.end()
              return
            }
            if (!binary(data[0]!, data.subarray(1))) ws.close()
          } catch (error) {
            broken ??= new Error(`protocol error on the exec stream: ${(error as Error).message}`)
            ws.terminate()
          }
        })
      })
    },
  }

  const exec = new deps.Exec(deps.kc, connector as never)
  const abort = () => socket?.terminate()
  signal?.addEventListener('abort', abort, {once: true})
  let ws: WebSocket
  try {
    ws = (await exec.exec(namespace, pod, container, command, stdout, stderr, null, false, onStatus)) as unknown as WebSocket
  } catch (error) {
    signal?.removeEventListener('abort', abort)
    if (signal?.aborted) throw abortError()
    const mapped = refused ?? (timedOut ? toKubeError(error, context(true)) : toKubeError(error, context()))
    deps.report({...target, ...(refusedCode !== undefined ? {statusCode: refusedCode} : {}), durationMs: performance.now() - started, error: mapped})
    throw mapped
  }
  deps.report({...target, statusCode: 101, durationMs: performance.now() - started})

  try {
    return await new Promise<ExecOutcome>((resolve, reject) => {
      const finished = (stream: Writable) => new Promise<void>((done) => (stream.writableFinished ? done() : stream.once('finish', () => done())))
      let settled = false
      const settle = () => {
        if (settled || !status) return
        settled = true
        void Promise.all([finished(stdout), finished(stderr)]).then(() => resolve(outcome(status!, ws.protocol)))
      }
      // client-node ends both streams and calls back with the status when channel 3 arrives.
      stdout.once('finish', settle)
      stderr.once('finish', settle)
      ws.once('close', () => {
        if (signal?.aborted) return reject(abortError())
        if (status) return settle()
        const why = broken ? `: ${broken.message}` : ''
        reject(new DanubeError('KUBE_UNREACHABLE', `the exec stream of pod ${namespace}/${pod} (container ${container}) ended before the command's exit status arrived${why}`, {
          httpStatus: 502, hint: 'the connection to the API server or the kubelet was lost; check the node and the API server',
        }))
      })
      signal?.addEventListener('abort', () => reject(abortError()), {once: true})
    })
  } finally {
    signal?.removeEventListener('abort', abort)
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate()
  }
}

function outcome(status: V1Status, protocol: string): ExecOutcome {
  const kubeStatus = status as KubeStatus & {details?: {causes?: Array<{reason?: string; message?: string}>}}
  if (status.status === 'Success') return {exitCode: 0, status: kubeStatus, protocol}
  const cause = kubeStatus.details?.causes?.find((candidate) => candidate.reason === 'ExitCode')
  const code = status.reason === 'NonZeroExitCode' && cause?.message !== undefined ? Number(cause.message) : Number.NaN
  return {exitCode: Number.isInteger(code) ? code : null, status: kubeStatus, protocol}
}

/** A refused upgrade as the typed error of its status; a 403 names the verb the API server denied (get or create). */
function refusalError(statusCode: number, status: KubeStatus | undefined, context: MapContext): DanubeError {
  const denied = status?.message?.match(/cannot (\w+) resource "([^"]+)"/)
  const target = denied ? {...context.target, verb: denied[1]!} : context.target
  const error = errorForStatus(statusCode, status, {...context, target})
  if (statusCode !== 403) return error
  return new DanubeError(error.code, error.message, {
    httpStatus: 502, cause: error,
    hint: `grant the identity in ${context.kubeconfig} RBAC permission to create and get pods/exec${target.namespace ? ` in namespace ${target.namespace}` : ''} (Kubernetes 1.35+ checks create for WebSocket exec, older versions get)`,
  })
}

function abortError(): Error {
  const error = new Error('the exec was aborted')
  error.name = 'AbortError'
  return error
}
