// Owns the REST paths of the kinds danube applies (install/manifests/): kind → plural resource, group
// version and scope. A fixed table instead of discovery: the manifests name only these kinds, and the
// installer must not depend on extra discovery round trips while the API server is still starting.

export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

interface KindInfo {
  plural: string
  namespaced: boolean
}

const KINDS: Record<string, KindInfo> = {
  'v1/Namespace': {plural: 'namespaces', namespaced: false},
  'v1/Node': {plural: 'nodes', namespaced: false},
  'v1/ServiceAccount': {plural: 'serviceaccounts', namespaced: true},
  'v1/Secret': {plural: 'secrets', namespaced: true},
  'v1/ConfigMap': {plural: 'configmaps', namespaced: true},
  'v1/Service': {plural: 'services', namespaced: true},
  'v1/PersistentVolumeClaim': {plural: 'persistentvolumeclaims', namespaced: true},
  'apps/v1/Deployment': {plural: 'deployments', namespaced: true},
  'networking.k8s.io/v1/NetworkPolicy': {plural: 'networkpolicies', namespaced: true},
  'rbac.authorization.k8s.io/v1/Role': {plural: 'roles', namespaced: true},
  'rbac.authorization.k8s.io/v1/RoleBinding': {plural: 'rolebindings', namespaced: true},
  'rbac.authorization.k8s.io/v1/ClusterRole': {plural: 'clusterroles', namespaced: false},
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {plural: 'clusterrolebindings', namespaced: false},
}

export const APPLY_CONTENT_TYPE = 'application/apply-patch+yaml'

export function kindInfo(apiVersion: string, kind: string): KindInfo | undefined {
  return KINDS[`${apiVersion}/${kind}`]
}

/** /apis/apps/v1/namespaces/danube-system/deployments/dex for a Deployment dex in danube-system. */
export function objectPath(ref: ObjectRef): string {
  const info = kindInfo(ref.apiVersion, ref.kind)
  if (!info) throw new Error(`BUG: kind ${ref.apiVersion} ${ref.kind} is not in src/lib/kube/resources.ts`)
  if (info.namespaced && !ref.namespace) throw new Error(`BUG: ${ref.kind} ${ref.name} needs a namespace`)
  const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`
  const scope = info.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace!)}` : ''
  return `${base}${scope}/${info.plural}/${encodeURIComponent(ref.name)}`
}

export function resourceOf(ref: Pick<ObjectRef, 'apiVersion' | 'kind'>): string {
  return kindInfo(ref.apiVersion, ref.kind)?.plural ?? ref.kind.toLowerCase()
}
