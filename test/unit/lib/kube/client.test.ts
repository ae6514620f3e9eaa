// The Kubernetes client layer against the Kubernetes test API server: kubeconfig resolution, the typed facade,
// timeouts, and the mapping of every failure to a typed DanubeError.

import {writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {DanubeConfig} from '../../../../src/lib/config/index.js'
import {DanubeError} from '../../../../src/lib/errors.js'
import {
  createKubeClient,
  type KubeCallInfo,
  type KubeClient,
  kubeClientFromConfig,
  resolveKubeconfig,
  type V1Job,
} from '../../../../src/lib/kube/index.js'
import {waitFor} from '../../../support/agent-process.js'
import {generateTls, KubeApiServer} from '../../../support/kube-api-server.js'
import {tempDir} from '../../../support/temp.js'

let server: KubeApiServer
let kubeconfig: string
let calls: KubeCallInfo[]
let client: KubeClient

const kubernetes = (overrides: Partial<DanubeConfig['kubernetes']> = {}): DanubeConfig['kubernetes'] => ({
  enabled: true, kubeconfig: '/nonexistent', requestTimeout: '5s', jobNamespace: 'danube-jobs', gracePeriodSeconds: 30, ttlSecondsAfterFinished: 3600,
  defaultImage: 'busybox:1.36', outputsImage: 'busybox:1.36', outputsMaxBytes: 10 * 1024 ** 3, outputsWait: '10m', cancelCap: '60s',
  ...overrides,
})

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  kubeconfig = server.writeKubeconfig()
})

afterAll(async () => {
  await server.stop()
})

beforeEach(async () => {
  server.clearFaults()
  calls = []
  client = await createKubeClient({kubeconfig, requestTimeoutMs: 2000, onCall: (call) => calls.push(call)})
})

async function failure(promise: Promise<unknown>): Promise<DanubeError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(DanubeError)
    return error as DanubeError
  }
  throw new Error('expected a failure')
}

function job(name: string): V1Job {
  return {
    apiVersion: 'batch/v1', kind: 'Job', metadata: {name, labels: {'danube.dev/job': name}},
    spec: {backoffLimit: 0, template: {metadata: {labels: {'danube.dev/job': name}}, spec: {restartPolicy: 'Never', terminationGracePeriodSeconds: 0, containers: [{name: 'main', image: 'node:20'}]}}},
  }
}

let counter = 0
function unique(prefix: string): string {
  counter++
  return `${prefix}-${counter}`
}

describe('resolveKubeconfig and loading', () => {
  it('refuses to be used when kubernetes.enabled is false', () => {
    const error = (() => {
      try {
        resolveKubeconfig(kubernetes({enabled: false}))
      } catch (caught) {
        return caught as DanubeError
      }
      return undefined
    })()
    expect(error?.code).toBe('KUBERNETES_DISABLED')
    expect(error?.hint).toContain('kubernetes.enabled')
  })

  it('needs a kubeconfig when enabled, and parses the request timeout', () => {
    expect(() => resolveKubeconfig(kubernetes({kubeconfig: undefined}))).toThrow(expect.objectContaining({code: 'KUBECONFIG_MISSING'}))
    expect(resolveKubeconfig(kubernetes({kubeconfig: '/k', requestTimeout: '1500ms'}))).toEqual({kubeconfig: '/k', requestTimeoutMs: 1500})
    expect(() => resolveKubeconfig(kubernetes({requestTimeout: '5'}))).toThrow(expect.objectContaining({code: 'INVALID_DURATION'}))
  })

  it('names the file when the kubeconfig does not exist', async () => {
    const error = await failure(kubeClientFromConfig(kubernetes({kubeconfig: '/nonexistent/kubeconfig'})))
    expect(error.code).toBe('KUBECONFIG_NOT_FOUND')
    expect(error.message).toBe('kubeconfig /nonexistent/kubeconfig does not exist')
  })

  it('names the file when the kubeconfig does not parse or has no cluster', async () => {
    const dir = tempDir('danube-kube-')
    const broken = path.join(dir, 'broken')
    writeFileSync(broken, 'clusters: [\n  - name: {unclosed\n')
    const brokenError = await failure(createKubeClient({kubeconfig: broken}))
    expect(brokenError.code).toBe('KUBECONFIG_INVALID')
    expect(brokenError.message).toContain(broken)
    const empty = path.join(dir, 'empty')
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\n')
    const emptyError = await failure(createKubeClient({kubeconfig: empty}))
    expect(emptyError.code).toBe('KUBECONFIG_INVALID')
    expect(emptyError.message).toBe(`kubeconfig ${empty} has no current context with a cluster server`)
  })
})

describe('facade', () => {
  it('reads the version and readiness', async () => {
    expect((await client.version()).gitVersion).toBe('v1.33.1')
    expect(await client.readyz()).toEqual({ready: true, endpoint: '/readyz', statusCode: 200})
    expect(calls.map((call) => [call.verb, call.resource, call.statusCode])).toEqual([['get', '/version', 200], ['get', '/readyz', 200]])
  })

  it('falls back to /version when /readyz is missing, and reports a failing /readyz as not ready', async () => {
    server.fault({path: /^\/readyz$/, status: 404, times: 1})
    expect(await client.readyz()).toEqual({ready: true, endpoint: '/version', statusCode: 200})
    server.fault({path: /^\/readyz$/, status: 500, message: '[-]etcd failed: reason withheld', times: 1})
    const failing = await client.readyz()
    expect(failing).toMatchObject({ready: false, endpoint: '/readyz', statusCode: 500})
    expect(failing.detail).toContain('etcd failed')
  })

  it('ensureNamespace creates a missing namespace once, and treats AlreadyExists from a race as present', async () => {
    const name = unique('jobs')
    expect(await client.ensureNamespace(name)).toEqual({created: true})
    expect(await client.ensureNamespace(name)).toEqual({created: false})
    expect(server.get('namespaces', undefined, name)?.metadata.name).toBe(name)
    // Another agent creates it between our get (404) and our create (409).
    const raced = unique('raced')
    server.createNamespace(raced)
    server.fault({method: 'GET', path: new RegExp(`/namespaces/${raced}$`), status: 404, times: 1})
    expect(await client.ensureNamespace(raced)).toEqual({created: false})
  })

  it('creates, gets, lists and deletes jobs; lists pods; reads a container log', async () => {
    const ns = unique('work')
    await client.ensureNamespace(ns)
    const created = await client.createJob(ns, job('build'))
    expect(created.metadata?.uid).toBeDefined()
    expect((await client.getJob(ns, 'build')).spec?.backoffLimit).toBe(0)
    const jobs = await client.listJobs(ns, 'danube.dev/job=build')
    expect(jobs.items.map((item) => item.metadata?.name)).toEqual(['build'])
    expect(jobs.resourceVersion).toBe(server.resourceVersion)
    expect((await client.listJobs(ns, 'danube.dev/job=other')).items).toEqual([])
    const pods = await client.listPods(ns, 'batch.kubernetes.io/job-name=build')
    expect(pods.items).toHaveLength(1)
    const podName = pods.items[0]!.metadata!.name!
    server.startPod(podName)
    server.appendLog(podName, 'main', 'step 1\nstep 2\n')
    expect((await client.getPod(ns, podName)).status?.phase).toBe('Running')
    expect(await client.readPodLog(ns, podName, 'main')).toBe('step 1\nstep 2\n')
    await client.deleteJob(ns, 'build', {gracePeriodSeconds: 0})
    // Background by default: the Job is gone at once and the garbage collector removes its pod.
    expect(server.getJob(ns, 'build')).toBeUndefined()
    expect(server.requests({method: 'DELETE'}).at(-1)?.query).toMatchObject({propagationPolicy: 'Background', gracePeriodSeconds: '0'})
    expect(server.jobPods(ns, 'build')).toEqual([])
  })

  it('passes every call through onCall with verb, resource, namespace, status and duration', async () => {
    await client.getJob('default', 'missing').catch(() => {})
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({verb: 'get', resource: 'jobs', namespace: 'default', statusCode: 404})
    expect(calls[0]!.error?.code).toBe('KUBE_NOT_FOUND')
    expect(calls[0]!.durationMs).toBeGreaterThan(0)
  })
})

describe('error mapping', () => {
  it('KUBE_UNREACHABLE for a port nobody listens on', async () => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as {port: number}).port
    await new Promise((resolve) => probe.close(resolve))
    const closed = await createKubeClient({kubeconfig: server.writeKubeconfig({server: `https://127.0.0.1:${port}`}), onCall: (call) => calls.push(call)})
    const error = await failure(closed.version())
    expect(error.code).toBe('KUBE_UNREACHABLE')
    expect(error.message).toContain('ECONNREFUSED')
    expect(calls[0]).toMatchObject({resource: '/version', error: expect.objectContaining({code: 'KUBE_UNREACHABLE'})})
    expect(calls[0]!.statusCode).toBeUndefined()
  })

  it('KUBE_TIMEOUT within the request timeout for a server that accepts and never answers, closing the socket', async () => {
    const quick = await createKubeClient({kubeconfig, requestTimeoutMs: 300})
    server.fault({path: /\/jobs$/, hang: true, times: 1})
    const started = Date.now()
    const error = await failure(quick.listJobs('default'))
    expect(Date.now() - started).toBeLessThan(1500)
    expect(error.code).toBe('KUBE_TIMEOUT')
    expect(error.message).toBe('Kubernetes API did not answer list jobs in namespace default within 300ms')
    // The server holds the request until the client closes its socket; it sees the close a moment after the rejection.
    await waitFor(() => server.hangingRequests === 0, {timeoutMs: 5000, what: 'the client to close the hanging request'})
  })

  it('KUBE_UNAUTHORIZED for a rejected token', async () => {
    const bad = await createKubeClient({kubeconfig: server.writeKubeconfig({token: 'expired'})})
    const error = await failure(bad.listPods('default'))
    expect(error.code).toBe('KUBE_UNAUTHORIZED')
    expect(error.hint).toContain('refresh the kubeconfig')
  })

  it('KUBE_FORBIDDEN names the verb, resource and namespace', async () => {
    await client.ensureNamespace('danube-jobs')
    const lift = server.forbid({verb: 'create', resource: 'jobs', namespace: 'danube-jobs'})
    const error = await failure(client.createJob('danube-jobs', job('nope')))
    lift()
    expect(error.code).toBe('KUBE_FORBIDDEN')
    expect(error.message).toMatch(/^forbidden: cannot create jobs in namespace danube-jobs: jobs\.batch is forbidden: User ".*" cannot create resource "jobs"/)
    const lift2 = server.forbidNamespaceCreation()
    const namespaceError = await failure(client.ensureNamespace(unique('forbidden')))
    lift2()
    expect(namespaceError.message).toMatch(/^forbidden: cannot create namespaces: /)
  })

  it('KUBE_TLS when the kubeconfig trusts another CA', async () => {
    const other = await generateTls('not-the-cluster-ca')
    const wrong = await createKubeClient({kubeconfig: server.writeKubeconfig({caCert: other.caCert})})
    const error = await failure(wrong.version())
    expect(error.code).toBe('KUBE_TLS')
    expect(error.hint).toContain('certificate-authority-data')
  })

  it('KUBE_NOT_FOUND, KUBE_CONFLICT, KUBE_GONE and KUBE_SERVER_ERROR carry the server message', async () => {
    expect((await failure(client.getPod('default', 'ghost'))).message).toBe('not found: get pods/ghost in namespace default: pods "ghost" not found')
    await client.createJob('default', job('twice'))
    const conflict = await failure(client.createJob('default', job('twice')))
    expect(conflict.code).toBe('KUBE_CONFLICT')
    expect(conflict.message).toContain('jobs.batch "twice" already exists')
    server.fault({path: /\/pods$/, watch: false, gone: true, times: 1})
    expect((await failure(client.listPods('default'))).code).toBe('KUBE_GONE')
    server.fault({path: /\/jobs\/twice$/, status: 500, message: 'etcdserver: leader changed', times: 1})
    const internal = await failure(client.getJob('default', 'twice'))
    expect(internal.code).toBe('KUBE_SERVER_ERROR')
    expect(internal.message).toBe('Kubernetes API failed get jobs/twice in namespace default (500 InternalError): etcdserver: leader changed')
  })
})

describe('watch', () => {
  it('delivers events and bookmarks, and stops on abort without calling onDone', async () => {
    const ns = unique('watched')
    await client.ensureNamespace(ns)
    const list = await client.listJobs(ns)
    const events: string[] = []
    let doneCalls = 0
    const handle = await client.watch<{metadata: {name?: string}}>(`/apis/batch/v1/namespaces/${ns}/jobs`, {resourceVersion: list.resourceVersion, allowWatchBookmarks: true},
      (type, object) => events.push(`${type} ${object.metadata.name ?? ''}`.trim()), () => doneCalls++)
    await client.createJob(ns, job('w1'))
    server.sendBookmarks()
    await waitFor(() => events.includes('BOOKMARK'), {timeoutMs: 5000, what: 'the bookmark'})
    expect(events[0]).toBe('ADDED w1')
    const open = server.openWatches
    handle.abort()
    // The server sees the connection close only after the client has torn the stream down (its abort and close
    // handlers run first, in this same process), so an onDone the abort wrongly caused would have run by now.
    await waitFor(() => server.openWatches < open, {timeoutMs: 5000, what: 'the server to see the watch closed'})
    expect(doneCalls).toBe(0)
    expect(calls.find((call) => call.verb === 'watch')).toMatchObject({resource: 'jobs', namespace: ns, statusCode: 200})
  })

  it('ends with KUBE_GONE when the server sends a 410 ERROR event', async () => {
    const rv = server.resourceVersion
    server.createNamespace(unique('bump'))
    server.compactHistory()
    const done = new Promise<DanubeError | null>((resolve) => void client.watch('/api/v1/namespaces/default/pods', {resourceVersion: rv}, () => {}, resolve))
    const error = await done
    expect(error?.code).toBe('KUBE_GONE')
    expect(error?.message).toContain('too old resource version')
  })

  it('ends with null when the server closes the watch (timeoutSeconds)', async () => {
    const done = new Promise<DanubeError | null>((resolve) => void client.watch('/api/v1/namespaces/default/pods', {timeoutSeconds: 1}, () => {}, resolve))
    expect(await done).toBeNull()
  })

  it('rejects when the watch cannot be established: forbidden, or no answer within the timeout', async () => {
    const lift = server.forbid({verb: 'watch', resource: 'pods', namespace: 'default'})
    const forbidden = await failure(client.watch('/api/v1/namespaces/default/pods', {}, () => {}, () => {}))
    lift()
    expect(forbidden.code).toBe('KUBE_FORBIDDEN')
    expect(forbidden.message).toMatch(/^forbidden: cannot watch pods in namespace default/)
    const quick = await createKubeClient({kubeconfig, requestTimeoutMs: 300})
    server.fault({path: /\/pods$/, watch: true, hang: true, times: 1})
    const started = Date.now()
    const timeout = await failure(quick.watch('/api/v1/namespaces/default/pods', {}, () => {}, () => {}))
    expect(timeout.code).toBe('KUBE_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(1500)
    await waitFor(() => server.hangingRequests === 0, {timeoutMs: 5000, what: 'the client to close the hanging watch'})
  })

  it('reports a connection dropped mid-stream through onDone', async () => {
    server.fault({path: /\/namespaces$/, watch: true, dropAfterEvents: 1, times: 1})
    const events: string[] = []
    const done = new Promise<DanubeError | null>((resolve) => void client.watch('/api/v1/namespaces', {}, (type) => events.push(type), resolve))
    const error = await done
    expect(events).toEqual(['ADDED'])
    expect(error?.code).toBe('KUBE_UNREACHABLE')
    expect(error?.message).toBe('connection to the Kubernetes API was lost (ERR_STREAM_PREMATURE_CLOSE) during watch namespaces')
  })
})
