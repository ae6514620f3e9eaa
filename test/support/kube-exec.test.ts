// Shows that the test API server's pods/exec behaves as Kubernetes documents and implements it, against the real
// @kubernetes/client-node Exec (and a bare `ws` client where the protocol itself is the point). Sources:
//   - https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/ (connect GET/POST /exec: command,
//     container, stdin, stdout, stderr, tty)
//   - https://kubernetes.io/docs/reference/access-authn-authz/rbac/ (pods/exec is a subresource; create)
//   - k8s.io/apimachinery/pkg/util/httpstream/wsstream/conn.go (channel byte prefix; first supported protocol in the
//     client's order), k8s.io/apimachinery/pkg/util/remotecommand/constants.go (v4 exit codes, v5 CLOSE = 255,
//     NonZeroExitCode / ExitCode), k8s.io/kubelet/pkg/cri/streaming/remotecommand/{websocket,exec}.go (empty frame
//     on connect; Status on channel 3), kubernetes/kubernetes#134577 (create checked on WebSocket upgrades).

import {createHash} from 'node:crypto'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {PassThrough} from 'node:stream'

import {CoreV1Api, Exec, KubeConfig, type V1Status} from '@kubernetes/client-node'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import WebSocket from 'ws'

import {createKubeClient, type KubeClient} from '../../src/lib/kube/index.js'
import {waitFor} from './agent-process.js'
import {KubeApiServer} from './kube-api-server.js'

let server: KubeApiServer
let kc: KubeConfig
let core: CoreV1Api
let client: KubeClient
let kubeconfigDir: string
const ns = 'exec'

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  const file = server.writeKubeconfig()
  kubeconfigDir = path.dirname(file)
  kc = new KubeConfig()
  kc.loadFromFile(file)
  core = kc.makeApiClient(CoreV1Api)
  client = await createKubeClient({kubeconfig: file})
  await core.createNamespace({body: {metadata: {name: ns}}})
})

afterAll(async () => {
  await server.stop()
  rmSync(kubeconfigDir, {recursive: true, force: true})
})

beforeEach(() => {
  server.clearFaults()
})

let counter = 0
/** A running pod with one container that mounts volume `data` at /data (read-only) and `scratch` at /scratch. */
async function runningPod(): Promise<string> {
  const name = `pod-${++counter}`
  await core.createNamespacedPod({namespace: ns, body: {metadata: {name}, spec: {containers: [{name: 'main', image: 'busybox:1.36',
    volumeMounts: [{name: 'data', mountPath: '/data', readOnly: true}, {name: 'scratch', mountPath: '/scratch'}]}],
  volumes: [{name: 'data', emptyDir: {}}, {name: 'scratch', emptyDir: {}}]}}})
  server.startPod(`${ns}/${name}`)
  return name
}

function collect(): {stream: PassThrough; text: () => string; bytes: () => Buffer} {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return {stream, text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks)}
}

/** Runs a command with client-node's own Exec (its own WebSocketHandler) and waits for the status. */
async function clientNodeExec(pod: string, command: string[]): Promise<{status: V1Status; stdout: string; stderr: string; protocol: string}> {
  const out = collect()
  const err = collect()
  let resolveStatus: (status: V1Status) => void = () => {}
  const statusArrived = new Promise<V1Status>((resolve) => (resolveStatus = resolve))
  const ws = await new Exec(kc).exec(ns, pod, 'main', command, out.stream, err.stream, null, false, resolveStatus)
  const status = await statusArrived
  return {status, stdout: out.text(), stderr: err.text(), protocol: ws.protocol}
}

/** A bare WebSocket to the exec endpoint, recording every frame. */
async function rawExec(pod: string, query: string, protocols: string[]): Promise<{ws: WebSocket; frames: Buffer[]; closed: Promise<void>}> {
  const options: Record<string, unknown> = {}
  await kc.applyToHTTPSOptions(options as never)
  const ws = new WebSocket(`${server.url.replace('https', 'wss')}/api/v1/namespaces/${ns}/pods/${pod}/exec?${query}`, protocols, options)
  const frames: Buffer[] = []
  ws.on('message', (data: Buffer) => frames.push(data))
  const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return {ws, frames, closed}
}

async function refusedUpgrade(pod: string, query: string, protocols = ['v5.channel.k8s.io']): Promise<{status: number; body: {reason?: string; message?: string; code?: number}}> {
  return refusedUpgradeAt(server, kc, pod, query, protocols)
}

async function refusedUpgradeAt(at: KubeApiServer, config: KubeConfig, pod: string, query: string, protocols: string[]): Promise<{status: number; body: {reason?: string; message?: string; code?: number}}> {
  const options: Record<string, unknown> = {}
  await config.applyToHTTPSOptions(options as never)
  const ws = new WebSocket(`${at.url.replace('https', 'wss')}/api/v1/namespaces/${ns}/pods/${pod}/exec?${query}`, protocols, options)
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        resolve({status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8'))})
        ws.terminate()
      })
    })
    ws.on('open', () => reject(new Error('the upgrade was accepted')))
    ws.on('error', () => {})
  })
}

describe('pods/exec: the channel protocol', () => {
  it('negotiates v5.channel.k8s.io with client-node, runs the command for real and reports Success on channel 3', async () => {
    const pod = await runningPod()
    writeFileSync(path.join(server.podVolume(`${ns}/${pod}`, 'data'), 'hello.txt'), 'hello from the volume\n')
    const result = await clientNodeExec(pod, ['sh', '-c', 'cat /data/hello.txt; echo oops >&2'])
    expect(result.protocol).toBe('v5.channel.k8s.io')
    expect(result.stdout).toBe('hello from the volume\n')
    expect(result.stderr).toBe('oops\n')
    expect(result.status).toEqual({metadata: {}, status: 'Success'})
    expect(server.execs(pod)).toEqual([expect.objectContaining({container: 'main', command: ['sh', '-c', 'cat /data/hello.txt; echo oops >&2'], exitCode: 0})])
  })

  it('reports a non-zero exit as Failure, reason NonZeroExitCode, with an ExitCode cause', async () => {
    const pod = await runningPod()
    const result = await clientNodeExec(pod, ['sh', '-c', 'exit 3'])
    expect(result.status).toMatchObject({status: 'Failure', reason: 'NonZeroExitCode', details: {causes: [{reason: 'ExitCode', message: '3'}]}})
    expect(result.status.message).toContain('command terminated with non-zero exit code')
  })

  it('falls back to v4.channel.k8s.io, sends the empty stdout frame first, prefixes every frame with its channel and closes after the status', async () => {
    const pod = await runningPod()
    const {ws, frames, closed} = await rawExec(pod, 'command=sh&command=-c&command=printf%20ab%3Bprintf%20cd%20%3E%262&stdout=1&stderr=1&container=main', ['v4.channel.k8s.io', 'channel.k8s.io'])
    expect(ws.protocol).toBe('v4.channel.k8s.io')
    await closed
    expect(frames[0]).toEqual(Buffer.of(1))
    const channel = (n: number) => Buffer.concat(frames.filter((frame) => frame[0] === n).map((frame) => frame.subarray(1))).toString('utf8')
    expect(channel(1)).toBe('ab')
    expect(channel(2)).toBe('cd')
    expect(JSON.parse(channel(3))).toEqual({metadata: {}, status: 'Success'})
    expect(frames.at(-1)![0]).toBe(3)
  })

  it('v5: stdin on channel 0 and the CLOSE signal (255, 0) end the command\'s input', async () => {
    const pod = await runningPod()
    const {ws, frames, closed} = await rawExec(pod, 'command=sha256sum&stdin=true&stdout=true&container=main', ['v5.channel.k8s.io'])
    ws.send(Buffer.concat([Buffer.of(0), Buffer.from('piped in')]))
    ws.send(Buffer.of(255, 0))
    await closed
    const stdout = Buffer.concat(frames.filter((frame) => frame[0] === 1).map((frame) => frame.subarray(1))).toString('utf8')
    expect(stdout).toBe(`${createHash('sha256').update('piped in').digest('hex')}  -\n`)
  })

  it('streams a large output intact (the real tar of a volume)', async () => {
    const pod = await runningPod()
    const data = server.podVolume(`${ns}/${pod}`, 'data')
    mkdirSync(path.join(data, 'sub dir'))
    writeFileSync(path.join(data, 'sub dir', 'big.bin'), Buffer.alloc(8 << 20, 7))
    const out = collect()
    const err = collect()
    const result = await client.exec(ns, pod, 'main', ['tar', '-C', '/data', '-cf', '-', '.'], {stdout: out.stream, stderr: err.stream})
    expect(result).toMatchObject({exitCode: 0, protocol: 'v5.channel.k8s.io'})
    expect(out.bytes().length).toBeGreaterThan(8 << 20)
    expect(out.bytes().includes(Buffer.from('./sub dir/big.bin'))).toBe(true)
  })
})

describe('pods/exec: a server that speaks only v4.channel.k8s.io', () => {
  it('client.exec falls back to v4 and still gets the exit code from the status channel', async () => {
    const old = new KubeApiServer({execProtocols: ['v4.channel.k8s.io']})
    await old.start()
    const kubeconfig = old.writeKubeconfig()
    try {
      const oldClient = await createKubeClient({kubeconfig})
      await oldClient.ensureNamespace(ns)
      const config = new KubeConfig()
      config.loadFromFile(kubeconfig)
      await config.makeApiClient(CoreV1Api).createNamespacedPod({namespace: ns, body: {metadata: {name: 'v4'}, spec: {containers: [{name: 'main', image: 'busybox:1.36'}]}}})
      old.startPod(`${ns}/v4`)
      const out = collect()
      expect(await oldClient.exec(ns, 'v4', 'main', ['sh', '-c', 'echo v4; exit 4'], {stdout: out.stream, stderr: new PassThrough()})).toMatchObject({exitCode: 4, protocol: 'v4.channel.k8s.io'})
      expect(out.text()).toBe('v4\n')
      expect((await refusedUpgradeAt(old, config, 'v4', 'command=true&stdout=1', ['v5.channel.k8s.io'])).body.message).toContain('requested protocol(s) are not supported')
    } finally {
      await old.stop()
      rmSync(path.dirname(kubeconfig), {recursive: true, force: true})
    }
  })
})

describe('pods/exec: refusals before the upgrade', () => {
  it('answers 400 for a container that is not running and for a completed pod', async () => {
    const name = `pod-${++counter}`
    await core.createNamespacedPod({namespace: ns, body: {metadata: {name}, spec: {containers: [{name: 'main', image: 'busybox:1.36'}]}}})
    const waiting = await refusedUpgrade(name, 'command=true&stdout=1&container=main')
    expect(waiting).toMatchObject({status: 400, body: {reason: 'BadRequest', code: 400}})
    expect(waiting.body.message).toContain('is not running')
    server.startPod(`${ns}/${name}`)
    server.succeedPod(`${ns}/${name}`)
    const done = await refusedUpgrade(name, 'command=true&stdout=1&container=main')
    expect(done).toMatchObject({status: 400, body: {message: 'cannot exec into a container in a completed pod; current phase is Succeeded'}})
  })

  it('answers 400 for an unknown container, a missing command and no streams; 404 for an unknown pod', async () => {
    const pod = await runningPod()
    expect((await refusedUpgrade(pod, 'command=true&stdout=1&container=nope')).body.message).toBe(`container nope is not valid for pod ${pod}`)
    expect((await refusedUpgrade(pod, 'stdout=1&container=main')).body.message).toBe('you must specify at least 1 command')
    expect((await refusedUpgrade(pod, 'command=true&container=main')).body.message).toBe('you must specify at least 1 of stdin, stdout, stderr')
    expect(await refusedUpgrade('ghost', 'command=true&stdout=1')).toMatchObject({status: 404, body: {reason: 'NotFound'}})
  })

  it('refuses a client that offers no protocol the server supports', async () => {
    const pod = await runningPod()
    const answer = await refusedUpgrade(pod, 'command=true&stdout=1&container=main', ['base64.channel.k8s.io'])
    expect(answer.status).toBe(400)
    expect(answer.body.message).toContain('requested protocol(s) are not supported')
  })

  it('answers 403 when RBAC forbids create on pods/exec, naming the verb and resource; client.exec maps it to KUBE_FORBIDDEN', async () => {
    const pod = await runningPod()
    const lift = server.forbid({verb: 'create', resource: 'pods/exec', namespace: ns})
    try {
      const answer = await refusedUpgrade(pod, 'command=true&stdout=1&container=main')
      expect(answer).toMatchObject({status: 403, body: {reason: 'Forbidden'}})
      expect(answer.body.message).toContain('cannot create resource "pods/exec" in API group "" in the namespace "exec"')
      const error = await client.exec(ns, pod, 'main', ['true'], {stdout: new PassThrough(), stderr: new PassThrough()}).catch((caught: unknown) => caught)
      expect(error).toMatchObject({code: 'KUBE_FORBIDDEN'})
      expect((error as Error).message).toMatch(/^forbidden: cannot create pods\/exec\/pod-\d+ in namespace exec/)
      expect((error as {hint?: string}).hint).toContain('create and get pods/exec in namespace exec')
    } finally {
      lift()
    }
  })

  it('answers a plain (not upgraded) request with 400 Upgrade request required', async () => {
    const pod = await runningPod()
    const options: Record<string, unknown> = {}
    await kc.applyToHTTPSOptions(options as never)
    const {request} = await import('node:https')
    const answer = await new Promise<{status: number; body: string}>((resolve, reject) => {
      const req = request(`${server.url}/api/v1/namespaces/${ns}/pods/${pod}/exec?command=true&stdout=1`, {method: 'POST', ...(options as object)}, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}))
      })
      req.on('error', reject)
      req.end()
    })
    expect(answer.status).toBe(400)
    expect(JSON.parse(answer.body)).toMatchObject({reason: 'BadRequest', message: 'Upgrade request required'})
  })
})

describe('pods/exec: the connection', () => {
  it('client.exec rejects with KUBE_UNREACHABLE when the stream is dropped mid-output (fault dropAfterBytes)', async () => {
    const pod = await runningPod()
    writeFileSync(path.join(server.podVolume(`${ns}/${pod}`, 'data'), 'big.bin'), Buffer.alloc(4 << 20, 1))
    server.fault({path: new RegExp(`/pods/${pod}/exec$`), dropAfterBytes: 1 << 20, times: 1})
    const out = collect()
    const error = await client.exec(ns, pod, 'main', ['cat', '/data/big.bin'], {stdout: out.stream, stderr: new PassThrough()}).catch((caught: unknown) => caught)
    expect(error).toMatchObject({code: 'KUBE_UNREACHABLE'})
    expect((error as Error).message).toContain('ended before the command\'s exit status arrived')
    expect(out.bytes().length).toBeLessThanOrEqual(1 << 20)
  })

  it('kills the command when the client aborts, and client.exec rejects with an AbortError', async () => {
    const pod = await runningPod()
    const controller = new AbortController()
    const ended = new Promise<void>((resolve) => server.onExecEnded((record) => record.pod === pod && resolve()))
    const running = client.exec(ns, pod, 'main', ['sleep', '30'], {stdout: new PassThrough(), stderr: new PassThrough(), signal: controller.signal})
    await waitFor(() => server.execs(pod).length === 1, {what: 'the exec to start'})
    controller.abort()
    await expect(running).rejects.toMatchObject({name: 'AbortError'})
    await ended
    expect(server.execs(pod)[0]).toMatchObject({closed: true, exitCode: null})
  })
})
