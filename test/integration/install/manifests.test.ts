// install/manifests/ applied server-side through the project's Kubernetes client against the test API
// server, and read back with the real kubectl.
import {execFile} from 'node:child_process'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createKubeClient, type KubeClient, type KubeObject} from '../../../src/lib/kube/index.js'
import {applyObjects, driftedObjects, loadManifests, manifestFiles} from '../../../src/lib/install/manifests.js'
import {REPO_ROOT} from '../../support/agent-process.js'
import {KubeApiServer} from '../../support/kube-api-server.js'

const run = promisify(execFile)
const MANIFESTS = path.join(REPO_ROOT, 'install/manifests')
const KUBECTL = '/usr/bin/kubectl'

let server: KubeApiServer
let kubeconfig: string
let client: KubeClient
let objects: KubeObject[]

const ref = (object: KubeObject) => ({apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace})

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  kubeconfig = server.writeKubeconfig()
  client = await createKubeClient({kubeconfig})
  objects = loadManifests(MANIFESTS, manifestFiles(MANIFESTS), {dexIssuer: 'http://127.0.0.1:30556/dex'})
})

afterAll(async () => {
  await server.stop()
  rmSync(path.dirname(kubeconfig), {recursive: true, force: true})
})

describe('install/manifests applied server-side', () => {
  it('creates every object on the first apply, and the second apply changes nothing (same resourceVersions)', async () => {
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Namespace', 'NetworkPolicy', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service']))
    expect(await driftedObjects(client, objects)).toHaveLength(objects.length)
    await applyObjects(client, objects)
    const first = await Promise.all(objects.map(async (o) => (await client.getObject(ref(o)))!.metadata.resourceVersion))
    expect(first.every(Boolean)).toBe(true)
    expect(await driftedObjects(client, objects)).toEqual([])

    await applyObjects(client, objects)
    const second = await Promise.all(objects.map(async (o) => (await client.getObject(ref(o)))!.metadata.resourceVersion))
    expect(second).toEqual(first)
  })

  it('records the installer as the field manager of what it applied', async () => {
    const dex = await client.getObject({apiVersion: 'apps/v1', kind: 'Deployment', name: 'dex', namespace: 'danube-system'})
    const managed = (dex!.metadata.managedFields as Array<{manager: string; operation: string; fieldsV1: Record<string, unknown>}>)
    expect(managed).toEqual([expect.objectContaining({manager: 'danube-install', operation: 'Apply'})])
    expect(managed[0]!.fieldsV1).toHaveProperty(['f:spec', 'f:replicas'])
  })

  it('answers 409 Conflict when another manager applies a field the installer owns, unless it forces', async () => {
    const dex = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'dex')!
    const other = {...structuredClone(dex), spec: {...(dex.spec as object), replicas: 3}}
    await expect(client.applyObject(other, {fieldManager: 'someone-else'})).rejects.toMatchObject({code: 'KUBE_CONFLICT'})
    expect((await client.getObject(ref(dex)))!.spec).toMatchObject({replicas: 1})

    await client.applyObject(other, {fieldManager: 'someone-else', force: true})
    expect((await client.getObject(ref(dex)))!.spec).toMatchObject({replicas: 3})
    expect(await driftedObjects(client, [dex])).toEqual(['Deployment danube-system/dex'])

    // The installer forces too: a re-run takes its fields back.
    await applyObjects(client, [dex])
    expect((await client.getObject(ref(dex)))!.spec).toMatchObject({replicas: 1})
  })

  it('refuses an apply without a field manager, and objects in a namespace that does not exist', async () => {
    const sa = {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'x', namespace: 'nowhere'}}
    await expect(client.applyObject(sa, {fieldManager: 't'})).rejects.toMatchObject({code: 'KUBE_NOT_FOUND'})
    await expect(client.applyObject({...sa, metadata: {name: 'x', namespace: 'danube-system'}}, {fieldManager: ''})).rejects.toMatchObject({code: 'KUBE_INVALID'})
  })

  it('can be read back with the real kubectl', async () => {
    const get = async (apiPath: string) => JSON.parse((await run(KUBECTL, ['--kubeconfig', kubeconfig, 'get', '--raw', apiPath])).stdout) as KubeObject
    const namespace = await get('/api/v1/namespaces/danube-jobs')
    expect(namespace.metadata.labels).toMatchObject({'app.kubernetes.io/managed-by': 'danube', 'kubernetes.io/metadata.name': 'danube-jobs'})
    const policy = await get('/apis/networking.k8s.io/v1/namespaces/danube-jobs/networkpolicies/danube-jobs-egress')
    expect(policy.spec).toMatchObject({podSelector: {}, policyTypes: ['Ingress', 'Egress']})
    const role = await get('/apis/rbac.authorization.k8s.io/v1/namespaces/danube-jobs/roles/danube-agent')
    expect(role.rules).toContainEqual({apiGroups: [''], resources: ['pods/exec'], verbs: ['create']})
    const registry = await get('/apis/apps/v1/namespaces/danube-system/deployments/registry')
    expect(registry.metadata.labels).toMatchObject({'app.kubernetes.io/name': 'registry'})
    const services = await get('/api/v1/namespaces/danube-system/services')
    expect((services as unknown as {items: KubeObject[]}).items.map((s) => s.metadata.name).sort()).toEqual(['dex', 'registry'])
  })
})
