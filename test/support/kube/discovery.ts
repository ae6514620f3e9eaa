// The discovery and OpenAPI documents a client such as kubectl reads before it touches a resource
// (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api), built from the resources the test API
// server serves, so that a kind registered there is discoverable without more code:
//   - unaggregated discovery: /api (APIVersions), /apis (APIGroupList), /apis/<group> (APIGroup), /api/v1 and
//     /apis/<group>/<version> (APIResourceList);
//   - aggregated discovery (/api and /apis with Accept application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
//     what kubectl ≥ 1.30 asks for first; any other Accept gets the unaggregated form, which kubectl falls back to);
//   - OpenAPI v3 (/openapi/v3 and one document per group version), reduced to what kubectl reads from it: for each kind
//     a PATCH operation tagged x-kubernetes-group-version-kind whose parameters include `fieldValidation`, which is how
//     kubectl ≥ 1.27 decides that the server validates fields itself (cli-runtime's QueryParamVerifierV3); kubectl
//     then sends fieldValidation=Strict instead of validating against the schemas client-side.

import {createHash} from 'node:crypto'

export interface DiscoveredResource {
  /** Plural, e.g. `jobs`. */
  resource: string
  singular: string
  kind: string
  /** '' for core. */
  group: string
  version: string
  namespaced: boolean
  verbs: string[]
  shortNames?: string[]
  categories?: string[]
  /** e.g. [{name: 'log', kind: 'Pod', verbs: ['get']}]. */
  subresources?: Array<{name: string; kind: string; verbs: string[]}>
}

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'

export interface DiscoveryAnswer {
  contentType: string
  body: unknown
}

function groupVersion(resource: Pick<DiscoveredResource, 'group' | 'version'>): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version
}

function groups(resources: DiscoveredResource[]): Array<{name: string; versions: string[]}> {
  const byGroup = new Map<string, Set<string>>()
  for (const resource of resources) {
    if (!resource.group) continue
    const versions = byGroup.get(resource.group) ?? new Set<string>()
    versions.add(resource.version)
    byGroup.set(resource.group, versions)
  }
  return [...byGroup].map(([name, versions]) => ({name, versions: [...versions]}))
}

function apiGroup(group: {name: string; versions: string[]}) {
  const versions = group.versions.map((version) => ({groupVersion: `${group.name}/${version}`, version}))
  return {name: group.name, versions, preferredVersion: versions[0]}
}

function resourceList(gv: string, resources: DiscoveredResource[]) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: resources.flatMap((resource) => [
      {
        name: resource.resource, singularName: resource.singular, namespaced: resource.namespaced, kind: resource.kind, verbs: resource.verbs,
        ...(resource.shortNames ? {shortNames: resource.shortNames} : {}), ...(resource.categories ? {categories: resource.categories} : {}),
      },
      ...(resource.subresources ?? []).map((sub) => ({name: `${resource.resource}/${sub.name}`, singularName: '', namespaced: resource.namespaced, kind: sub.kind, verbs: sub.verbs})),
    ]),
  }
}

/** apidiscovery.k8s.io/v2 APIGroupDiscoveryList for /api (core) or /apis (named groups). */
function aggregated(resources: DiscoveredResource[], core: boolean) {
  const chosen = resources.filter((resource) => (resource.group === '') === core)
  const byGroup = new Map<string, DiscoveredResource[]>()
  for (const resource of chosen) byGroup.set(resource.group, [...(byGroup.get(resource.group) ?? []), resource])
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [...byGroup].map(([group, members]) => ({
      metadata: {name: group, creationTimestamp: null},
      versions: [...new Set(members.map((member) => member.version))].map((version) => ({
        version,
        freshness: 'Current',
        resources: members.filter((member) => member.version === version).map((member) => ({
          resource: member.resource, responseKind: {group, version, kind: member.kind}, scope: member.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: member.singular, verbs: member.verbs,
          ...(member.shortNames ? {shortNames: member.shortNames} : {}), ...(member.categories ? {categories: member.categories} : {}),
          ...(member.subresources ? {subresources: member.subresources.map((sub) => ({subresource: sub.name, responseKind: {group, version, kind: sub.kind}, verbs: sub.verbs}))} : {}),
        })),
      })),
    })),
  }
}

function wantsAggregated(accept: string | undefined): boolean {
  // The first acceptable type wins; kubectl lists v2, then v2beta1, then plain JSON.
  const first = accept?.split(',')[0]?.replaceAll(' ', '') ?? ''
  return first === AGGREGATED_V2
}

function openApiPaths(members: DiscoveredResource[]) {
  const paths: Record<string, unknown> = {}
  for (const member of members) {
    const base = member.group ? `/apis/${member.group}/${member.version}` : `/api/${member.version}`
    const item = member.namespaced ? `${base}/namespaces/{namespace}/${member.resource}/{name}` : `${base}/${member.resource}/{name}`
    paths[item] = {
      patch: {
        operationId: `patch${member.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': {group: member.group, version: member.version, kind: member.kind},
        parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((name) => ({name, in: 'query', schema: {type: name === 'force' ? 'boolean' : 'string', uniqueItems: true}})),
        responses: {200: {description: 'OK'}},
      },
    }
  }
  return paths
}

/** The document for a discovery or OpenAPI path, or undefined when the path is not one. */
export function discover(pathname: string, accept: string | undefined, resources: DiscoveredResource[], serverAddress: string, gitVersion: string): DiscoveryAnswer | undefined {
  const path = pathname.replace(/\/$/, '') || '/'
  const json = (body: unknown): DiscoveryAnswer => ({contentType: 'application/json', body})
  if (path === '/api') {
    if (wantsAggregated(accept)) return {contentType: AGGREGATED_V2, body: aggregated(resources, true)}
    return json({kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress}]})
  }
  if (path === '/apis') {
    if (wantsAggregated(accept)) return {contentType: AGGREGATED_V2, body: aggregated(resources, false)}
    return json({kind: 'APIGroupList', apiVersion: 'v1', groups: groups(resources).map(apiGroup)})
  }
  if (path === '/api/v1') return json(resourceList('v1', resources.filter((resource) => resource.group === '' && resource.version === 'v1')))
  const named = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path)
  if (named) {
    const [, group, version] = named
    const group_ = groups(resources).find((candidate) => candidate.name === group)
    if (!group_) return undefined
    if (version === undefined) return json({kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group_)})
    if (!group_.versions.includes(version)) return undefined
    return json(resourceList(`${group}/${version}`, resources.filter((resource) => resource.group === group && resource.version === version)))
  }
  if (path === '/openapi/v3') {
    const gvs = [...new Set(resources.map((resource) => groupVersion(resource)))]
    return json({paths: Object.fromEntries(gvs.map((gv) => {
      const key = gv.includes('/') ? `apis/${gv}` : `api/${gv}`
      const hash = createHash('sha512').update(JSON.stringify(openApiPaths(resources.filter((resource) => groupVersion(resource) === gv))) + gitVersion).digest('hex').slice(0, 128).toUpperCase()
      return [key, {serverRelativeURL: `/openapi/v3/${key}?hash=${hash}`}]
    }))})
  }
  const openapi = /^\/openapi\/v3\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path)
  if (openapi) {
    const [, coreVersion, group, version] = openapi
    const members = resources.filter((resource) => (coreVersion ? resource.group === '' && resource.version === coreVersion : resource.group === group && resource.version === version))
    if (members.length === 0) return undefined
    return json({openapi: '3.0.0', info: {title: 'Kubernetes', version: gitVersion}, paths: openApiPaths(members), components: {schemas: {}}})
  }
  return undefined
}
