// Container logs as the kubelet keeps them and `pods/log` serves them: lines with the time they were written, the
// current and the previous instance of each container (a restart keeps the last one as `previous`), and the
// PodLogOptions the API accepts (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#read-log-of-the-specified-pod-http-get-api-v1-namespaces-namespace-pods-name-log):
// previous, timestamps (RFC 3339 with nanoseconds and a space before each line), sinceSeconds or sinceTime (not both),
// tailLines, limitBytes; out-of-range values are 422 Invalid PodLogOptions (ValidatePodLogOptions), unparsable ones 400.

import * as statuses from './status.js'
import type {StatusObject} from './types.js'

interface LogLine {
  ms: number
  text: string
}

export interface LogOptions {
  container?: string
  follow: boolean
  previous: boolean
  timestamps: boolean
  sinceMs?: number
  tailLines?: number
  limitBytes?: number
}

/** RFC 3339 with nanoseconds, as the kubelet prefixes lines with timestamps=true. */
function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

function integerParam(query: Record<string, string>, key: string): number | undefined | StatusObject {
  const raw = query[key]
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(value)) return statuses.badRequest(`couldn't parse ${key} ${JSON.stringify(raw)}: strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`)
  return value
}

function booleanParam(query: Record<string, string>, key: string): boolean | StatusObject {
  const raw = query[key]
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false
  if (raw === 'true' || raw === '1') return true
  return statuses.badRequest(`couldn't parse ${key} ${JSON.stringify(raw)}: strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`)
}

function isStatus(value: unknown): value is StatusObject {
  return typeof value === 'object' && value !== null && (value as StatusObject).kind === 'Status'
}

/** The query of a pods/log request, or the Status kube-apiserver answers for it. */
export function parseLogOptions(query: Record<string, string>, pod: string, now = Date.now()): LogOptions | StatusObject {
  const follow = booleanParam(query, 'follow')
  const previous = booleanParam(query, 'previous')
  const timestamps = booleanParam(query, 'timestamps')
  const sinceSeconds = integerParam(query, 'sinceSeconds')
  const tailLines = integerParam(query, 'tailLines')
  const limitBytes = integerParam(query, 'limitBytes')
  for (const value of [follow, previous, timestamps, sinceSeconds, tailLines, limitBytes]) if (isStatus(value)) return value
  const causes: Array<{field: string; message: string; reason?: string}> = []
  let sinceMs: number | undefined
  if (query.sinceTime !== undefined) {
    sinceMs = Date.parse(query.sinceTime)
    if (Number.isNaN(sinceMs)) return statuses.badRequest(`couldn't parse sinceTime ${JSON.stringify(query.sinceTime)}: parsing time as RFC3339`)
    if (sinceSeconds !== undefined) causes.push({field: '', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified', reason: 'FieldValueForbidden'})
  }
  if (typeof sinceSeconds === 'number') {
    if (sinceSeconds < 1) causes.push({field: 'sinceSeconds', message: `Invalid value: ${sinceSeconds}: must be greater than 0`})
    sinceMs = now - sinceSeconds * 1000
  }
  if (typeof tailLines === 'number' && tailLines < 0) causes.push({field: 'tailLines', message: `Invalid value: ${tailLines}: must be greater than or equal to 0`})
  if (typeof limitBytes === 'number' && limitBytes < 1) causes.push({field: 'limitBytes', message: `Invalid value: ${limitBytes}: must be greater than 0`})
  if (causes.length > 0) return statuses.invalid('PodLogOptions', {resource: 'pods', group: ''}, pod, causes)
  return {
    ...(query.container ? {container: query.container} : {}),
    follow: follow as boolean, previous: previous as boolean, timestamps: timestamps as boolean,
    ...(sinceMs !== undefined ? {sinceMs} : {}),
    ...(typeof tailLines === 'number' ? {tailLines} : {}),
    ...(typeof limitBytes === 'number' ? {limitBytes} : {}),
  }
}

/** Every container's log, keyed `namespace/pod/container`. */
export class ContainerLogs {
  private readonly current = new Map<string, LogLine[]>()
  private readonly previous = new Map<string, LogLine[]>()

  /** Appends text (split into lines, each stamped now); returns what a follower with these options should be sent. */
  append(key: string, text: string, ms = Date.now()): LogLine[] {
    const lines = text.split(/(?<=\n)/).filter((line) => line !== '').map((line) => ({ms, text: line}))
    this.current.set(key, [...(this.current.get(key) ?? []), ...lines])
    return lines
  }

  has(key: string, previous = false): boolean {
    return (previous ? this.previous : this.current).has(key)
  }

  /** The container restarted: what it wrote becomes the previous instance's log. */
  restart(key: string): void {
    this.previous.set(key, this.current.get(key) ?? [])
    this.current.set(key, [])
  }

  /** Forgets every container of a pod (`namespace/pod/`). */
  forgetPod(prefix: string): void {
    for (const map of [this.current, this.previous]) for (const key of [...map.keys()]) if (key.startsWith(prefix)) map.delete(key)
  }

  /** The text a request with these options gets. */
  read(key: string, options: LogOptions): string {
    let lines = (options.previous ? this.previous : this.current).get(key) ?? []
    if (options.sinceMs !== undefined) lines = lines.filter((line) => line.ms >= options.sinceMs!)
    if (options.tailLines !== undefined) lines = lines.slice(Math.max(0, lines.length - options.tailLines))
    const text = render(lines, options)
    return options.limitBytes === undefined ? text : Buffer.from(text).subarray(0, options.limitBytes).toString('utf8')
  }
}

export function render(lines: LogLine[], options: Pick<LogOptions, 'timestamps'>): string {
  return lines.map((line) => (options.timestamps ? `${rfc3339Nano(line.ms)} ${line.text}` : line.text)).join('')
}
