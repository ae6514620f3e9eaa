// registry:responseTime against a real registry (docker-registry on loopback): open, token-secured, failing its
// own health check (503); and against loopback servers that answer 500, hang, or are not registries.
// dex:responseTime against a loopback discovery endpoint.
import {createServer, type Server} from 'node:http'
import type {Socket} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {dexDiscoveryCheck, registryCheck} from '../../../../src/agent/health/checks/http-probes.js'
import {HealthEngine} from '../../../../src/agent/health/engine.js'
import type {HealthCheck} from '../../../../src/agent/health/types.js'
import {freePort, type RegistryProcess, registryInstalled, startRegistry, waitForStatus} from '../../../support/registry.js'

function run(check: HealthCheck) {
  const engine = new HealthEngine({checks: [check], clock: {now: () => new Date()}, version: 't', checkTimeoutMs: 1000, responseTimeoutMs: 1500, cacheTtlMs: 0, failureThreshold: 1})
  return engine.evaluate().then((document) => document.checks[check.key]![0]!)
}

/** A loopback server whose behaviour the test picks per path. */
async function stub(handler: Parameters<typeof createServer>[1]): Promise<{url: string; close(): Promise<void>}> {
  const sockets = new Set<Socket>()
  const server: Server = createServer(handler)
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe.skipIf(!registryInstalled())('registry:responseTime with a real registry', () => {
  let open: RegistryProcess
  let secured: RegistryProcess
  beforeAll(async () => {
    ;[open, secured] = await Promise.all([startRegistry(), startRegistry({tokenAuth: true})])
  })
  afterAll(async () => {
    await Promise.all([open?.stop(), secured?.stop()])
  })

  it('passes on 200 and on 401 with Docker-Distribution-Api-Version: registry/2.0', async () => {
    expect(await run(registryCheck(open.url))).toMatchObject({status: 'pass', observedUnit: 'ms', output: expect.stringContaining('answered 200')})
    expect(await run(registryCheck(`${secured.url}/`))).toMatchObject({status: 'pass', output: expect.stringContaining('answered 401')})
  })

  it('fails while the registry\'s own health check fails (503 on every request), and recovers', async () => {
    open.markDown()
    await waitForStatus(`${open.url}/v2/`, 503)
    expect(await run(registryCheck(open.url))).toMatchObject({status: 'fail', output: expect.stringContaining('answered HTTP 503')})
    open.markUp()
    await waitForStatus(`${open.url}/v2/`, 200)
    expect((await run(registryCheck(open.url))).status).toBe('pass')
  })
})

describe('registry:responseTime and dex:responseTime against failing endpoints', () => {
  let server: Awaited<ReturnType<typeof stub>>
  const issuer = () => `${server.url}/dex`
  beforeAll(async () => {
    server = await stub((req, res) => {
      if (req.url === '/hang/v2/') return // accept, never answer
      if (req.url === '/broken/v2/') return res.writeHead(500).end('internal error')
      if (req.url === '/plain/v2/') return res.writeHead(200).end('{}')
      if (req.url === '/dex/.well-known/openid-configuration') return res.writeHead(200, {'Content-Type': 'application/json'}).end(JSON.stringify({issuer: issuer(), jwks_uri: `${issuer()}/keys`}))
      if (req.url === '/wrong/.well-known/openid-configuration') return res.writeHead(200).end(JSON.stringify({issuer: 'https://elsewhere/dex'}))
      res.writeHead(404).end()
    })
  })
  afterAll(() => server.close())

  it('fails on HTTP 500', async () => {
    expect(await run(registryCheck(`${server.url}/broken`))).toMatchObject({status: 'fail', output: expect.stringContaining('answered HTTP 500')})
  })

  it('fails within the check timeout when the endpoint accepts and never answers', async () => {
    const started = performance.now()
    expect(await run(registryCheck(`${server.url}/hang`))).toMatchObject({status: 'fail', output: 'timed out after 1s'})
    expect(performance.now() - started).toBeLessThan(1500)
  })

  it('fails when 200 comes without the registry API header, or nothing listens', async () => {
    expect(await run(registryCheck(`${server.url}/plain`))).toMatchObject({status: 'fail', output: expect.stringContaining('not a registry')})
    expect(await run(registryCheck(`http://127.0.0.1:${await freePort()}`))).toMatchObject({status: 'fail', output: expect.stringContaining('ECONNREFUSED')})
  })

  it('dex discovery passes with the same issuer and fails with another one', async () => {
    expect(await run(dexDiscoveryCheck(issuer()))).toMatchObject({status: 'pass', observedUnit: 'ms'})
    expect(await run(dexDiscoveryCheck(`${server.url}/wrong`))).toMatchObject({status: 'fail', output: expect.stringContaining('"https://elsewhere/dex"')})
    expect(await run(dexDiscoveryCheck(`${server.url}/missing`))).toMatchObject({status: 'fail', output: expect.stringContaining('HTTP 404')})
  })
})
