// A real CNCF distribution registry (Debian's docker-registry package, /usr/bin/docker-registry) on a loopback
// port with a config file of its own: never the package default, which listens on :5000 on every interface.
// Install it with scripts/install-test-deps.sh.

import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'

import {sharedTls} from './kube/tls.js'
import {tempDir} from './temp.js'

export const REGISTRY_BIN = '/usr/bin/docker-registry'

export interface RegistryProcess {
  url: string
  /** Makes the registry's own file health check fail: after about a second every request answers 503. */
  markDown(): void
  markUp(): void
  stop(): Promise<void>
}

export function registryInstalled(): boolean {
  return existsSync(REGISTRY_BIN)
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts the registry; with `tokenAuth` it answers /v2/ with 401 and a Bearer challenge, as a secured registry does. */
export async function startRegistry(options: {tokenAuth?: boolean} = {}): Promise<RegistryProcess> {
  const dir = tempDir('danube-registry-')
  const port = await freePort()
  const downFile = path.join(dir, 'down')
  let auth = ''
  if (options.tokenAuth) {
    writeFileSync(path.join(dir, 'ca.pem'), (await sharedTls()).caCert)
    auth = `auth:\n  token:\n    realm: http://127.0.0.1:9/token\n    service: registry\n    issuer: danube-test\n    rootcertbundle: ${path.join(dir, 'ca.pem')}\n`
  }
  const config = path.join(dir, 'config.yml')
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: danube-test\nhealth:\n  file:\n    - file: ${downFile}\n      interval: 1s\n${auth}`,
  )
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr}`)
    try {
      await fetch(`${url}/v2/`, {signal: AbortSignal.timeout(500)})
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`docker-registry did not listen on ${url}: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return {
    url,
    markDown: () => writeFileSync(downFile, 'down'),
    markUp: () => rmSync(downFile, {force: true}),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** Polls until GET url answers the status (the registry re-runs its file check every second). */
export async function waitForStatus(url: string, status: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response = await fetch(url).catch(() => undefined)
    await response?.body?.cancel()
    if (response?.status === status) return
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
