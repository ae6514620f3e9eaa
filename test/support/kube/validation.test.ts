// The test API server refuses what kube-apiserver refuses and honours the request options it honours, against the real
// @kubernetes/client-node. Sources:
//   - API conventions, "Response Status Kind" (422 Invalid with details.causes, 400 BadRequest):
//     https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#response-status-kind
//   - Object names and labels (DNS-1123 subdomain and label, label key and value syntax):
//     https://kubernetes.io/docs/concepts/overview/working-with-objects/names/ and …/labels/#syntax-and-character-set
//   - API concepts, "Field validation" (unknown fields: Warning header, or 400 under Strict) and "Dry-run":
//     https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation, …/#dry-run
//   - API concepts, "Efficient detection of changes" (a watch on one named object)
//   - Pod v1 "read log" (previous, timestamps, sinceSeconds, tailLines, limitBytes):
//     https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#read-log-of-the-specified-pod-http-get-api-v1-namespaces-namespace-pods-name-log

import {BatchV1Api, CoreV1Api, KubeConfig, type V1Job} from '@kubernetes/client-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildJobManifest} from '../../../src/agent/executors/kubernetes/manifest.js'
import type {Job as DanubeJob} from '../../../src/lib/jobs/model.js'
import {KubeApiServer} from '../kube-api-server.js'
import {runningPod} from './pods.js'
import {collectWatch, rawRequest, statusOf} from './test-client.js'
import {admit, kindSchema} from './validation.js'

let server: KubeApiServer
let kc: KubeConfig
let core: CoreV1Api
let batch: BatchV1Api
let counter = 0

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  kc = new KubeConfig()
  kc.loadFromFile(server.writeKubeconfig())
  core = kc.makeApiClient(CoreV1Api)
  batch = kc.makeApiClient(BatchV1Api)
})

afterAll(async () => {
  await server.stop()
})

async function namespace(): Promise<string> {
  const name = `valid-${++counter}`
  await core.createNamespace({body: {metadata: {name}}})
  return name
}

function job(name: string, patch: (job: V1Job) => void = () => {}): V1Job {
  const body: V1Job = {
    apiVersion: 'batch/v1', kind: 'Job', metadata: {name},
    spec: {backoffLimit: 0, template: {spec: {restartPolicy: 'Never', containers: [{name: 'main', image: 'busybox:1.36'}]}}},
  }
  patch(body)
  return body
}

describe('schema and apiserver validation (422 Invalid, 400 BadRequest)', () => {
  it('refuses a bad label value, backoffLimit -1, imagePullPolicy Sometimes and a container named Main_C, one cause each', async () => {
    const ns = await namespace()
    const refused = await statusOf(batch.createNamespacedJob({namespace: ns, body: job('bad', (body) => {
      body.metadata!.labels = {team: 'not a value'}
      body.spec!.backoffLimit = -1
      body.spec!.template.spec!.containers[0]!.name = 'Main_C'
      body.spec!.template.spec!.containers[0]!.imagePullPolicy = 'Sometimes'
    })}))
    expect(refused.code).toBe(422)
    expect(refused.status).toMatchObject({kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422, details: {name: 'bad', group: 'batch', kind: 'Job'}})
    expect(refused.status?.details?.causes).toEqual(expect.arrayContaining([
      {reason: 'FieldValueNotSupported', field: 'spec.template.spec.containers[0].imagePullPolicy', message: 'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"'},
      {reason: 'FieldValueInvalid', field: 'metadata.labels', message: expect.stringMatching(/^Invalid value: "not a value": a valid label must be an empty string/)},
      {reason: 'FieldValueInvalid', field: 'spec.backoffLimit', message: 'Invalid value: -1: must be greater than or equal to 0'},
      {reason: 'FieldValueInvalid', field: 'spec.template.spec.containers[0].name', message: expect.stringMatching(/^Invalid value: "Main_C": a lowercase RFC 1123 label must consist of/)},
    ]))
    expect(refused.status?.details?.causes).toHaveLength(4)
    expect(refused.status?.message).toMatch(/^Job\.batch "bad" is invalid: \[/)
    expect(server.getJob(ns, 'bad')).toBeUndefined()
  })

  it('refuses a malformed quantity ("1 GB") and a value of the wrong type with 400 BadRequest, as decoding does', async () => {
    const ns = await namespace()
    const quantity = await statusOf(batch.createNamespacedJob({namespace: ns, body: job('mem', (body) => {
      body.spec!.template.spec!.containers[0]!.resources = {limits: {memory: '1 GB'}}
    })}))
    expect(quantity.status).toMatchObject({reason: 'BadRequest', code: 400})
    expect(quantity.status?.message).toBe(`Job in version "v1" cannot be handled as a Job: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`)
    const typed = await statusOf(batch.createNamespacedJob({namespace: ns, body: job('typed', (body) => {
      (body.spec as unknown as Record<string, unknown>).backoffLimit = 'three'
    })}))
    expect(typed.status?.message).toBe('Job in version "v1" cannot be handled as a Job: json: cannot unmarshal string into Go struct field spec.backoffLimit of type integer')
    await expect(batch.createNamespacedJob({namespace: ns, body: job('fine', (body) => {
      body.spec!.template.spec!.containers[0]!.resources = {limits: {memory: '1Gi', cpu: '500m'}}
    })})).resolves.toBeDefined()
  })

  it('checks names: a pod name is a DNS-1123 subdomain, a namespace name a DNS-1123 label', async () => {
    const ns = await namespace()
    const pod = await statusOf(core.createNamespacedPod({namespace: ns, body: {metadata: {name: 'Web_1'}, spec: {containers: [{name: 'main', image: 'nginx:1.27'}]}}}))
    expect(pod.status?.details?.causes?.[0]).toMatchObject({field: 'metadata.name', message: expect.stringContaining('a lowercase RFC 1123 subdomain')})
    await expect(core.createNamespacedPod({namespace: ns, body: {metadata: {name: 'web.v1'}, spec: {containers: [{name: 'main', image: 'nginx:1.27'}]}}})).resolves.toBeDefined()
    const dotted = await statusOf(core.createNamespace({body: {metadata: {name: 'team.a'}}}))
    expect(dotted.status?.details?.causes?.[0]).toMatchObject({field: 'metadata.name', message: expect.stringContaining('a lowercase RFC 1123 label')})
  })

  it('drops unknown fields with a Warning header (fieldValidation Warn, the default) and refuses them with 400 under Strict', async () => {
    const ns = await namespace()
    // Sent raw: @kubernetes/client-node's serializer itself drops fields its models do not declare. Unknown fields are
    // reported in the order the decoder meets them.
    const withUnknown = (name: string) => job(name, (body) => {
      (body.spec as unknown as Record<string, unknown>).bogus = 1
      ;(body.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>).colour = 'blue'
    })
    const path = `/apis/batch/v1/namespaces/${ns}/jobs`
    const warned = await rawRequest(server, 'POST', path, withUnknown('warned'))
    expect(warned.status).toBe(201)
    expect(warned.headers.warning).toBe('299 - "unknown field \\"spec.template.spec.containers[0].colour\\"", 299 - "unknown field \\"spec.bogus\\""')
    const stored = server.getJob(ns, 'warned')!
    expect(stored.spec).not.toHaveProperty('bogus')
    expect(stored.spec.template.spec.containers[0]).not.toHaveProperty('colour')
    const strict = await rawRequest(server, 'POST', `${path}?fieldValidation=Strict`, withUnknown('strict'))
    expect(strict.json()).toMatchObject({reason: 'BadRequest', code: 400,
      message: 'Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.template.spec.containers[0].colour", unknown field "spec.bogus"'})
    expect(server.getJob(ns, 'strict')).toBeUndefined()
    const ignored = await rawRequest(server, 'POST', `${path}?fieldValidation=Ignore`, withUnknown('ignored'))
    expect(ignored.status).toBe(201)
    expect(ignored.headers.warning).toBeUndefined()
    const unsupported = await rawRequest(server, 'POST', `${path}?fieldValidation=Loose`, job('loose'))
    expect(unsupported.status).toBe(400)
  })

  it('validates the Job manifest the kubernetes executor builds, with no unknown field', () => {
    const danube: DanubeJob = {
      id: '0b9f7c1e-4a5d-4c3e-9f00-1234567890ab', name: 'build', state: 'running', reason: null, executor: 'kubernetes', executorHandle: null, exitCode: null,
      createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, updatedAt: '2026-01-01T00:00:00.000Z',
      spec: {name: 'build', timeout: '90s', env: {GREETING: 'hi'}, steps: [{name: 'fetch', run: 'echo fetch', image: 'alpine:3.20'}, {run: 'make'}]},
      steps: [],
    }
    const manifest = buildJobManifest(danube, {namespace: 'danube-jobs', defaultImage: 'busybox:1.36', outputsImage: 'busybox:1.36', gracePeriodSeconds: 30, ttlSecondsAfterFinished: 600, timeoutMs: 90_000})
    const admission = admit(kindSchema('batch/v1', 'Job')!, manifest as unknown as Record<string, unknown>, 'Strict')
    expect(admission).toMatchObject({ok: true, warnings: []})
  })
})

describe('request options', () => {
  it('dryRun=All answers a create as created and a delete as done, and stores or removes nothing', async () => {
    const ns = await namespace()
    const before = server.resourceVersion
    const preview = await batch.createNamespacedJob({namespace: ns, body: job('dry'), dryRun: 'All'})
    expect(preview.metadata?.name).toBe('dry')
    expect(preview.metadata?.uid).toBeDefined()
    expect(server.getJob(ns, 'dry')).toBeUndefined()
    expect(server.resourceVersion).toBe(before)
    const invalid = await statusOf(batch.createNamespacedJob({namespace: ns, body: job('dry', (body) => (body.spec!.backoffLimit = -1)), dryRun: 'All'}))
    expect(invalid.code).toBe(422)
    server.createPod(ns, runningPod({name: 'kept'}))
    await core.deleteNamespacedPod({namespace: ns, name: 'kept', dryRun: 'All', gracePeriodSeconds: 0})
    expect(server.get('pods', ns, 'kept')?.metadata.deletionTimestamp).toBeUndefined()
    const bad = await statusOf(core.deleteNamespacedPod({namespace: ns, name: 'kept', dryRun: 'Some'}))
    expect(bad.code).toBe(400)
  })

  it('a watch on /pods/NAME?watch=1 sees that pod only, as one with fieldSelector metadata.name does', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'mine'}))
    server.createPod(ns, runningPod({name: 'other'}))
    const named = await collectWatch(kc, `/api/v1/namespaces/${ns}/pods/mine`, {})
    const selected = await collectWatch(kc, `/api/v1/namespaces/${ns}/pods`, {fieldSelector: 'metadata.name=mine'})
    server.updatePod(`${ns}/other`, (pod) => (pod.metadata.labels = {touched: 'yes'}))
    server.updatePod(`${ns}/mine`, (pod) => (pod.metadata.labels = {touched: 'yes'}))
    for (const watch of [named, selected]) {
      await watch.waitFor((events) => events.length === 2)
      expect(watch.events.map((event) => `${event.type} ${(event.object.metadata as {name: string}).name}`)).toEqual(['ADDED mine', 'MODIFIED mine'])
      watch.abort()
    }
  })

  it('pods/log honours timestamps, sinceSeconds, tailLines and previous, and refuses out-of-range values with 422', async () => {
    const ns = await namespace()
    server.createPod(ns, runningPod({name: 'talker'}))
    server.appendLog(`${ns}/talker`, 'main', 'first run\n')
    const none = await statusOf(core.readNamespacedPodLog({namespace: ns, name: 'talker', previous: true}))
    expect(none.status).toMatchObject({code: 400, message: 'previous terminated container "main" in pod "talker" not found'})
    server.setWaiting(`${ns}/talker`, 'main', 'CrashLoopBackOff')
    server.startPod(`${ns}/talker`)
    server.appendLog(`${ns}/talker`, 'main', 'second run\nstill second\n')
    expect(await core.readNamespacedPodLog({namespace: ns, name: 'talker', previous: true})).toBe('first run\n')
    expect(await core.readNamespacedPodLog({namespace: ns, name: 'talker'})).toBe('second run\nstill second\n')
    expect(await core.readNamespacedPodLog({namespace: ns, name: 'talker', tailLines: 1})).toBe('still second\n')
    const stamped = await core.readNamespacedPodLog({namespace: ns, name: 'talker', timestamps: true})
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z second run\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z still second\n$/)
    expect(await core.readNamespacedPodLog({namespace: ns, name: 'talker', sinceSeconds: 60})).toBe('second run\nstill second\n')
    const later = encodeURIComponent(new Date(Date.now() + 60_000).toISOString())
    expect((await rawRequest(server, 'GET', `/api/v1/namespaces/${ns}/pods/talker/log?sinceTime=${later}`)).text).toBe('')
    const both = await rawRequest(server, 'GET', `/api/v1/namespaces/${ns}/pods/talker/log?sinceTime=${later}&sinceSeconds=5`)
    expect(both.status).toBe(422)
    const zero = await statusOf(core.readNamespacedPodLog({namespace: ns, name: 'talker', sinceSeconds: 0}))
    expect(zero.status).toMatchObject({code: 422, reason: 'Invalid', details: {kind: 'PodLogOptions', causes: [{field: 'sinceSeconds', message: 'Invalid value: 0: must be greater than 0'}]}})
    const negative = await statusOf(core.readNamespacedPodLog({namespace: ns, name: 'talker', tailLines: -1}))
    expect(negative.status?.details?.causes?.[0]).toMatchObject({field: 'tailLines', message: 'Invalid value: -1: must be greater than or equal to 0'})
  })
})

describe('discovery without aggregation (what clients older than kubectl 1.30 read, and kubectl\'s fallback)', () => {
  // https://kubernetes.io/docs/concepts/overview/kubernetes-api/#unaggregated-discovery
  it('serves APIVersions, APIGroupList, APIGroup and an APIResourceList per group version', async () => {
    const core = (await rawRequest(server, 'GET', '/api')).json()
    expect(core).toMatchObject({kind: 'APIVersions', versions: ['v1']})
    const groups = (await rawRequest(server, 'GET', '/apis')).json() as {groups: Array<{name: string}>}
    expect(groups).toMatchObject({kind: 'APIGroupList', groups: [{name: 'batch', preferredVersion: {groupVersion: 'batch/v1', version: 'v1'}}]})
    expect((await rawRequest(server, 'GET', '/apis/batch')).json()).toMatchObject({kind: 'APIGroup', name: 'batch'})
    const v1 = (await rawRequest(server, 'GET', '/api/v1')).json() as {resources: Array<{name: string; verbs: string[]; namespaced: boolean}>}
    expect(v1.resources.map((resource) => resource.name)).toEqual(['namespaces', 'pods', 'pods/log'])
    expect(v1.resources.find((resource) => resource.name === 'pods')).toMatchObject({namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'watch']})
    const batchV1 = (await rawRequest(server, 'GET', '/apis/batch/v1')).json()
    expect(batchV1).toMatchObject({kind: 'APIResourceList', groupVersion: 'batch/v1', resources: [{name: 'jobs', kind: 'Job', namespaced: true}]})
    expect((await rawRequest(server, 'GET', '/apis/apps/v1')).status).toBe(404)
  })
})
