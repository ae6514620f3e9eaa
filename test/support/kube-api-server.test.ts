// Shows that the Kubernetes test API server behaves as the Kubernetes documentation says, against the real
// @kubernetes/client-node (CoreV1Api, BatchV1Api, VersionApi, Watch, Log, Health). Each test names its source.

import {PassThrough} from 'node:stream'
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  Health,
  KubeConfig,
  Log,
  Observable,
  VersionApi,
  Watch,
  type V1Job,
} from '@kubernetes/client-node'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {waitFor} from './agent-process.js'
import {KubeApiServer, generateTls, type StatusObject, type WatchEvent} from './kube-api-server.js'
import {crashLoopPod, imagePullPod, runningPod, unschedulablePod} from './kube/pods.js'
import {type Collected, collectWatch, statusOf} from './kube/test-client.js'

let server: KubeApiServer
let kc: KubeConfig
let core: CoreV1Api
let batch: BatchV1Api

beforeAll(async () => {
  server = new KubeApiServer({bookmarkIntervalMs: 100_000})
  await server.start()
  kc = new KubeConfig()
  kc.loadFromFile(server.writeKubeconfig())
  core = kc.makeApiClient(CoreV1Api)
  batch = kc.makeApiClient(BatchV1Api)
})

afterAll(async () => {
  await server.stop()
})

beforeEach(() => {
  server.clearFaults()
  server.clearRequests()
  server.hangTerminating(false)
})

let counter = 0
function unique(prefix: string): string {
  counter++
  return `${prefix}-${counter}`
}

async function namespace(): Promise<string> {
  const name = unique('ns')
  await core.createNamespace({body: {metadata: {name}}})
  return name
}

function jobBody(name: string, extra: {backoffLimit?: number; activeDeadlineSeconds?: number; grace?: number; init?: boolean; labels?: Record<string, string>} = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {name, labels: {app: 'danube'}},
    spec: {
      backoffLimit: extra.backoffLimit ?? 0,
      ...(extra.activeDeadlineSeconds !== undefined ? {activeDeadlineSeconds: extra.activeDeadlineSeconds} : {}),
      template: {
        metadata: {labels: {app: 'danube', 'danube.dev/job-id': name, ...extra.labels}},
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: extra.grace ?? 1,
          ...(extra.init ? {initContainers: [{name: 'checkout', image: 'alpine/git:2.45'}]} : {}),
          containers: [{name: 'main', image: 'node:20'}],
        },
      },
    },
  }
}

function collect(path: string, query: Record<string, string | number | boolean> = {}): Promise<Collected> {
  return collectWatch(kc, path, query)
}

function names(events: WatchEvent[]): string[] {
  return events.map((event) => `${event.type} ${(event.object.metadata as {name?: string}).name ?? ''}`.trim())
}

describe('transport and authentication', () => {
  // https://kubernetes.io/docs/reference/access-authn-authz/authentication/ (bearer tokens; failed authentication is 401)
  it('serves /version over HTTPS to a kubeconfig with certificate-authority-data and a bearer token', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode()
    expect(version.gitVersion).toBe('v1.33.1')
    expect(version.major).toBe('1')
    expect(server.requests({path: /^\/version\/?$/})).toHaveLength(1)
  })

  // https://kubernetes.io/docs/reference/using-api/health-checks/
  it('answers /readyz and /livez with ok', async () => {
    const health = new Health(kc)
    expect(await health.readyz({})).toBe(true)
    expect(await health.livez({})).toBe(true)
    expect(server.countRequests({path: /^\/(readyz|livez)$/})).toBe(2)
  })

  it('rejects a wrong token with a 401 Unauthorized Status', async () => {
    const bad = new KubeConfig()
    bad.loadFromFile(server.writeKubeconfig({token: 'wrong'}))
    const error = await bad.makeApiClient(CoreV1Api).listNamespace().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiException)
    expect((error as ApiException<unknown>).code).toBe(401)
  })

  it('fails the TLS handshake for a client that trusts another CA', async () => {
    const other = await generateTls('some-other-ca')
    const wrong = new KubeConfig()
    wrong.loadFromFile(server.writeKubeconfig({caCert: other.caCert}))
    const error = await wrong.makeApiClient(CoreV1Api).listNamespace().catch((caught: unknown) => caught)
    expect(String((error as Error).message)).toMatch(/certificate|self[- ]signed|unable to verify/i)
  })
})

describe('namespaces and Status errors', () => {
  // API conventions, "Response Status Kind"; the apiserver pre-creates default, kube-system, kube-public, kube-node-lease
  it('creates, gets and lists namespaces, and refuses a duplicate with 409 AlreadyExists', async () => {
    const name = unique('team')
    const created = await core.createNamespace({body: {metadata: {name}}})
    expect(created.status?.phase).toBe('Active')
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date)
    expect((await core.readNamespace({name})).metadata?.name).toBe(name)
    const list = await core.listNamespace()
    expect(list.items.map((item) => item.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system', name]))
    const duplicate = await statusOf(core.createNamespace({body: {metadata: {name}}}))
    expect(duplicate.code).toBe(409)
    expect(duplicate.status).toMatchObject({kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409,
      message: `namespaces "${name}" already exists`, details: {name, kind: 'namespaces'}})
  })

  it('answers 404 NotFound for a missing object and for objects created in a missing namespace', async () => {
    const missing = await statusOf(core.readNamespacedPod({name: 'nope', namespace: 'default'}))
    expect(missing.status).toMatchObject({reason: 'NotFound', code: 404, message: 'pods "nope" not found', details: {name: 'nope', kind: 'pods'}})
    const noNamespace = await statusOf(batch.createNamespacedJob({namespace: 'does-not-exist', body: jobBody('j')}))
    expect(noNamespace.status).toMatchObject({reason: 'NotFound', code: 404, message: 'namespaces "does-not-exist" not found'})
    const job = await statusOf(batch.readNamespacedJob({name: 'nope', namespace: 'default'}))
    expect(job.status).toMatchObject({message: 'jobs.batch "nope" not found', details: {group: 'batch', kind: 'jobs'}})
  })

  // https://kubernetes.io/docs/reference/access-authn-authz/authorization/ (denied requests are 403 Forbidden)
  it('forbids namespace creation when told to, with the RBAC message', async () => {
    const lift = server.forbidNamespaceCreation()
    const denied = await statusOf(core.createNamespace({body: {metadata: {name: unique('denied')}}}))
    lift()
    expect(denied.status).toMatchObject({reason: 'Forbidden', code: 403})
    expect(denied.status?.message).toBe(`namespaces is forbidden: User "${server.user}" cannot create resource "namespaces" in API group "" at the cluster scope`)
    await expect(core.createNamespace({body: {metadata: {name: unique('allowed')}}})).resolves.toBeDefined()
  })

  it('validates jobs: restartPolicy is required and must be Never or OnFailure (422 Invalid)', async () => {
    const ns = await namespace()
    const body = jobBody('bad-policy')
    delete body.spec!.template.spec!.restartPolicy
    const invalid = await statusOf(batch.createNamespacedJob({namespace: ns, body}))
    expect(invalid.status).toMatchObject({reason: 'Invalid', code: 422})
    expect(invalid.status?.message).toContain('spec.template.spec.restartPolicy')
  })
})

describe('resourceVersion, selectors and lists', () => {
  // API concepts, "Resource versions": opaque strings, here a global counter; lists carry the collection's version
  it('puts an increasing resourceVersion on every object and the list', async () => {
    const ns = await namespace()
    const a = await batch.createNamespacedJob({namespace: ns, body: jobBody('a')})
    const b = await batch.createNamespacedJob({namespace: ns, body: jobBody('b')})
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(Number(a.metadata?.resourceVersion))
    const list = await batch.listNamespacedJob({namespace: ns})
    expect(list.metadata?.resourceVersion).toBe(server.resourceVersion)
    expect(list.items.map((item) => item.metadata?.name)).toEqual(['a', 'b'])
  })

  // https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
  it('filters lists with equality- and set-based label selectors', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'web-1', labels: {app: 'web', tier: 'front'}}))
    server.createPod(ns, runningPod({name: 'web-2', labels: {app: 'web', tier: 'back'}}))
    server.createPod(ns, runningPod({name: 'db-1', labels: {app: 'db'}}))
    const select = async (labelSelector: string) =>
      (await core.listNamespacedPod({namespace: ns, labelSelector})).items.map((pod) => pod.metadata?.name).sort()
    expect(await select('app=web')).toEqual(['web-1', 'web-2'])
    expect(await select('app==db')).toEqual(['db-1'])
    expect(await select('app!=web')).toEqual(['db-1'])
    expect(await select('tier in (front, side)')).toEqual(['web-1'])
    expect(await select('tier notin (front)')).toEqual(['db-1', 'web-2'])
    expect(await select('tier')).toEqual(['web-1', 'web-2'])
    expect(await select('!tier')).toEqual(['db-1'])
    expect(await select('app=web,tier!=front')).toEqual(['web-2'])
    const bad = await statusOf(core.listNamespacedPod({namespace: ns, labelSelector: 'app in web'}))
    expect(bad.status).toMatchObject({reason: 'BadRequest', code: 400})
  })

  // https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
  it('filters lists with field selectors and refuses unsupported fields', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'ok'}))
    server.createPod(ns, unschedulablePod({name: 'stuck'}))
    const byPhase = await core.listNamespacedPod({namespace: ns, fieldSelector: 'status.phase=Pending'})
    expect(byPhase.items.map((pod) => pod.metadata?.name)).toEqual(['stuck'])
    const byName = await core.listNamespacedPod({namespace: ns, fieldSelector: 'metadata.name!=stuck'})
    expect(byName.items.map((pod) => pod.metadata?.name)).toEqual(['ok'])
    const acrossNamespaces = await core.listPodForAllNamespaces({fieldSelector: `metadata.namespace=${ns},metadata.name=ok`})
    expect(acrossNamespaces.items).toHaveLength(1)
    const bad = await statusOf(core.listNamespacedPod({namespace: ns, fieldSelector: 'spec.containers=main'}))
    expect(bad.status?.message).toBe('field label not supported: spec.containers')
  })

  // API concepts, "Semantics for get and list": resourceVersionMatch=Exact needs history; too old is 410 Expired
  it('serves an exact list from history and answers 410 Gone once the history is compacted', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'first'}))
    const before = server.resourceVersion
    server.createPod(ns, runningPod({name: 'second'}))
    const exact = await core.listNamespacedPod({namespace: ns, resourceVersion: before, resourceVersionMatch: 'Exact'})
    expect(exact.items.map((pod) => pod.metadata?.name)).toEqual(['first'])
    expect(exact.metadata?.resourceVersion).toBe(before)
    server.compactHistory()
    const gone = await statusOf(core.listNamespacedPod({namespace: ns, resourceVersion: before, resourceVersionMatch: 'Exact'}))
    expect(gone.status).toMatchObject({reason: 'Expired', code: 410, message: 'The resourceVersion for the provided list is too old.'})
    // Without Exact the list is "not older than": served from the current state, never 410.
    const notOlder = await core.listNamespacedPod({namespace: ns, resourceVersion: before})
    expect(notOlder.items).toHaveLength(2)
  })

  it('standalone pods keep the status they were given (health-check fixtures)', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'dex', labels: {app: 'dex'}}))
    server.createPod(ns, crashLoopPod({name: 'registry', labels: {app: 'registry'}, restartCount: 7}))
    server.createPod(ns, imagePullPod({name: 'puller'}))
    const dex = await core.readNamespacedPod({namespace: ns, name: 'dex'})
    expect(dex.status?.conditions?.find((condition) => condition.type === 'Ready')?.status).toBe('True')
    const registry = await core.readNamespacedPod({namespace: ns, name: 'registry'})
    expect(registry.status?.phase).toBe('Running')
    expect(registry.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('CrashLoopBackOff')
    expect(registry.status?.containerStatuses?.[0]?.restartCount).toBe(7)
    expect((await core.readNamespacedPod({namespace: ns, name: 'puller'})).status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ImagePullBackOff')
  })
})

describe('watch', () => {
  // API concepts, "Efficient detection of changes": no resourceVersion = synthetic ADDED for the current state, then changes
  it('starts with synthetic ADDED events, then streams ADDED/MODIFIED/DELETED as newline-delimited JSON', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'existing'}))
    const watch = await collect(`/api/v1/namespaces/${ns}/pods`)
    await watch.waitFor((events) => events.length === 1)
    const pod = server.createPod(ns, runningPod({name: 'new'}))
    server.setReady(`${ns}/new`, false)
    await core.deleteNamespacedPod({namespace: ns, name: 'existing', gracePeriodSeconds: 0})
    await watch.waitFor((events) => events.length === 4)
    expect(names(watch.events)).toEqual(['ADDED existing', 'ADDED new', 'MODIFIED new', 'DELETED existing'])
    const modified = watch.events[2]!.object as {metadata: {resourceVersion: string}; kind: string}
    expect(Number(modified.metadata.resourceVersion)).toBeGreaterThan(Number(pod.metadata.resourceVersion))
    expect(modified.kind).toBe('Pod')
    watch.abort()
  })

  it('resumes from a resourceVersion, replaying only later events', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'old'}))
    const list = await core.listNamespacedPod({namespace: ns})
    server.createPod(ns, runningPod({name: 'later'}))
    const watch = await collect(`/api/v1/namespaces/${ns}/pods`, {resourceVersion: list.metadata!.resourceVersion!})
    // A watch delivers in resourceVersion order: anything wrongly replayed would arrive before this marker.
    server.createPod(ns, runningPod({name: 'marker'}))
    await watch.waitFor((events) => names(events).includes('ADDED marker'))
    expect(names(watch.events)).toEqual(['ADDED later', 'ADDED marker'])
    watch.abort()
  })

  // The watch cache's filtering: an object leaving a label selector is DELETED for that watcher, one entering it ADDED
  it('applies label and field selectors to watches, including objects moving in and out of them', async () => {
    const ns = await namespace()
    const watch = await collect(`/api/v1/namespaces/${ns}/pods`, {labelSelector: 'app=web', fieldSelector: 'status.phase=Running'})
    server.createPod(ns, runningPod({name: 'web', labels: {app: 'web'}}))
    server.createPod(ns, runningPod({name: 'db', labels: {app: 'db'}}))
    server.updatePod(`${ns}/web`, (pod) => (pod.metadata.labels = {app: 'other'}))
    server.updatePod(`${ns}/db`, (pod) => (pod.metadata.labels = {app: 'web'}))
    await watch.waitFor((events) => events.length === 3)
    expect(names(watch.events)).toEqual(['ADDED web', 'DELETED web', 'ADDED db'])
    watch.abort()
  })

  // API concepts, "Watch bookmarks": BOOKMARK objects carry only kind, apiVersion and metadata.resourceVersion
  it('sends bookmarks only to watches that allow them', async () => {
    const ns = await namespace()
    const withBookmarks = await collect(`/api/v1/namespaces/${ns}/pods`, {allowWatchBookmarks: true})
    const without = await collect(`/api/v1/namespaces/${ns}/pods`)
    // collect() returns once the response headers arrived, and the server registers a watch before it sends them.
    const rv = server.resourceVersion
    server.sendBookmarks()
    // Each watch's events arrive in order: a bookmark sent to the other watch would arrive before this marker.
    server.createPod(ns, runningPod({name: 'marker'}))
    await withBookmarks.waitFor((events) => events.length === 2)
    await without.waitFor((events) => events.length === 1)
    expect(withBookmarks.events[0]).toEqual({type: 'BOOKMARK', object: {kind: 'Pod', apiVersion: 'v1', metadata: {resourceVersion: rv}}})
    expect(names(withBookmarks.events.slice(1))).toEqual(['ADDED marker'])
    expect(names(without.events)).toEqual(['ADDED marker'])
    withBookmarks.abort()
    without.abort()
  })

  it('sends bookmarks on its own every bookmarkIntervalMs', async () => {
    const fast = new KubeApiServer({bookmarkIntervalMs: 50})
    await fast.start()
    const config = new KubeConfig()
    config.loadFromFile(fast.writeKubeconfig())
    const events: string[] = []
    await new Watch(config).watch('/apis/batch/v1/namespaces/default/jobs', {allowWatchBookmarks: true}, (type) => events.push(type), () => {})
    // Nothing else happens on this server: two events can only be the timer's bookmarks (the default interval is 60 s).
    await waitFor(() => events.length >= 2, {timeoutMs: 5000, what: 'two bookmarks'})
    await fast.stop()
    expect(events.length).toBeGreaterThanOrEqual(2)
    expect(new Set(events)).toEqual(new Set(['BOOKMARK']))
  })

  it('ends the stream after timeoutSeconds', async () => {
    const started = Date.now()
    const watch = await collect('/api/v1/namespaces/default/pods', {timeoutSeconds: 1})
    await watch.done
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(Date.now() - started).toBeLessThan(3000)
  })

  // API concepts: a watch from a resourceVersion older than the retained history fails with 410 Gone; kube-apiserver
  // sends it as an ERROR event whose object is a Status with reason Expired
  it('answers a watch from an expired resourceVersion with an ERROR event carrying a 410 Expired Status', async () => {
    const ns = await namespace()
    const rv = server.resourceVersion
    server.createPod(ns, runningPod({name: 'after'}))
    server.compactHistory()
    const watch = await collect(`/api/v1/namespaces/${ns}/pods`, {resourceVersion: rv})
    await watch.done
    expect(watch.events).toHaveLength(1)
    expect(watch.events[0]!.type).toBe('ERROR')
    expect(watch.events[0]!.object).toMatchObject({kind: 'Status', status: 'Failure', reason: 'Expired', code: 410})
    expect((watch.events[0]!.object as StatusObject).message).toMatch(/^too old resource version: \d+ \(\d+\)$/)
  })

  it('keeps a window of historySize events: resuming inside it works, before it is 410', async () => {
    const small = new KubeApiServer({historySize: 3, expiredWatchAs: 'http-status'})
    await small.start()
    const config = new KubeConfig()
    config.loadFromFile(small.writeKubeconfig())
    const rv = small.resourceVersion
    for (const name of ['a', 'b', 'c', 'd']) small.createPod('default', runningPod({name}))
    let error: unknown
    await new Watch(config).watch('/api/v1/namespaces/default/pods', {resourceVersion: rv}, () => {}, (caught) => (error = caught))
    const recent: string[] = []
    const controller = await new Watch(config).watch('/api/v1/namespaces/default/pods', {resourceVersion: String(Number(small.resourceVersion) - 2)},
      (_type, object) => recent.push(object.metadata.name), () => {})
    // Replayed in order from the requested version: a wrongly included older event would be among the first two.
    await waitFor(() => recent.length >= 2, {timeoutMs: 5000, what: 'the replayed events'})
    controller.abort()
    await small.stop()
    // http-status form: the client's Watch reports the HTTP status code.
    expect((error as {statusCode?: number}).statusCode).toBe(410)
    expect(recent).toEqual(['c', 'd'])
  })

  it('closes open watches on stop()', async () => {
    const other = new KubeApiServer()
    await other.start()
    const config = new KubeConfig()
    config.loadFromFile(other.writeKubeconfig())
    let doneCalled = false
    await new Watch(config).watch('/api/v1/pods', {}, () => {}, () => (doneCalled = true))
    expect(other.openWatches).toBe(1)
    await other.stop()
    await waitFor(() => doneCalled, {timeoutMs: 5000, what: "the client's watch to end"})
  })
})

describe('job controller and kubelet simulation', () => {
  // https://kubernetes.io/docs/concepts/workloads/controllers/job/ (pod labels, ownerReferences, status, conditions)
  it('creates a Pending pod named <job>-<5 chars> with the job labels and an ownerReference', async () => {
    const ns = await namespace()
    const job = await batch.createNamespacedJob({namespace: ns, body: jobBody('build-42')})
    const pods = (await core.listNamespacedPod({namespace: ns, labelSelector: 'batch.kubernetes.io/job-name=build-42'})).items
    expect(pods).toHaveLength(1)
    const pod = pods[0]!
    expect(pod.metadata?.name).toMatch(/^build-42-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
    expect(pod.metadata?.labels).toMatchObject({'app': 'danube', 'danube.dev/job-id': 'build-42', 'job-name': 'build-42', 'batch.kubernetes.io/job-name': 'build-42'})
    expect(pod.metadata?.ownerReferences).toEqual([expect.objectContaining({kind: 'Job', name: 'build-42', uid: job.metadata?.uid, controller: true})])
    expect(pod.status?.phase).toBe('Pending')
    expect((await batch.readNamespacedJob({namespace: ns, name: 'build-42'})).status?.active).toBe(1)
  })

  it('runs init containers, starts the pod, serves logs per container and completes the Job', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('ok', {init: true})})
    const pod = server.jobPodName(ns, 'ok')
    const waiting = await statusOf(core.readNamespacedPodLog({namespace: ns, name: pod, container: 'main'}))
    expect(waiting.status?.message).toBe(`container "main" in pod "${pod}" is waiting to start: PodInitializing`)
    server.runInitContainer(pod, 'checkout')
    server.appendLog(pod, 'checkout', 'cloned\n')
    server.finishInitContainer(pod, 'checkout', 0)
    server.startPod(pod)
    server.setContainerImageID(pod, 'main', 'docker.io/library/node@sha256:abc')
    server.appendLog(pod, 'main', 'hello\nworld\n')
    expect(await core.readNamespacedPodLog({namespace: ns, name: pod, container: 'checkout'})).toBe('cloned\n')
    expect(await core.readNamespacedPodLog({namespace: ns, name: pod, container: 'main'})).toBe('hello\nworld\n')
    const running = await core.readNamespacedPod({namespace: ns, name: pod})
    expect(running.status?.phase).toBe('Running')
    expect(running.status?.containerStatuses?.[0]?.imageID).toBe('docker.io/library/node@sha256:abc')
    expect(running.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0)
    server.succeedPod(pod)
    const job = await batch.readNamespacedJob({namespace: ns, name: 'ok'})
    expect(job.status).toMatchObject({succeeded: 1, active: 0})
    expect(job.status?.conditions?.find((condition) => condition.type === 'Complete')?.status).toBe('True')
    expect((await core.readNamespacedPod({namespace: ns, name: pod})).status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({exitCode: 0, reason: 'Completed'})
  })

  // https://kubernetes.io/docs/tasks/debug/debug-application/debug-running-pod/ (kubectl logs -f streams until the container exits)
  it('follows a log stream with the Log class until the container terminates', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('follow')})
    const pod = server.jobPodName(ns, 'follow')
    server.startPod(pod)
    server.appendLog(pod, 'main', 'one\n')
    const stream = new PassThrough()
    let text = ''
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
    const ended = new Promise((resolve) => stream.on('end', resolve))
    await new Log(kc).log(ns, pod, 'main', stream, {follow: true})
    await waitFor(() => text === 'one\n', {timeoutMs: 5000, what: 'the existing log'})
    server.appendLog(pod, 'main', 'two\n')
    // Streamed while the container still runs, not only when the stream ends.
    await waitFor(() => text === 'one\ntwo\n', {timeoutMs: 5000, what: 'the appended line'})
    server.succeedPod(pod)
    await ended
    expect(server.countRequests({path: `/api/v1/namespaces/${ns}/pods/${pod}/log`})).toBe(1)
    expect(server.requests({path: /\/log$/}).at(-1)?.query).toMatchObject({container: 'main', follow: 'true'})
  })

  it('fails the Job with BackoffLimitExceeded and keeps exit codes and reasons per container', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('bad')})
    const pod = server.jobPodName(ns, 'bad')
    server.startPod(pod)
    server.failPod(pod, {exitCodes: {main: 137}, reasons: {main: 'OOMKilled'}})
    const job = await batch.readNamespacedJob({namespace: ns, name: 'bad'})
    expect(job.status?.failed).toBe(1)
    expect(job.status?.conditions?.find((condition) => condition.type === 'Failed')).toMatchObject({status: 'True', reason: 'BackoffLimitExceeded'})
    const terminated = (await core.readNamespacedPod({namespace: ns, name: pod})).status?.containerStatuses?.[0]?.state?.terminated
    expect(terminated).toMatchObject({exitCode: 137, reason: 'OOMKilled'})
  })

  it('replaces a failed pod while failures stay within backoffLimit', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('retry', {backoffLimit: 1})})
    const first = server.jobPodName(ns, 'retry')
    server.failPod(first)
    const second = server.jobPodName(ns, 'retry')
    expect(second).not.toBe(first)
    expect((await batch.readNamespacedJob({namespace: ns, name: 'retry'})).status).toMatchObject({failed: 1, active: 1})
    server.failPod(second)
    expect(server.jobPods(ns, 'retry')).toHaveLength(2)
    expect(server.getJob(ns, 'retry')?.status.conditions?.find((condition) => condition.type === 'Failed')?.reason).toBe('BackoffLimitExceeded')
  })

  it('reports waiting reasons, restart counts, readiness and eviction on the pod', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('flaky')})
    const pod = server.jobPodName(ns, 'flaky')
    server.setWaiting(pod, 'main', 'ErrImagePull', 'rpc error: not found')
    let status = (await core.readNamespacedPod({namespace: ns, name: pod})).status
    expect(status?.phase).toBe('Pending')
    expect(status?.containerStatuses?.[0]?.state?.waiting).toEqual({reason: 'ErrImagePull', message: 'rpc error: not found'})
    server.startPod(pod)
    server.setReady(pod, false)
    expect((await core.readNamespacedPod({namespace: ns, name: pod})).status?.conditions?.find((condition) => condition.type === 'Ready')?.status).toBe('False')
    server.setWaiting(pod, 'main', 'CrashLoopBackOff', 'back-off 10s restarting failed container')
    server.setRestartCount(pod, 'main', 3)
    status = (await core.readNamespacedPod({namespace: ns, name: pod})).status
    expect(status?.containerStatuses?.[0]).toMatchObject({restartCount: 3, state: {waiting: {reason: 'CrashLoopBackOff'}}})
    server.evictPod(pod)
    status = (await core.readNamespacedPod({namespace: ns, name: pod})).status
    expect(status).toMatchObject({phase: 'Failed', reason: 'Evicted'})
    expect((await batch.readNamespacedJob({namespace: ns, name: 'flaky'})).status?.failed).toBe(1)
  })

  it('fails a Job whose activeDeadlineSeconds runs out with DeadlineExceeded and terminates its pod', async () => {
    const ns = await namespace()
    const started = Date.now()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('slow', {activeDeadlineSeconds: 1, grace: 0})})
    server.startPod(server.jobPodName(ns, 'slow'))
    const failed = (job?: V1Job) => job?.status?.conditions?.some((condition) => condition.type === 'Failed' && condition.status === 'True')
    await waitFor(async () => failed(await batch.readNamespacedJob({namespace: ns, name: 'slow'})), {timeoutMs: 5000, what: 'the Job to fail'})
    // The server's own timer failed it, at the deadline and not before.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    const job = await batch.readNamespacedJob({namespace: ns, name: 'slow'})
    expect(job.status?.conditions?.find((condition) => condition.type === 'Failed')).toMatchObject({reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline'})
    expect(server.jobPods(ns, 'slow')).toHaveLength(0)
  })
})

describe('deletion and garbage collection', () => {
  // https://kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion
  it('Foreground: marks the Job, terminates its pods after their grace period, then removes the Job', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('fg', {grace: 1})})
    const pod = server.jobPodName(ns, 'fg')
    server.startPod(pod)
    const jobs = await collect(`/apis/batch/v1/namespaces/${ns}/jobs`, {resourceVersion: server.resourceVersion})
    const pods = await collect(`/api/v1/namespaces/${ns}/pods`, {resourceVersion: server.resourceVersion})
    const started = Date.now()
    await batch.deleteNamespacedJob({namespace: ns, name: 'fg', propagationPolicy: 'Foreground'})
    const marked = await batch.readNamespacedJob({namespace: ns, name: 'fg'})
    expect(marked.metadata?.finalizers).toContain('foregroundDeletion')
    expect(marked.metadata?.deletionTimestamp).toBeDefined()
    expect((await core.readNamespacedPod({namespace: ns, name: pod})).metadata?.deletionTimestamp).toBeDefined()
    await jobs.waitFor((events) => events.some((event) => event.type === 'DELETED'))
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(jobs.events.map((event) => event.type)).toEqual(['MODIFIED', 'DELETED'])
    // The kubelet reports the killed pod Failed before it leaves the API (pod-lifecycle "Termination of Pods").
    expect(pods.events.map((event) => event.type)).toEqual(['MODIFIED', 'MODIFIED', 'DELETED'])
    expect((pods.events[1]!.object as {status: {phase: string}}).status.phase).toBe('Failed')
    jobs.abort()
    pods.abort()
  })

  // https://kubernetes.io/docs/concepts/architecture/garbage-collection/#background-deletion
  it('Background (as a DeleteOptions body): removes the Job at once and its pods after the grace period', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('bg', {grace: 1})})
    const pod = server.jobPodName(ns, 'bg')
    server.startPod(pod)
    await batch.deleteNamespacedJob({namespace: ns, name: 'bg', body: {propagationPolicy: 'Background'}})
    expect((await statusOf(batch.readNamespacedJob({namespace: ns, name: 'bg'}))).code).toBe(404)
    const deleted = Date.now()
    expect((await core.readNamespacedPod({namespace: ns, name: pod})).metadata?.deletionTimestamp).toBeDefined()
    await waitFor(() => server.get('pods', ns, pod) === undefined, {timeoutMs: 5000, what: 'the pod to be removed'})
    expect(Date.now() - deleted).toBeGreaterThanOrEqual(900)
    expect((await statusOf(core.readNamespacedPod({namespace: ns, name: pod}))).code).toBe(404)
  })

  // https://kubernetes.io/docs/concepts/architecture/garbage-collection/#orphaned-dependents ; batch/v1 Jobs default to
  // orphaning and the apiserver says so in a Warning header
  it('Orphan, and the default for Jobs: pods stay and lose their ownerReferences', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('orph')})
    const pod = server.jobPodName(ns, 'orph')
    const response = await batch.deleteNamespacedJobWithHttpInfo({namespace: ns, name: 'orph'})
    expect(response.headers.warning).toContain('child pods are preserved by default when jobs are deleted')
    const kept = await core.readNamespacedPod({namespace: ns, name: pod})
    expect(kept.metadata?.ownerReferences).toBeUndefined()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('orph2')})
    const pod2 = server.jobPodName(ns, 'orph2')
    await batch.deleteNamespacedJob({namespace: ns, name: 'orph2', propagationPolicy: 'Orphan'})
    expect((await core.readNamespacedPod({namespace: ns, name: pod2})).metadata?.ownerReferences).toBeUndefined()
  })

  it('pods can hang in Terminating, which keeps a Foreground-deleted Job around', async () => {
    const ns = await namespace()
    await batch.createNamespacedJob({namespace: ns, body: jobBody('stuck', {grace: 0})})
    const pod = server.jobPodName(ns, 'stuck')
    server.startPod(pod)
    server.hangTerminating()
    await core.deleteNamespacedPod({namespace: ns, name: pod, gracePeriodSeconds: 1})
    await batch.deleteNamespacedJob({namespace: ns, name: 'stuck', propagationPolicy: 'Foreground'})
    // The pod's 1 s grace period has run out and the kubelet did not remove it.
    await waitFor(() => server.overduePods.includes(`${ns}/${pod}`), {timeoutMs: 5000, what: 'the grace period to run out'})
    expect((await core.readNamespacedPod({namespace: ns, name: pod})).metadata?.deletionTimestamp).toBeDefined()
    expect((await batch.readNamespacedJob({namespace: ns, name: 'stuck'})).metadata?.deletionTimestamp).toBeDefined()
    server.hangTerminating(false)
    expect(server.getJob(ns, 'stuck')).toBeUndefined()
  })

  it('takes gracePeriodSeconds from the query for pods (0 deletes at once)', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'now'}))
    const deleted = await core.deleteNamespacedPod({namespace: ns, name: 'now', gracePeriodSeconds: 0})
    expect(deleted.metadata?.name).toBe('now')
    expect(server.get('pods', ns, 'now')).toBeUndefined()
    expect(server.requests({method: 'DELETE'}).at(-1)?.query.gracePeriodSeconds).toBe('0')
  })
})

describe('fault injection and request log', () => {
  it('adds latency to matching requests only', async () => {
    server.fault({method: 'GET', path: /\/namespaces$/, latencyMs: 300, times: 1})
    const started = Date.now()
    await core.listNamespace()
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    const second = Date.now()
    await core.listNamespace()
    expect(Date.now() - second).toBeLessThan(250)
  })

  it('answers injected 500, 401 and 403 with Status bodies', async () => {
    server.fault({path: /\/namespaces\/default$/, status: 500, message: 'etcdserver: request timed out', times: 1})
    server.fault({path: /\/namespaces\/default$/, status: 401, times: 1})
    server.fault({path: /\/namespaces\/default$/, status: 403, times: 1})
    const internal = await statusOf(core.readNamespace({name: 'default'}))
    expect(internal.status).toMatchObject({code: 500, reason: 'InternalError', message: 'etcdserver: request timed out'})
    expect((await statusOf(core.readNamespace({name: 'default'}))).code).toBe(401)
    expect((await statusOf(core.readNamespace({name: 'default'}))).status).toMatchObject({code: 403, reason: 'Forbidden'})
    await expect(core.readNamespace({name: 'default'})).resolves.toBeDefined()
  })

  it('accepts and never answers a hanging request until the client gives up', async () => {
    server.fault({path: /\/namespaces\/default$/, hang: true, times: 1})
    const controller = new AbortController()
    const call = core.readNamespace({name: 'default'}, {middleware: [{pre: (context) => {
      context.setSignal(controller.signal)
      return new Observable(Promise.resolve(context))
    }, post: (context) => new Observable(Promise.resolve(context))}], middlewareMergeStrategy: 'append'})
    await waitFor(() => server.hangingRequests === 1, {timeoutMs: 5000, what: 'the server to hold the request'})
    // Not synchronisation: "never answers" can only be shown over a window; 300 ms with the request already held.
    const outcome = await Promise.race([call.then(() => 'answered', () => 'failed'), new Promise((resolve) => setTimeout(() => resolve('pending'), 300))])
    expect(outcome).toBe('pending')
    controller.abort()
    await expect(call).rejects.toThrow()
    expect(server.countRequests({path: '/api/v1/namespaces/default'})).toBe(1)
  })

  it('drops a watch connection after N events, or on demand', async () => {
    const ns = await namespace()
    for (const name of ['a', 'b', 'c']) server.createPod(ns, runningPod({name}))
    server.fault({path: new RegExp(`/namespaces/${ns}/pods$`), watch: true, dropAfterEvents: 2, times: 1})
    const dropped = await collect(`/api/v1/namespaces/${ns}/pods`)
    await dropped.done
    expect(dropped.events).toHaveLength(2)
    const open = await collect(`/api/v1/namespaces/${ns}/pods`)
    await open.waitFor((events) => events.length === 3)
    expect(server.dropWatches()).toBeGreaterThanOrEqual(1)
    await open.done
    expect(server.countRequests({path: `/api/v1/namespaces/${ns}/pods`, watch: true})).toBe(2)
  })

  it('refuses the next watch as expired when told to', async () => {
    server.expireNextWatch(/\/pods$/)
    const first = await collect('/api/v1/namespaces/default/pods')
    await first.done
    expect(first.events[0]).toMatchObject({type: 'ERROR', object: {code: 410, reason: 'Expired'}})
    const second = await collect('/api/v1/namespaces/default/pods', {timeoutSeconds: 1})
    await second.done
    expect(second.events.every((event) => event.type !== 'ERROR')).toBe(true)
  })
})
