// Telemetry test helpers: reading a Prometheus exposition, running the real promtool on it, and a loopback OTLP/HTTP
// receiver (no collector is packaged for Debian or npm) that decodes the OTLP JSON the agent's exporter sends and can
// refuse or hang on purpose.

import {spawn} from 'node:child_process'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Samples of a text exposition (`name{a="b"} 1`); comments are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!match) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replaceAll('\\"', '"').replaceAll('\\\\', '\\')
    samples.push({name: match[1]!, labels, value: Number(match[3])})
  }
  return samples
}

/** The samples named `name` whose labels include `labels`. */
export function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
}

/** Sum of the matching samples' values (0 when none). */
export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return find(samples, name, labels).reduce((sum, sample) => sum + sample.value, 0)
}

/** `# TYPE name kind` lines of an exposition. */
export function metricTypes(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]))
}

export interface ToolResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a tool (promtool) with stdin; resolves with its exit code and output. */
export function runTool(command: string, args: string[], input = ''): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) => resolve({code: code ?? -1, stdout, stderr}))
    child.stdin.end(input)
  })
}

export interface ReceivedSpan {
  name: string
  kind: number
  traceId: string
  spanId: string
  parentSpanId: string
  attributes: Record<string, unknown>
  links: Array<{traceId: string; spanId: string}>
  status: {code?: number; message?: string}
  resource: Record<string, unknown>
  scope: string
}

interface OtlpValue {
  stringValue?: string
  intValue?: number | string
  doubleValue?: number
  boolValue?: boolean
}

function value(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.boolValue !== undefined) return v.boolValue
  return undefined
}

function attributes(list: Array<{key: string; value: OtlpValue}> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((entry) => [entry.key, value(entry.value)]))
}

export type ReceiverMode = 'accept' | 'refuse' | 'hang'

/** A loopback OTLP/HTTP receiver: POST /v1/traces with OTLP JSON. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  /** Path and headers of every request received. */
  readonly received: Array<{path: string; headers: Record<string, string | string[] | undefined>}> = []
  requests = 0
  private server?: Server
  private readonly hanging: ServerResponse[] = []
  private readonly waiters = new Set<() => void>()

  constructor(public mode: ReceiverMode = 'accept') {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy()
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  /** Resolves once a span matching predicate has arrived. */
  waitForSpan(predicate: (span: ReceivedSpan) => boolean, timeoutMs = 15_000): Promise<ReceivedSpan> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const span = this.spans.find(predicate)
        if (!span) return false
        this.waiters.delete(check as () => void)
        clearTimeout(timer)
        resolve(span)
        return true
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check as () => void)
        reject(new Error(`no matching span within ${timeoutMs} ms; received: ${this.spans.map((s) => s.name).join(', ')}`))
      }, timeoutMs)
      if (!check()) this.waiters.add(check as () => void)
    })
  }

  /** Resolves once `count` export requests have arrived (whatever the mode). */
  async waitForRequests(count: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.requests < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.requests} OTLP requests within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake)
          resolve()
        }
        this.waiters.add(wake)
        setTimeout(wake, 100)
      })
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
    this.requests++
    this.received.push({path: req.url ?? '', headers: req.headers})
    if (this.mode === 'hang') {
      this.hanging.push(res)
      this.notify()
      return
    }
    if (this.mode === 'refuse') {
      res.writeHead(503, {'Content-Type': 'application/json'}).end('{}')
      this.notify()
      return
    }
    if (req.method === 'POST') this.decode(JSON.parse(Buffer.concat(chunks).toString('utf8')))
    res.writeHead(200, {'Content-Type': 'application/json'}).end('{}')
    this.notify()
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  private decode(body: {resourceSpans?: Array<{resource?: {attributes?: Array<{key: string; value: OtlpValue}>}; scopeSpans?: Array<{scope?: {name?: string}; spans?: Array<Record<string, unknown>>}>}>}): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const resource = attributes(resourceSpans.resource?.attributes)
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            name: span.name as string,
            kind: span.kind as number,
            traceId: span.traceId as string,
            spanId: span.spanId as string,
            parentSpanId: (span.parentSpanId as string | undefined) ?? '',
            attributes: attributes(span.attributes as Array<{key: string; value: OtlpValue}>),
            links: ((span.links as Array<{traceId: string; spanId: string}> | undefined) ?? []).map((link) => ({traceId: link.traceId, spanId: link.spanId})),
            status: (span.status as {code?: number; message?: string} | undefined) ?? {},
            resource,
            scope: scopeSpans.scope?.name ?? '',
          })
        }
      }
    }
  }
}

export const SPAN_KIND = {INTERNAL: 1, SERVER: 2, CLIENT: 3} as const
