// Starts real `danube agent` processes (bin/run.js, built dist/) on ephemeral loopback ports with a
// temporary state directory, for integration and end-to-end tests. Hermetic: every process gets its own
// state directory, a HOME of this test process's own, and agent addresses that are never the agent's
// default ports (7480, 7481): a CLI call that looks for an agent where none runs reaches a port this process
// holds and resets, never whatever else listens on the machine.

import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {tempDir} from './temp.js'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(REPO_ROOT, 'bin/run.js')

export interface AgentProcess {
  child: ChildProcess
  stateDir: string
  httpAddr: string
  grpcAddr: string
  baseUrl: string
  token: string
  /** Everything the agent wrote to stderr so far (its structured log). */
  logs(): string
  /** Sends a signal and waits for the process to exit; resolves with its exit code (or signal). */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>
  /** Fetch against the agent with the token. */
  api(pathname: string, init?: RequestInit): Promise<Response>
}

/** A temporary state directory, removed when the test file ends (test/support/temp.ts). */
export function makeStateDir(prefix = 'danube-test-'): string {
  return tempDir(prefix)
}

/**
 * A loopback port held open by this process that resets every connection: "no agent answers here",
 * on an ephemeral port nothing else can take while the test runs.
 */
async function unansweredAddr(): Promise<string> {
  const server: Server = createServer((socket) => socket.resetAndDestroy())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  const {port} = server.address() as {port: number}
  return `127.0.0.1:${port}`
}

/** Where a CLI looks for an agent when no agent row says otherwise: held by this process, never a default. */
export const UNANSWERED_HTTP_ADDR = await unansweredAddr()
export const UNANSWERED_GRPC_ADDR = await unansweredAddr()

/** This test file's HOME (and XDG directories under it), removed when the file ends. */
export const TEST_HOME = tempDir('danube-home-')

/**
 * The environment every test process gets: its own state dir and HOME, agent addresses that no other
 * process answers, no Kubernetes, no host config file. `extra` overrides any of them.
 */
export function testEnv(stateDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: TEST_HOME,
    XDG_STATE_HOME: path.join(TEST_HOME, '.local/state'),
    XDG_CONFIG_HOME: path.join(TEST_HOME, '.config'),
    KUBECONFIG: path.join(TEST_HOME, '.kube/config'),
    DANUBE_HOME: stateDir,
    DANUBE_CONFIG: '',
    DANUBE_HTTP_ADDR: UNANSWERED_HTTP_ADDR,
    DANUBE_GRPC_ADDR: UNANSWERED_GRPC_ADDR,
    DANUBE_KUBERNETES_ENABLED: 'false',
    NO_COLOR: '1',
    ...extra,
  }
}

/** uid: run the agent as that user (and group of the same number), e.g. 65534 to test it unprivileged; needs root. */
export async function startAgent(options: {stateDir?: string; env?: NodeJS.ProcessEnv; args?: string[]; uid?: number} = {}): Promise<AgentProcess> {
  const stateDir = options.stateDir ?? makeStateDir()
  const child = spawn(process.execPath, [BIN, 'agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0', ...(options.args ?? [])], {
    env: testEnv(stateDir, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.uid,
  })
  let stderr = ''
  let stdout = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)))
  const started = await new Promise<{httpAddr: string; grpcAddr: string}>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start within 20s:\n${stderr}${stdout}`)), 20_000)
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      for (const line of stderr.split('\n')) {
        if (!line.includes('"agent started"')) continue
        const entry = JSON.parse(line) as {httpAddr: string; grpcAddr: string}
        clearTimeout(timer)
        resolve(entry)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`agent exited (${code}) before it started:\n${stderr}${stdout}`))
    })
  })
  const token = readFileSync(path.join(stateDir, 'agent.token'), 'utf8').trim()
  const baseUrl = `http://${started.httpAddr}`
  return {
    child,
    stateDir,
    ...started,
    baseUrl,
    token,
    logs: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
    api(pathname, init = {}) {
      return fetch(`${baseUrl}${pathname}`, {...init, headers: {Authorization: `Bearer ${token}`, ...(init.body ? {'Content-Type': 'application/json'} : {}), ...init.headers}})
    },
  }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs `danube <args>` through bin/run.js as an operator would; onStdout sees the output as it arrives. */
export function runCli(args: string[], options: {stateDir: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; uid?: number; onStdout?: (chunk: string) => void}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {env: testEnv(options.stateDir, options.env), stdio: ['pipe', 'pipe', 'pipe'], uid: options.uid, gid: options.uid})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk
      options.onStdout?.(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`danube ${args.join(' ')} did not finish in time:\n${stdout}\n${stderr}`))
    }, options.timeoutMs ?? 20_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({code: code ?? -1, stdout, stderr})
    })
    child.stdin.end(options.input ?? '')
  })
}

export function removeStateDir(stateDir: string): void {
  rmSync(stateDir, {recursive: true, force: true})
}

/** Polls until fn returns a truthy value (for conditions the test cannot await directly). */
export async function waitFor<T>(fn: () => T | Promise<T>, {timeoutMs = 10_000, intervalMs = 50, what = 'condition'} = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
