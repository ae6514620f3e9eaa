// `Status` objects as the Kubernetes API server returns them for failures.
// https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#response-status-kind
// The message formats copy apimachinery's k8s.io/apimachinery/pkg/api/errors so client code sees the same text.

import type {StatusObject} from './types.js'

export interface ResourceRef {
  /** Plural resource name, e.g. `jobs`. */
  resource: string
  /** API group, '' for core. */
  group: string
}

/** `jobs.batch`, or just `pods` for the core group. */
export function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.resource}.${ref.group}` : ref.resource
}

export function failure(code: number, reason: string, message: string, details?: StatusObject['details']): StatusObject {
  return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? {details} : {}), code}
}

function details(ref: ResourceRef, name?: string): StatusObject['details'] {
  return {...(name !== undefined ? {name} : {}), ...(ref.group ? {group: ref.group} : {}), kind: ref.resource}
}

export function notFound(ref: ResourceRef, name: string): StatusObject {
  return failure(404, 'NotFound', `${qualified(ref)} "${name}" not found`, details(ref, name))
}

export function alreadyExists(ref: ResourceRef, name: string): StatusObject {
  return failure(409, 'AlreadyExists', `${qualified(ref)} "${name}" already exists`, details(ref, name))
}

export function conflict(ref: ResourceRef, name: string, why: string): StatusObject {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${name}": ${why}`, details(ref, name))
}

export function invalid(kind: string, ref: ResourceRef, name: string, causes: Array<{field: string; message: string; reason?: string}>): StatusObject {
  const group = ref.group ? `.${ref.group}` : ''
  const text = causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ')
  const list = causes.length > 1 ? `[${text}]` : text
  return failure(422, 'Invalid', `${kind}${group} "${name}" is invalid: ${list}`, {
    name,
    ...(ref.group ? {group: ref.group} : {}),
    kind,
    causes: causes.map((cause) => ({reason: cause.reason ?? 'FieldValueInvalid', message: cause.message, field: cause.field})),
  })
}

export function badRequest(message: string): StatusObject {
  return failure(400, 'BadRequest', message)
}

export function unauthorized(): StatusObject {
  return failure(401, 'Unauthorized', 'Unauthorized')
}

export function forbidden(user: string, verb: string, ref: ResourceRef, namespace?: string, name?: string): StatusObject {
  // A subresource's message names the parent resource first: `pods "x" is forbidden: ... cannot create resource "pods/exec"`.
  const parent = {...ref, resource: ref.resource.split('/')[0]!}
  const subject = name === undefined ? `${qualified(parent)}` : `${qualified(parent)} "${name}"`
  const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`
  return failure(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${verb} resource "${ref.resource}" in API group "${ref.group}" ${scope}`, details(parent, name))
}

export function expired(message: string): StatusObject {
  return failure(410, 'Expired', message)
}

export function methodNotAllowed(): StatusObject {
  return failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
}

export function pathNotFound(): StatusObject {
  return failure(404, 'NotFound', 'the server could not find the requested resource')
}

export function internalError(message: string): StatusObject {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, {causes: [{message}]})
}

export function reasonForCode(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
    410: 'Expired', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
  }
  return reasons[code] ?? 'Unknown'
}
