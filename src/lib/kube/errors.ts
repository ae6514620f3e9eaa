// Owns the translation of every Kubernetes client failure into a DanubeError an operator can act on.
// Works on the shapes the client produces (ApiException {code, body}, Watch errors {statusCode}, node-fetch
// FetchError {code, type}, AbortError) without importing @kubernetes/client-node, so it costs nothing to load.

import {DanubeError} from '../errors.js'
import {formatDuration} from '../duration.js'

export type KubeErrorCode =
  | 'KUBE_UNREACHABLE'
  | 'KUBE_TLS'
  | 'KUBE_UNAUTHORIZED'
  | 'KUBE_FORBIDDEN'
  | 'KUBE_NOT_FOUND'
  | 'KUBE_CONFLICT'
  | 'KUBE_INVALID'
  | 'KUBE_TIMEOUT'
  | 'KUBE_GONE'
  | 'KUBE_SERVER_ERROR'
  | 'KUBE_ERROR'

/** What a call was doing, for messages and telemetry. */
export interface KubeCallTarget {
  /** Kubernetes verb: get, list, watch, create, delete. */
  verb: string
  /** Plural resource, e.g. jobs, pods, pods/log, namespaces; or a path such as /readyz. */
  resource: string
  namespace?: string
  name?: string
}

/** The `Status` object the API server sends with failures (only the fields we read). */
export interface KubeStatus {
  kind?: string
  status?: string
  message?: string
  reason?: string
  code?: number
  details?: {name?: string; kind?: string; group?: string}
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'HOSTNAME_MISMATCH',
])
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])

/** "create jobs in namespace danube-jobs", "get namespaces/danube-jobs", "GET /readyz". */
export function describeCall(target: KubeCallTarget): string {
  const object = target.name === undefined ? target.resource : `${target.resource}/${target.name}`
  const where = target.namespace === undefined ? '' : ` in namespace ${target.namespace}`
  return target.resource.startsWith('/') ? `${target.verb.toUpperCase()} ${target.resource}` : `${target.verb} ${object}${where}`
}

/** Parses a Status from an error body (the client hands it over as text, an object, or not at all). */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return body.trim() ? {message: body.trim().slice(0, 500)} : undefined
    }
  }
  if (typeof value !== 'object' || value === null) return undefined
  return value as KubeStatus
}

function errnoCode(error: unknown): string | undefined {
  const candidates = [error, (error as {cause?: unknown})?.cause]
  for (const candidate of candidates) {
    if (typeof candidate !== 'object' || candidate === null) continue
    const {code, errno} = candidate as {code?: unknown; errno?: unknown}
    if (typeof code === 'string') return code
    if (typeof errno === 'string') return errno
  }
  return undefined
}

function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const {code, statusCode} = error as {code?: unknown; statusCode?: unknown}
  if (typeof statusCode === 'number') return statusCode
  if (typeof code === 'number') return code
  return undefined
}

export interface MapContext {
  target: KubeCallTarget
  kubeconfig: string
  timeoutMs: number
  /** True when our own timer ended the call. */
  timedOut?: boolean
}

export function timeoutError(context: MapContext): DanubeError {
  return new DanubeError('KUBE_TIMEOUT', `Kubernetes API did not answer ${describeCall(context.target)} within ${formatDuration(context.timeoutMs)}`, {
    httpStatus: 504,
    hint: 'the API server is slow or hung; raise kubernetes.requestTimeout only if it is merely slow',
  })
}

/** Maps an HTTP status (and optional Status body) to a typed error. */
export function errorForStatus(statusCode: number, status: KubeStatus | undefined, context: MapContext, cause?: unknown): DanubeError {
  const {target} = context
  const call = describeCall(target)
  const server = status?.message ? `: ${status.message}` : ''
  const options = {cause}
  switch (true) {
    case statusCode === 401:
      return new DanubeError('KUBE_UNAUTHORIZED', `Kubernetes API rejected the credentials in ${context.kubeconfig} (401 Unauthorized) for ${call}`, {
        ...options, httpStatus: 502, hint: 'the token or client certificate is expired or wrong; refresh the kubeconfig',
      })
    case statusCode === 403:
      return new DanubeError('KUBE_FORBIDDEN', `forbidden: cannot ${call}${server}`, {
        ...options, httpStatus: 502,
        hint: `grant the identity in ${context.kubeconfig} RBAC permission to ${target.verb} ${target.resource}${target.namespace ? ` in namespace ${target.namespace}` : ''}`,
      })
    case statusCode === 404:
      return new DanubeError('KUBE_NOT_FOUND', `not found: ${call}${server}`, {...options, httpStatus: 404})
    case statusCode === 409:
      return new DanubeError('KUBE_CONFLICT', `conflict: ${call}${server}`, {...options, httpStatus: 409})
    case statusCode === 410:
      return new DanubeError('KUBE_GONE', `resource version expired (410 Gone) during ${call}${server}`, {
        ...options, httpStatus: 502, hint: 'list again and watch from the new resourceVersion',
      })
    case statusCode === 400 || statusCode === 422:
      return new DanubeError('KUBE_INVALID', `Kubernetes API refused ${call} as invalid (${statusCode})${server}`, {...options, httpStatus: 502})
    case statusCode === 504 && status?.reason === 'Timeout':
      return new DanubeError('KUBE_TIMEOUT', `Kubernetes API timed out on ${call}${server}`, {...options, httpStatus: 504})
    case statusCode >= 500:
      return new DanubeError('KUBE_SERVER_ERROR', `Kubernetes API failed ${call} (${statusCode}${status?.reason ? ` ${status.reason}` : ''})${server}`, {
        ...options, httpStatus: 502, hint: 'the API server or etcd is unhealthy; retry, and check the control plane if it persists',
      })
    default:
      return new DanubeError('KUBE_ERROR', `Kubernetes API answered ${statusCode} to ${call}${server}`, {...options, httpStatus: 502})
  }
}

/** Maps anything a Kubernetes call threw to a DanubeError (DanubeErrors pass through). */
export function toKubeError(error: unknown, context: MapContext): DanubeError {
  if (error instanceof DanubeError) return error
  if (context.timedOut) return timeoutError(context)
  const statusCode = httpStatusOf(error)
  if (statusCode !== undefined) {
    return errorForStatus(statusCode, parseStatus((error as {body?: unknown}).body), context, error)
  }
  const call = describeCall(context.target)
  const code = errnoCode(error)
  const message = error instanceof Error ? error.message : String(error)
  if ((code && TLS_CODES.has(code)) || /certificate|self[- ]signed|SSL|TLS/i.test(message)) {
    return new DanubeError('KUBE_TLS', `TLS handshake with the Kubernetes API failed for ${call}: ${code ?? message}`, {
      cause: error, httpStatus: 502, hint: `the certificate-authority-data in ${context.kubeconfig} does not match the server's certificate`,
    })
  }
  if (code && UNREACHABLE_CODES.has(code)) {
    const lost = code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE'
    return new DanubeError('KUBE_UNREACHABLE', lost ? `connection to the Kubernetes API was lost (${code}) during ${call}` : `Kubernetes API is unreachable (${code}) for ${call}`, {
      cause: error, httpStatus: 502, hint: `check that the server in ${context.kubeconfig} is up and reachable from this host`,
    })
  }
  if (code === 'ETIMEDOUT' || (error as {type?: unknown})?.type === 'request-timeout' || (error as {name?: unknown})?.name === 'AbortError') {
    return timeoutError(context)
  }
  return new DanubeError('KUBE_ERROR', `Kubernetes API call ${call} failed: ${message}`, {cause: error, httpStatus: 502})
}
