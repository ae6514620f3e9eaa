// Server-side apply (PATCH with Content-Type application/apply-patch+yaml) and storage for the kinds
// install/manifests/ uses, plus Nodes, for the test API server. Follows
// https://kubernetes.io/docs/reference/using-api/server-side-apply/ : fieldManager is required, each manager
// owns the fields it applied (metadata.managedFields, FieldsV1), a field another manager owns with a
// different value is a 409 Conflict listing every conflict unless force=true (which moves ownership), fields a
// manager stops applying are removed unless someone else owns them, and an apply that changes nothing keeps
// the resourceVersion. Hooked into test/support/kube-api-server.ts through `extensions`.
//
// Simplifications (none changes what a correct client sees for these manifests): every list is atomic (the
// real server merges lists with merge keys such as containers[name]); no watch; no strategic-merge or JSON
// patch (415); no defaulting beyond uid, creationTimestamp, generation and Secret stringData folding.

import {randomUUID} from 'node:crypto'
import type {ServerResponse} from 'node:http'

import {parse as parseYaml} from 'yaml'

import * as statuses from './status.js'
import type {StatusObject} from './types.js'

type Json = Record<string, unknown>

interface Kind {
  kind: string
  listKind: string
  apiVersion: string
  group: string
  resource: string
  namespaced: boolean
}

const KINDS: Kind[] = [
  {kind: 'Node', listKind: 'NodeList', apiVersion: 'v1', group: '', resource: 'nodes', namespaced: false},
  {kind: 'ServiceAccount', listKind: 'ServiceAccountList', apiVersion: 'v1', group: '', resource: 'serviceaccounts', namespaced: true},
  {kind: 'Secret', listKind: 'SecretList', apiVersion: 'v1', group: '', resource: 'secrets', namespaced: true},
  {kind: 'ConfigMap', listKind: 'ConfigMapList', apiVersion: 'v1', group: '', resource: 'configmaps', namespaced: true},
  {kind: 'Service', listKind: 'ServiceList', apiVersion: 'v1', group: '', resource: 'services', namespaced: true},
  {kind: 'Deployment', listKind: 'DeploymentList', apiVersion: 'apps/v1', group: 'apps', resource: 'deployments', namespaced: true},
  {kind: 'NetworkPolicy', listKind: 'NetworkPolicyList', apiVersion: 'networking.k8s.io/v1', group: 'networking.k8s.io', resource: 'networkpolicies', namespaced: true},
  {kind: 'Role', listKind: 'RoleList', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'roles', namespaced: true},
  {kind: 'RoleBinding', listKind: 'RoleBindingList', apiVersion: 'rbac.authorization.k8s.io/v1', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespaced: true},
]
const NAMESPACE_KIND: Kind = {kind: 'Namespace', listKind: 'NamespaceList', apiVersion: 'v1', group: '', resource: 'namespaces', namespaced: false}

export const APPLY_PATCH_TYPE = 'application/apply-patch+yaml'

/** What the extension needs from the server it is hooked into. */
export interface ApplyHost {
  nextResourceVersion(): string
  getNamespace(name: string): Json | undefined
  /** Stores a namespace (created or replaced whole), emitting the watch event the server emits. */
  putNamespace(object: Json): Json
  isForbidden(verb: string, resource: string, namespace: string | undefined): boolean
  user(): string
}

export interface ExtensionRequest {
  method: string
  pathname: string
  query: Record<string, string>
  contentType: string
  text: string
  anonymous: boolean
  res: ServerResponse
}

/** A field path: ['spec', 'replicas']. Lists are atomic, so a path never goes into one. */
type FieldPath = string[]
const pathKey = (path: FieldPath) => JSON.stringify(path)

const IDENTITY = new Set(['apiVersion', 'kind'])
const SERVER_METADATA = new Set(['name', 'namespace', 'resourceVersion', 'managedFields', 'uid', 'creationTimestamp', 'generation'])

function leafPaths(object: Json, prefix: FieldPath = []): FieldPath[] {
  const out: FieldPath[] = []
  for (const [key, value] of Object.entries(object)) {
    if (prefix.length === 0 && (IDENTITY.has(key) || key === 'status')) continue
    if (prefix.length === 1 && prefix[0] === 'metadata' && SERVER_METADATA.has(key)) continue
    const path = [...prefix, key]
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) out.push(...leafPaths(value as Json, path))
    else out.push(path)
  }
  return out
}

function getAt(object: unknown, path: FieldPath): unknown {
  let node = object
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined
    node = (node as Json)[key]
  }
  return node
}

function setAt(object: Json, path: FieldPath, value: unknown): void {
  let node = object
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object' || Array.isArray(node[key])) node[key] = {}
    node = node[key] as Json
  }
  node[path.at(-1)!] = structuredClone(value)
}

function deleteAt(object: Json, path: FieldPath): void {
  const parents: Json[] = []
  let node = object
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) return
    parents.push(node)
    node = next as Json
  }
  delete node[path.at(-1)!]
  // Empty maps left behind go too, as the real merge does.
  for (let i = path.length - 2; i >= 0; i--) {
    const parent = parents[i]!
    const child = parent[path[i]!] as Json
    if (Object.keys(child).length === 0) delete parent[path[i]!]
    else break
  }
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** FieldsV1 as the API serves it: {"f:spec": {"f:replicas": {}}}. */
function fieldsV1(paths: FieldPath[]): Json {
  const root: Json = {}
  for (const path of paths) {
    let node = root
    for (const key of path) node = (node[`f:${key}`] ??= {}) as Json
  }
  return root
}

interface Stored {
  object: Json
  /** manager → owned leaf paths. */
  owners: Map<string, FieldPath[]>
}

export class AppliedObjects {
  private readonly objects = new Map<string, Map<string, Stored>>()
  private readonly namespaceOwners = new Map<string, Map<string, FieldPath[]>>()

  constructor(private readonly host: ApplyHost) {
    for (const kind of KINDS) this.objects.set(kind.resource, new Map())
  }

  // ------------------------------------------------------------ for tests

  /** A Node as the kubelet registers it; Ready=False until setNodeReady (as with no CNI yet). */
  addNode(name: string, ready = false): Json {
    const object: Json = {apiVersion: 'v1', kind: 'Node', metadata: {name, uid: randomUUID(), creationTimestamp: new Date().toISOString(), labels: {'kubernetes.io/hostname': name}},
      spec: {}, status: {conditions: [nodeReadyCondition(ready)]}}
    object.metadata = {...(object.metadata as Json), resourceVersion: this.host.nextResourceVersion()}
    this.objects.get('nodes')!.set(`/${name}`, {object, owners: new Map()})
    return structuredClone(object)
  }

  setNodeReady(name: string, ready: boolean): void {
    const stored = this.objects.get('nodes')!.get(`/${name}`)
    if (!stored) throw new Error(`no node ${name}`)
    stored.object.status = {conditions: [nodeReadyCondition(ready)]}
    ;(stored.object.metadata as Json).resourceVersion = this.host.nextResourceVersion()
  }

  get(resource: string, namespace: string | undefined, name: string): Json | undefined {
    const stored = this.objects.get(resource)?.get(`${namespace ?? ''}/${name}`)
    return stored ? structuredClone(stored.object) : undefined
  }

  // ------------------------------------------------------------ requests

  /** Handles the request when it is for one of these kinds (or an apply of a Namespace); false otherwise. */
  handle(request: ExtensionRequest): boolean {
    const route = this.route(request.pathname)
    if (!route) return false
    const {kind, namespace, name} = route
    if (kind === NAMESPACE_KIND && request.method !== 'PATCH') return false
    const verb = this.verbOf(request.method, name, request.query)
    if (!verb) return this.send(request.res, statuses.methodNotAllowed())
    if (request.anonymous || this.host.isForbidden(verb, kind.resource, namespace)) {
      return this.send(request.res, statuses.forbidden(request.anonymous ? 'system:anonymous' : this.host.user(), verb, kind, kind.namespaced ? namespace : undefined, name))
    }
    if (kind.namespaced && namespace !== undefined && !this.host.getNamespace(namespace) && verb !== 'list') {
      return this.send(request.res, statuses.notFound({resource: 'namespaces', group: ''}, namespace))
    }
    switch (verb) {
      case 'list':
        return this.list(request.res, kind, namespace)
      case 'get': {
        const object = this.get(kind.resource, namespace, name!)
        return object ? this.json(request.res, 200, object) : this.send(request.res, statuses.notFound(kind, name!))
      }
      case 'delete':
        return this.remove(request.res, kind, namespace, name!)
      case 'patch':
        return this.apply(request, kind, namespace, name!)
      default:
        return this.send(request.res, statuses.methodNotAllowed())
    }
  }

  private route(pathname: string): {kind: Kind; namespace?: string; name?: string} | undefined {
    const clean = pathname.replace(/\/$/, '')
    const namespaceApply = clean.match(/^\/api\/v1\/namespaces\/([^/]+)$/)
    if (namespaceApply) return {kind: NAMESPACE_KIND, name: decodeURIComponent(namespaceApply[1]!)}
    const match = clean.match(/^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/)
    if (!match) return undefined
    const apiVersion = match[1] ?? match[2]!
    const kind = KINDS.find((candidate) => candidate.apiVersion === apiVersion && candidate.resource === match[4])
    if (!kind || kind.namespaced !== (match[3] !== undefined)) return undefined
    return {kind, ...(match[3] ? {namespace: decodeURIComponent(match[3])} : {}), ...(match[5] ? {name: decodeURIComponent(match[5])} : {})}
  }

  private verbOf(method: string, name: string | undefined, query: Record<string, string>): string | undefined {
    if (name === undefined) return method === 'GET' && query.watch !== 'true' ? 'list' : undefined
    if (method === 'GET') return query.watch === 'true' ? undefined : 'get'
    if (method === 'PATCH') return 'patch'
    if (method === 'DELETE') return 'delete'
    return undefined
  }

  private list(res: ServerResponse, kind: Kind, namespace: string | undefined): boolean {
    const items = [...this.objects.get(kind.resource)!.values()]
      .filter((stored) => namespace === undefined || (stored.object.metadata as Json).namespace === namespace)
      .map((stored) => {
        const {apiVersion: _a, kind: _k, ...rest} = structuredClone(stored.object)
        return rest
      })
    return this.json(res, 200, {kind: kind.listKind, apiVersion: kind.apiVersion, metadata: {resourceVersion: this.host.nextResourceVersion()}, items})
  }

  private remove(res: ServerResponse, kind: Kind, namespace: string | undefined, name: string): boolean {
    const store = this.objects.get(kind.resource)!
    const stored = store.get(`${namespace ?? ''}/${name}`)
    if (!stored) return this.send(res, statuses.notFound(kind, name))
    store.delete(`${namespace ?? ''}/${name}`)
    return this.json(res, 200, stored.object)
  }

  private apply(request: ExtensionRequest, kind: Kind, namespace: string | undefined, name: string): boolean {
    const {res, query} = request
    const type = request.contentType.split(';')[0]!.trim().toLowerCase()
    if (type !== APPLY_PATCH_TYPE) {
      return this.send(res, statuses.failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${APPLY_PATCH_TYPE}`))
    }
    const manager = query.fieldManager ?? ''
    if (manager === '') {
      return this.send(res, statuses.failure(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'))
    }
    if (query.force !== undefined && !['true', 'false'].includes(query.force)) return this.send(res, statuses.badRequest(`invalid force value "${query.force}": expected true or false`))
    const force = query.force === 'true'
    let body: unknown
    try {
      body = parseYaml(request.text)
    } catch (error) {
      return this.send(res, statuses.badRequest(`error decoding YAML: ${(error as Error).message.split('\n')[0]}`))
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return this.send(res, statuses.badRequest('the body of an apply patch must be an object'))
    const applied = body as Json
    const metadata = (applied.metadata ?? {}) as Json
    if (applied.apiVersion !== kind.apiVersion || applied.kind !== kind.kind) {
      return this.send(res, statuses.badRequest(`the API version in the data (${String(applied.apiVersion)}) and kind (${String(applied.kind)}) do not match the request (${kind.apiVersion}, ${kind.kind})`))
    }
    if (metadata.name !== name) return this.send(res, statuses.badRequest(`the name of the object (${String(metadata.name)}) does not match the name on the URL (${name})`))
    if (kind.namespaced && metadata.namespace !== undefined && metadata.namespace !== namespace) {
      return this.send(res, statuses.badRequest('the namespace of the provided object does not match the namespace sent on the request'))
    }
    const causes = validate(kind, applied)
    if (causes.length > 0) return this.send(res, statuses.invalid(kind.kind, kind, name, causes))

    const current = kind === NAMESPACE_KIND ? this.currentNamespace(name) : this.objects.get(kind.resource)!.get(`${namespace ?? ''}/${name}`)
    const live = current ? structuredClone(current.object) : undefined
    const owners = new Map([...(current?.owners ?? new Map<string, FieldPath[]>())].map(([m, paths]) => [m, [...paths]]))
    const normalised = normalise(kind, applied)
    const wanted = leafPaths(normalised)

    // Conflicts: a field another manager owns, applied with a different value.
    const conflicts: Array<{manager: string; path: FieldPath}> = []
    for (const [other, paths] of owners) {
      if (other === manager) continue
      for (const path of paths) {
        const overlapping = wanted.find((mine) => pathKey(mine) === pathKey(path) || isPrefix(mine, path) || isPrefix(path, mine))
        if (overlapping && !equal(getAt(live, overlapping), getAt(normalised, overlapping))) conflicts.push({manager: other, path})
      }
    }
    if (conflicts.length > 0 && !force) {
      const fields = conflicts.map((c) => `conflict with "${c.manager}": .${c.path.join('.')}`)
      return this.send(res, statuses.failure(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${fields.join('\n')}`, {
        name, ...(kind.group ? {group: kind.group} : {}), kind: kind.resource,
        causes: conflicts.map((c) => ({reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: `.${c.path.join('.')}`})),
      }))
    }
    for (const {manager: other, path} of conflicts) owners.set(other, owners.get(other)!.filter((owned) => pathKey(owned) !== pathKey(path)))

    const next: Json = live ?? {apiVersion: kind.apiVersion, kind: kind.kind, metadata: {name, ...(kind.namespaced ? {namespace} : {})}}
    // Fields this manager applied before and no longer applies go, unless another manager owns them.
    const wantedKeys = new Set(wanted.map(pathKey))
    const ownedByOthers = new Set([...owners].filter(([m]) => m !== manager).flatMap(([, paths]) => paths.map(pathKey)))
    for (const path of owners.get(manager) ?? []) if (!wantedKeys.has(pathKey(path)) && !ownedByOthers.has(pathKey(path))) deleteAt(next, path)
    for (const path of wanted) setAt(next, path, getAt(normalised, path))
    owners.set(manager, wanted)
    for (const [m, paths] of owners) if (paths.length === 0) owners.delete(m)

    if (kind === NAMESPACE_KIND) {
      // The API server always sets this label (NamespaceDefaultLabelName) and every new namespace is Active.
      const meta = next.metadata as Json
      meta.labels = {...(meta.labels as Json | undefined), 'kubernetes.io/metadata.name': name}
      next.spec ??= {finalizers: ['kubernetes']}
      next.status ??= {phase: 'Active'}
    }
    const before = live ? withoutServerFields(live) : undefined
    const sameOwners = current && equal(ownerTable(current.owners), ownerTable(owners))
    if (before && equal(before, withoutServerFields(next)) && sameOwners) return this.json(res, 200, live!)

    const nextMeta = next.metadata as Json
    const dryRun = query.dryRun === 'All'
    if (!live) Object.assign(nextMeta, {uid: randomUUID(), creationTimestamp: new Date().toISOString()})
    if (kind.kind === 'Deployment' && (!live || !equal(live.spec, next.spec))) nextMeta.generation = Number((live?.metadata as Json | undefined)?.generation ?? 0) + 1
    nextMeta.managedFields = [...owners].map(([m, paths]) => ({
      manager: m, operation: 'Apply', apiVersion: kind.apiVersion, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), fieldsType: 'FieldsV1', fieldsV1: fieldsV1(paths),
    }))
    if (dryRun) return this.json(res, live ? 200 : 201, next)
    if (kind === NAMESPACE_KIND) {
      const stored = this.host.putNamespace(next)
      this.namespaceOwners.set(name, owners)
      return this.json(res, live ? 200 : 201, stored)
    }
    nextMeta.resourceVersion = this.host.nextResourceVersion()
    this.objects.get(kind.resource)!.set(`${namespace ?? ''}/${name}`, {object: next, owners})
    return this.json(res, live ? 200 : 201, next)
  }

  private currentNamespace(name: string): Stored | undefined {
    const object = this.host.getNamespace(name)
    return object ? {object, owners: this.namespaceOwners.get(name) ?? new Map()} : undefined
  }

  private json(res: ServerResponse, code: number, body: unknown): true {
    const text = JSON.stringify(body)
    res.writeHead(code, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text)})
    res.end(text)
    return true
  }

  private send(res: ServerResponse, status: StatusObject): true {
    return this.json(res, status.code, status)
  }
}

function isPrefix(prefix: FieldPath, path: FieldPath): boolean {
  return prefix.length < path.length && prefix.every((key, i) => path[i] === key)
}

function ownerTable(owners: Map<string, FieldPath[]>): Array<[string, string[]]> {
  return [...owners].map(([m, paths]) => [m, paths.map(pathKey).sort()] as [string, string[]]).sort((a, b) => a[0].localeCompare(b[0]))
}

function withoutServerFields(object: Json): Json {
  const copy = structuredClone(object)
  const metadata = copy.metadata as Json
  for (const key of ['resourceVersion', 'managedFields', 'generation']) delete metadata[key]
  return copy
}

function nodeReadyCondition(ready: boolean): Json {
  return ready
    ? {type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status'}
    : {type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized'}
}

/** A Secret's stringData is write-only: the server folds it into data (base64). */
function normalise(kind: Kind, applied: Json): Json {
  if (kind.kind !== 'Secret' || applied.stringData === undefined) return applied
  const {stringData, ...rest} = applied
  const data = {...(rest.data as Json | undefined)}
  for (const [key, value] of Object.entries(stringData as Record<string, string>)) data[key] = Buffer.from(String(value)).toString('base64')
  return {...rest, data}
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The validation apimachinery does for these kinds that the manifests could get wrong. */
function validate(kind: Kind, object: Json): Array<{field: string; message: string; reason?: string}> {
  const causes: Array<{field: string; message: string; reason?: string}> = []
  const metadata = (object.metadata ?? {}) as Json
  const name = String(metadata.name ?? '')
  const nameRule = ['Namespace', 'Service'].includes(kind.kind) ? DNS_LABEL : DNS_SUBDOMAIN
  if (!nameRule.test(name) || name.length > (kind.kind === 'Namespace' || kind.kind === 'Service' ? 63 : 253)) {
    causes.push({field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 ${nameRule === DNS_LABEL ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.'`})
  }
  const spec = (object.spec ?? {}) as Json
  if (kind.kind === 'Deployment') {
    const selector = ((spec.selector ?? {}) as Json).matchLabels as Record<string, string> | undefined
    const labels = (((spec.template ?? {}) as Json).metadata as Json | undefined)?.labels as Record<string, string> | undefined
    if (!selector) causes.push({field: 'spec.selector', message: 'Required value', reason: 'FieldValueRequired'})
    else if (!Object.entries(selector).every(([key, value]) => labels?.[key] === value)) {
      causes.push({field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(labels ?? {})}: \`selector\` does not match template \`labels\``})
    }
    const containers = ((((spec.template ?? {}) as Json).spec ?? {}) as Json).containers
    if (!Array.isArray(containers) || containers.length === 0) causes.push({field: 'spec.template.spec.containers', message: 'Required value', reason: 'FieldValueRequired'})
  }
  if (kind.kind === 'Service') {
    if (!Array.isArray(spec.ports) || spec.ports.length === 0) causes.push({field: 'spec.ports', message: 'Required value', reason: 'FieldValueRequired'})
    for (const [i, port] of (Array.isArray(spec.ports) ? spec.ports as Json[] : []).entries()) {
      if (port.nodePort !== undefined && (Number(port.nodePort) < 30_000 || Number(port.nodePort) > 32_767)) {
        causes.push({field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${String(port.nodePort)}: provided port is not in the valid range. The range of valid ports is 30000-32767`})
      }
    }
  }
  if (kind.kind === 'Secret') {
    for (const [key, value] of Object.entries((object.data ?? {}) as Record<string, unknown>)) {
      if (typeof value !== 'string' || !BASE64.test(value)) causes.push({field: `data[${key}]`, message: 'Invalid value: illegal base64 data'})
    }
  }
  if (kind.kind === 'RoleBinding' && !((object.roleRef ?? {}) as Json).name) causes.push({field: 'roleRef.name', message: 'Required value', reason: 'FieldValueRequired'})
  return causes
}
