// Owns `pods/exec` in the Kubernetes test API server: the WebSocket upgrade, subprotocol negotiation, the channel
// frames, the exit status on the error channel, and the simulated kubelet that runs the exec'd command for real.
// It follows Kubernetes, not what Danube's code expects:
//   - The channel protocol: k8s.io/apimachinery/pkg/util/httpstream/wsstream/conn.go (each binary message starts with
//     its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize) and
//     k8s.io/apimachinery/pkg/util/remotecommand/constants.go (v4.channel.k8s.io "adds support for exit codes",
//     v5.channel.k8s.io "adds support for a CLOSE signal", StreamClose = 255, NonZeroExitCode / ExitCode).
//   - The server side: k8s.io/kubelet/pkg/cri/streaming/remotecommand (websocket.go: an empty frame on the lowest
//     writable channel once the connection is up; exec.go: a metav1.Status on the error channel, Success, or Failure
//     with reason NonZeroExitCode and a cause of type ExitCode carrying the code) and
//     k8s.io/apiserver/pkg/util/proxy/websocket.go (v5: the status, then the WebSocket close frame, then the server
//     waits for the client to close).
//   - Subprotocol choice: wsstream's handshake takes the client's protocols in the client's order and picks the first
//     one the server supports; none supported is refused.
//   - Authorization (kubernetes/kubernetes#134577, Kubernetes 1.35 AuthorizePodWebsocketUpgradeCreatePermission):
//     an exec upgrade needs `create` on pods/exec; a GET upgrade also needs `get`. Done by the API server's hook.
// The kubelet part: every pod gets one directory per volume (emptyDir), which tests fill; an exec runs the command
// with bubblewrap in a filesystem where the container's volumeMounts are bound at their mountPath (readOnly mounts
// read-only) over the host's /usr, so real `tar`, `sh` and `sha256sum` produce the bytes that travel the protocol.

import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync} from 'node:fs'
import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {type WebSocket, WebSocketServer} from 'ws'

import * as statuses from './status.js'
import type {Container, Pod, StatusObject} from './types.js'

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const
export type ExecProtocol = (typeof EXEC_PROTOCOLS)[number]

export const STDIN = 0
export const STDOUT = 1
export const STDERR = 2
export const ERROR = 3
export const CLOSE = 255

/** How long stdout may lag behind the socket before the command's output is paused (backpressure). */
const MAX_BUFFERED = 1 << 20

export interface ExecRecord {
  namespace: string
  pod: string
  container: string
  command: string[]
  protocol: ExecProtocol
  /** Bytes of stdout sent on channel 1. */
  stdoutBytes: number
  /** The command's exit code once it ended (128 + signal when killed), null while running or when the client left first. */
  exitCode: number | null
  /** True once the connection is gone. */
  closed: boolean
}

export interface ExecFaults {
  /** Destroy the connection once this many stdout bytes were sent (a stream dropped mid-copy). */
  dropAfterBytes?: number
}

/** Replaces the argv the kubelet runs (a test's stand-in for a compromised or broken image); undefined keeps it. */
export type ExecOverride = (command: string[]) => string[] | undefined

interface Running {
  record: ExecRecord
  child?: ChildProcess
  ws: WebSocket
}

/** The per-pod side of exec: volume directories and the commands running in them. */
export class PodExec {
  private readonly wss: WebSocketServer
  private root?: string
  private readonly running = new Set<Running>()
  private readonly overrides = new Map<string, ExecOverride>()
  readonly records: ExecRecord[] = []
  private readonly listeners = new Set<(record: ExecRecord) => void>()

  /** protocols: what this server speaks, in its preference (a v4-only server is an older kube-apiserver's proxy path). */
  constructor(private readonly protocols: readonly ExecProtocol[] = EXEC_PROTOCOLS) {
    this.wss = new WebSocketServer({noServer: true, handleProtocols: (offered) => pickProtocol([...offered], this.protocols)})
  }

  /** The directory that backs volume `volume` of a pod (created on first use); what a container mounts from it. */
  volumeDir(pod: Pod, volume: string): string {
    this.root ??= mkdtempSync(path.join(tmpdir(), 'danube-kubelet-'))
    const dir = path.join(this.root, pod.metadata.uid, 'volumes', volume)
    mkdirSync(dir, {recursive: true})
    return dir
  }

  /** Runs override(command) instead of the command of every exec into this pod (namespace/name). */
  override(pod: Pod, override: ExecOverride): () => void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`
    this.overrides.set(key, override)
    return () => this.overrides.delete(key)
  }

  /** Calls listener whenever an exec's connection ends (after its status was sent, or when it was dropped). */
  onEnded(listener: (record: ExecRecord) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Checks an exec request as the API server and kubelet do before the upgrade; returns the Status to answer with,
   * or undefined when the upgrade may go ahead.
   */
  refusal(pod: Pod, query: URLSearchParams, protocols: string[]): StatusObject | undefined {
    const name = pod.metadata.name
    const containers = pod.spec.containers.map((container) => container.name)
    const command = query.getAll('command')
    if (command.length === 0) return statuses.badRequest('you must specify at least 1 command')
    if (![query.get('stdin'), query.get('stdout'), query.get('stderr')].some(isTrue)) {
      return statuses.badRequest('you must specify at least 1 of stdin, stdout, stderr')
    }
    const container = query.get('container') ?? (containers.length === 1 ? containers[0] : undefined)
    if (!container) return statuses.badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`)
    const initNames = (pod.spec.initContainers ?? []).map((candidate) => candidate.name)
    if (!containers.includes(container) && !initNames.includes(container)) return statuses.badRequest(`container ${container} is not valid for pod ${name}`)
    if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') {
      return statuses.badRequest(`cannot exec into a container in a completed pod; current phase is ${pod.status.phase}`)
    }
    const status = [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])].find((candidate) => candidate.name === container)
    if (!status?.state.running) return statuses.badRequest(`container ${container} in pod ${name} is not running`)
    if (protocols.length > 0 && pickProtocol(protocols, this.protocols) === false) {
      return statuses.badRequest(`requested protocol(s) are not supported: [${protocols.join(' ')}]; supports [${this.protocols.join(' ')}]`)
    }
    return undefined
  }

  /** Upgrades the connection and runs the command in the container's filesystem view. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, query: URLSearchParams, faults: ExecFaults = {}): void {
    const containers = pod.spec.containers
    const containerName = query.get('container') ?? containers[0]!.name
    const container = [...containers, ...(pod.spec.initContainers ?? [])].find((candidate) => candidate.name === containerName)!
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const protocol = (ws.protocol || 'v4.channel.k8s.io') as ExecProtocol
      const command = this.overrides.get(`${pod.metadata.namespace}/${pod.metadata.name}`)?.(query.getAll('command')) ?? query.getAll('command')
      const record: ExecRecord = {namespace: pod.metadata.namespace ?? '', pod: pod.metadata.name, container: containerName, command: query.getAll('command'), protocol, stdoutBytes: 0, exitCode: null, closed: false}
      this.records.push(record)
      const running: Running = {record, ws}
      this.running.add(running)
      this.run(running, pod, container, command, query, faults)
    })
  }

  /** Kills every running command and closes its connection; removes the volume directories. */
  stop(): void {
    for (const running of [...this.running]) {
      running.child?.kill('SIGKILL')
      running.ws.terminate()
    }
    this.running.clear()
    this.wss.close()
    if (this.root) rmSync(this.root, {recursive: true, force: true})
    this.root = undefined
  }

  /** A pod that is gone takes its running execs with it (the container is stopped). */
  podRemoved(pod: Pod): void {
    for (const running of [...this.running]) {
      if (running.record.pod === pod.metadata.name && running.record.namespace === pod.metadata.namespace) {
        running.child?.kill('SIGKILL')
        running.ws.terminate()
      }
    }
    if (this.root) rmSync(path.join(this.root, pod.metadata.uid), {recursive: true, force: true})
  }

  private run(running: Running, pod: Pod, container: Container, command: string[], query: URLSearchParams, faults: ExecFaults): void {
    const {ws, record} = running
    const wantStdin = isTrue(query.get('stdin'))
    const wantStdout = isTrue(query.get('stdout'))
    const wantStderr = isTrue(query.get('stderr'))
    const child = spawn('bwrap', [...this.sandboxArgs(pod, container), '--', ...command], {
      stdio: [wantStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: containerEnv(container),
    })
    running.child = child
    let buffered = 0
    let dropped = false
    const send = (channel: number, data: Buffer, source: NodeJS.ReadableStream) => {
      if (ws.readyState !== ws.OPEN || dropped) return
      buffered += data.length
      ws.send(Buffer.concat([Buffer.of(channel), data]), () => {
        buffered -= data.length
        if (buffered < MAX_BUFFERED && source.isPaused()) source.resume()
      })
      if (buffered >= MAX_BUFFERED) source.pause()
    }
    // "Send an empty message to the lowest writable channel to notify the client the connection is established."
    ws.send(Buffer.of(wantStdout ? STDOUT : wantStderr ? STDERR : ERROR))
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!wantStdout) return
      const limit = faults.dropAfterBytes
      if (limit !== undefined && record.stdoutBytes + chunk.length >= limit) {
        const part = chunk.subarray(0, Math.max(0, limit - record.stdoutBytes))
        if (part.length > 0) send(STDOUT, part, child.stdout!)
        record.stdoutBytes += part.length
        dropped = true
        // Let the bytes written so far leave, then the connection dies mid-stream.
        setImmediate(() => {
          child.kill('SIGKILL')
          ws.terminate()
        })
        return
      }
      record.stdoutBytes += chunk.length
      send(STDOUT, chunk, child.stdout!)
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      if (wantStderr) send(STDERR, chunk, child.stderr!)
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length === 0) return
      const channel = data[0]
      if (channel === STDIN && wantStdin) child.stdin?.write(data.subarray(1))
      // v5 only: [255, n] half-closes channel n; for stdin that is the command's end of input.
      else if (channel === CLOSE && record.protocol === 'v5.channel.k8s.io' && data[1] === STDIN) child.stdin?.end()
    })
    ws.on('close', () => {
      record.closed = true
      this.running.delete(running)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      for (const listener of this.listeners) listener(record)
    })
    child.on('error', (error) => {
      this.finish(running, internalError(`error executing command in container: ${error.message}`))
    })
    child.on('close', (code, signal) => {
      if (dropped) return
      const exitCode = code ?? 128 + signalNumber(signal)
      record.exitCode = exitCode
      this.finish(running, exitCode === 0 ? success() : nonZeroExit(command, exitCode))
    })
  }

  /** Writes the status on the error channel, then the close frame; the client closes the connection. */
  private finish(running: Running, status: ExecStatus): void {
    const {ws} = running
    if (ws.readyState !== ws.OPEN) return
    ws.send(Buffer.concat([Buffer.of(ERROR), Buffer.from(JSON.stringify(status))]))
    ws.close(1000)
  }

  private sandboxArgs(pod: Pod, container: Container): string[] {
    const args = ['--unshare-all', '--die-with-parent', '--new-session', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp']
    for (const top of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc']) {
      const host = `/${top}`
      if (!existsSync(host)) continue
      const stat = lstatSync(host)
      if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(host), host)
      else if (stat.isDirectory()) args.push('--ro-bind', host, host)
    }
    const mounts = (container.volumeMounts ?? []) as Array<{name: string; mountPath: string; readOnly?: boolean}>
    for (const mount of mounts) args.push(mount.readOnly ? '--ro-bind' : '--bind', this.volumeDir(pod, mount.name), mount.mountPath)
    const workingDir = typeof container.workingDir === 'string' ? container.workingDir : '/'
    args.push('--chdir', workingDir)
    return args
  }
}

/** The Status the error channel carries (metav1.Status as JSON, TypeMeta empty as the kubelet marshals it). */
export interface ExecStatus {
  metadata: Record<string, never>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  details?: {causes: Array<{reason: string; message: string}>}
  code?: number
}

function success(): ExecStatus {
  return {metadata: {}, status: 'Success'}
}

function nonZeroExit(command: string[], exitCode: number): ExecStatus {
  return {
    metadata: {}, status: 'Failure', reason: 'NonZeroExitCode',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    details: {causes: [{reason: 'ExitCode', message: String(exitCode)}]},
  }
}

function internalError(message: string): ExecStatus {
  return {metadata: {}, status: 'Failure', reason: 'InternalError', message: `Internal error occurred: ${message}`, code: 500}
}

/** The first protocol the client offered that the server supports, in the client's order; false for none. */
function pickProtocol(offered: string[], supported: readonly string[]): string | false {
  return offered.find((protocol) => supported.includes(protocol)) ?? false
}

/** Query booleans as the API server's parameter codec reads them: `true` and `1` (strconv.ParseBool). */
function isTrue(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)
}

function containerEnv(container: Container): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root'}
  for (const variable of (container.env ?? []) as Array<{name: string; value?: string}>) {
    if (variable.value !== undefined) env[variable.name] = variable.value
  }
  return env
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15}
  return (signal && numbers[signal]) ?? 1
}
