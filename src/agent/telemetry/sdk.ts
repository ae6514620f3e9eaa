// Owns the agent's OpenTelemetry SDK: the tracer and meter providers, the HTTP and gRPC instrumentations, the
// Prometheus reader behind GET /metrics, the optional OTLP/HTTP trace export, and every instrument the agent records.
// Only ./load.ts imports this module, by dynamic import, after the ESM loader hook is registered: no other command
// loads any OpenTelemetry code.

import type {Agent as HttpAgent, IncomingMessage, ServerResponse} from 'node:http'
import {hostname} from 'node:os'
import {performance} from 'node:perf_hooks'

import {
  type Attributes,
  type Context,
  context,
  type Counter,
  type Histogram,
  type Link,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type UpDownCounter,
} from '@opentelemetry/api'
import {PrometheusExporter} from '@opentelemetry/exporter-prometheus'
import {registerInstrumentations} from '@opentelemetry/instrumentation'
import {GrpcInstrumentation} from '@opentelemetry/instrumentation-grpc'
import {detectResources, envDetector, resourceFromAttributes} from '@opentelemetry/resources'
import {MeterProvider} from '@opentelemetry/sdk-metrics'
import {BatchSpanProcessor, NodeTracerProvider, type SpanProcessor} from '@opentelemetry/sdk-trace-node'
import type * as Grpc from '@grpc/grpc-js'

import type {DanubeConfig} from '../../lib/config/index.js'
import {type Job, type JobState, stepName, type StepState} from '../../lib/jobs/model.js'
import type {KubeCallInfo, KubeWatchEvent} from '../../lib/kube/index.js'
import {readDrainState} from '../../lib/store/drain.js'
import type {QueryTiming} from '../../lib/store/index.js'
import type {Logger} from '../logger.js'
import {ReservableIdGenerator} from './ids.js'
import {KeyedHistogram, KeyedHistogramProducer} from './histograms.js'
import {MetricsEndpoint} from './prometheus.js'
import {sqlOperation} from './sql.js'
import type {AgentTelemetry, JobTrace, RejectionReason, TelemetrySources} from './types.js'

export const SERVICE_NAME = 'danube-agent'
/** Distinct pipeline names exported as labels; later names are counted as `other` (label cardinality stays bounded). */
export const MAX_PIPELINE_NAMES = 200
export const OTHER_PIPELINE = 'other'

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
const DB_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
const K8S_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200]
/** Kubernetes failures that are the cluster's fault, not an expected answer (404 on a lookup, 409 on a create). */
const KUBE_SYSTEM_ERRORS = new Set(['KUBE_TIMEOUT', 'KUBE_UNREACHABLE', 'KUBE_SERVER_ERROR', 'KUBE_ERROR', 'KUBE_UNAUTHORIZED', 'KUBE_FORBIDDEN'])
/** Liveness and readiness probes: neither traced nor in http.server.request.duration. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/health/ready'])
/** Links remembered for admitted jobs not yet started; a bound, so a queue that never drains cannot grow it forever. */
const MAX_PENDING_LINKS = 10_000

export interface StartTelemetryOptions {
  config: DanubeConfig
  version: string
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Replaces the OTLP exporter (tests pass an in-memory exporter); spans then go through a SimpleSpanProcessor. */
  spanProcessors?: SpanProcessor[]
}

/** Where traces go: an OTLP/HTTP URL, or why none (unset, `none`, or invalid, with the variable to blame). */
export type OtlpTarget = {url: string} | {off: 'unset' | 'none'} | {invalid: string}

/**
 * The OTLP settings as the specification reads them: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else
 * OTEL_EXPORTER_OTLP_ENDPOINT or telemetry.otlp.endpoint (with /v1/traces appended); OTEL_TRACES_EXPORTER=none turns it off.
 */
export function otlpTarget(config: DanubeConfig, env: NodeJS.ProcessEnv): OtlpTarget {
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase()
  if (exporter === 'none') return {off: 'none'}
  const signal = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (signal) return validUrl(signal) ? {url: signal} : {invalid: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'}
  const general = config.telemetry?.otlp?.endpoint?.trim()
  if (!general) return {off: 'unset'}
  const variable = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
    ? 'OTEL_EXPORTER_OTLP_ENDPOINT'
    : env.DANUBE_TELEMETRY_OTLP_ENDPOINT?.trim()
      ? 'DANUBE_TELEMETRY_OTLP_ENDPOINT'
      : 'telemetry.otlp.endpoint'
  if (!validUrl(general)) return {invalid: variable}
  return {url: `${general.replace(/\/+$/, '')}/v1/traces`}
}

function validUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name])
  return env[name] !== undefined && env[name] !== '' && Number.isFinite(value) && value >= 0 ? value : fallback
}

export async function startTelemetry(options: StartTelemetryOptions): Promise<Telemetry> {
  const env = options.env ?? process.env
  const {logger} = options
  const resource = resourceFromAttributes({'service.name': SERVICE_NAME, 'service.version': options.version, 'host.name': hostname()}).merge(
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME override the defaults, as the specification says.
    detectResources({detectors: [envDetector]}),
  )

  const hot = hotHistograms()
  const prometheus = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [new KeyedHistogramProducer(resource, {name: SERVICE_NAME, version: options.version}, [hot.http, hot.db])],
  })
  const meterProvider = new MeterProvider({resource, readers: [prometheus]})
  metrics.setGlobalMeterProvider(meterProvider)

  const ids = new ReservableIdGenerator()
  // The exporter's sockets, so that shutdown can destroy one a hanging collector holds open (it would keep the
  // process alive past "agent stopped" for the whole export timeout).
  const transports: HttpAgent[] = []
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])]
  const target = otlpTarget(options.config, env)
  if (!options.spanProcessors) {
    if ('invalid' in target) {
      logger.warn(`${target.invalid} is not an http(s) URL such as http://collector:4318; exporting no traces`, {variable: target.invalid})
    } else if ('url' in target) {
      // Batching with a bounded queue: an unreachable or hanging collector costs a failed export in the
      // background, never a request or a job; spans that do not fit are dropped and counted
      // (otel_sdk_processor_span_processed_total{error_type="queue_full"}). Loaded only when configured (~100 ms).
      const {OTLPTraceExporter} = await import('@opentelemetry/exporter-trace-otlp-http')
      processors.push(
        new BatchSpanProcessor(new OTLPTraceExporter({
          url: target.url,
          timeoutMillis: envNumber(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000),
          httpAgentOptions: async (protocol) => {
            const module = protocol === 'https:' ? await import('node:https') : await import('node:http')
            const agent = new module.Agent({keepAlive: true})
            transports.push(agent)
            return agent
          },
        }), {
          maxQueueSize: envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
          maxExportBatchSize: envNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
          scheduledDelayMillis: envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
          exportTimeoutMillis: envNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000),
          selfObsMeterProvider: meterProvider,
        } as ConstructorParameters<typeof BatchSpanProcessor>[1]),
      )
      logger.info('exporting traces over OTLP/HTTP', {url: new URL(target.url).origin + new URL(target.url).pathname})
    }
  }
  const tracerProvider = new NodeTracerProvider({resource, idGenerator: ids, spanProcessors: processors})
  // Spans leave the process only through a span processor (the OTLP exporter, or a test's in-memory one).
  tracerProvider.register()

  // HTTP server spans and http.server.request.duration are made by observeHttpRequest, in the agent's own route
  // hook, not by @opentelemetry/instrumentation-http: its patching of node:http bound every request's and response's
  // event listeners to the context, parsed each request's headers twice and cost the agent about a third of its
  // admission throughput (bench/README.md). Outgoing HTTP needs no instrumentation: the Kubernetes client's calls
  // become spans through its call hook.
  registerInstrumentations({tracerProvider, meterProvider, instrumentations: [new GrpcInstrumentation()]})
  // Loaded after the instrumentations are enabled: this is the module they patch.
  const grpc = await import('@grpc/grpc-js')
  return new Telemetry({
    tracer: trace.getTracer(SERVICE_NAME, options.version),
    meterProvider,
    tracerProvider,
    prometheus,
    ids,
    grpc,
    logger,
    hot,
    exportsSpans: processors.length > 0,
    closeTransports: () => transports.forEach((agent) => agent.destroy()),
  })
}

/** The histograms recorded on every request and every query (./histograms.ts says why they are not the SDK's). */
interface HotHistograms {
  http: KeyedHistogram
  db: KeyedHistogram
}

function hotHistograms(): HotHistograms {
  return {
    http: new KeyedHistogram({name: 'http.server.request.duration', unit: 's', description: 'Duration of HTTP server requests.', boundaries: HTTP_BUCKETS}),
    db: new KeyedHistogram({name: 'db.client.operation.duration', unit: 's', description: 'Duration of SQLite operations of the agent.', boundaries: DB_BUCKETS}),
  }
}

interface TelemetryParts {
  tracer: Tracer
  meterProvider: MeterProvider
  tracerProvider: NodeTracerProvider
  prometheus: PrometheusExporter
  ids: ReservableIdGenerator
  grpc: typeof Grpc
  logger: Logger
  hot: HotHistograms
  /** Whether any span processor takes finished spans; without one an HTTP request's span could go nowhere. */
  exportsSpans: boolean
  closeTransports: () => void
}

/** Maps operator-chosen pipeline names onto at most MAX_PIPELINE_NAMES label values. */
export class PipelineNames {
  private readonly known = new Set<string>()
  constructor(private readonly limit = MAX_PIPELINE_NAMES) {}

  label(name: string): string {
    if (this.known.has(name)) return name
    if (this.known.size >= this.limit) return OTHER_PIPELINE
    this.known.add(name)
    return name
  }
}

/** cicd.pipeline.result of a finished job. */
export function pipelineResult(state: JobState, reason: string | null): string {
  if (state === 'succeeded') return 'success'
  if (state === 'cancelled') return 'cancellation'
  if (reason === 'timeout') return 'timeout'
  if (reason === 'exit-code') return 'failure'
  return 'error'
}

function stepResult(state: StepState): string {
  switch (state) {
    case 'succeeded':
      return 'success'
    case 'cancelled':
      return 'cancellation'
    case 'skipped':
      return 'skip'
    default:
      return 'failure'
  }
}

function secondsBetween(from: string | null, to: string | null): number | undefined {
  if (!from || !to) return undefined
  const ms = Date.parse(to) - Date.parse(from)
  return Number.isFinite(ms) ? Math.max(0, ms) / 1000 : undefined
}

const HEALTH_VALUE = {pass: 0, warn: 1, fail: 2} as const

/** The methods the HTTP conventions know; any other is reported as `_OTHER` (bounded cardinality). */
const HTTP_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'])
/** error.type of a request whose client went away before the response was complete. */
const HTTP_ABORTED = 'aborted'

function requestPath(target: string | undefined): string {
  const text = target ?? '/'
  const cut = text.search(/[?#]/)
  return cut === -1 ? text : text.slice(0, cut)
}

/** server.address and server.port from the Host header, as the HTTP server conventions derive them. */
function hostAttributes(host: string | undefined, attributes: Attributes): void {
  if (!host) return
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host)
  if (!match) return
  attributes['server.address'] = match[1]!
  if (match[2]) attributes['server.port'] = Number(match[2])
}

export class Telemetry implements AgentTelemetry {
  readonly grpcInterceptors: Grpc.ServerInterceptor[]
  private readonly tracer: Tracer
  private readonly names = new PipelineNames()
  private readonly endpoint: MetricsEndpoint
  private readonly links = new Map<string, SpanContext>()
  private readonly runs = new Map<string, RunTrace>()
  /** Per SQL text: the series it is counted in (statements with the same operation and table share one). */
  private readonly querySeries = new Map<string, {key: string; attributes: Attributes}>()
  private readonly httpSeries = new Map<string, Attributes>()
  private readonly startedAt = Date.now()
  private readonly rpcDuration: Histogram
  private readonly kubeDuration: Histogram
  private readonly watchesOpen: UpDownCounter
  private readonly watchRestarts: Counter
  private readonly watchRelists: Counter
  private readonly runDuration: Histogram
  private readonly runErrors: Counter
  private readonly systemErrors: Counter
  private readonly rejected: Counter
  private shutdownOnce?: Promise<void>

  constructor(private readonly parts: TelemetryParts) {
    this.tracer = parts.tracer
    const meter = parts.meterProvider.getMeter(SERVICE_NAME)
    this.endpoint = new MetricsEndpoint(parts.prometheus, (error) => parts.logger.warn('a metric could not be collected', {error: String(error)}))
    this.rpcDuration = meter.createHistogram('rpc.server.call.duration', {
      unit: 's',
      description: 'Duration of incoming gRPC calls.',
      advice: {explicitBucketBoundaries: HTTP_BUCKETS},
    })
    this.kubeDuration = meter.createHistogram('danube.k8s.client.request.duration', {
      unit: 's',
      description: 'Duration of Kubernetes API requests (watch streams are counted by danube.k8s.watch.*, not here).',
      advice: {explicitBucketBoundaries: K8S_BUCKETS},
    })
    this.watchesOpen = meter.createUpDownCounter('danube.k8s.watch.active', {unit: '{watch}', description: 'Kubernetes watch streams open now.'})
    this.watchRestarts = meter.createCounter('danube.k8s.watch.restarts', {
      unit: '{watch}',
      description: 'Kubernetes watch streams that ended without being asked to and are re-established.',
    })
    this.watchRelists = meter.createCounter('danube.k8s.watch.relists', {
      unit: '{watch}',
      description: 'Kubernetes watch streams ended by 410 Gone (resource version expired): the watcher lists again.',
    })
    this.runDuration = meter.createHistogram('cicd.pipeline.run.duration', {
      unit: 's',
      description: 'Time jobs spend pending (queued or deferred) and executing.',
      advice: {explicitBucketBoundaries: RUN_BUCKETS},
    })
    this.runErrors = meter.createCounter('cicd.pipeline.run.errors', {unit: '{error}', description: 'Jobs that ended failed, by error type (the job reason).'})
    this.systemErrors = meter.createCounter('cicd.system.errors', {
      unit: '{error}',
      description: 'Failures of the agent itself (database, Kubernetes API, executor), not of the jobs it runs.',
    })
    this.rejected = meter.createCounter('danube.jobs.rejected', {unit: '{job}', description: 'Triggers not admitted, by reason.'})
    this.grpcInterceptors = [this.rpcInterceptor()]
  }

  onQuery = (timing: QueryTiming): void => {
    // The statement's series is worked out once: this runs for every query.
    let series = this.querySeries.get(timing.sql)
    if (!series) {
      const {operation, collection} = sqlOperation(timing.sql)
      series = {
        key: `${operation}\u0000${collection ?? ''}`,
        attributes: {'db.system.name': 'sqlite', 'db.operation.name': operation, ...(collection ? {'db.collection.name': collection} : {})},
      }
      // The agent's statements are a fixed set; a cap guards the memory all the same.
      if (this.querySeries.size < 1000) this.querySeries.set(timing.sql, series)
    }
    if (timing.ok) {
      this.parts.hot.db.record(timing.durationMs / 1000, series.key, series.attributes)
      return
    }
    const errorType = timing.errorCode ?? 'error'
    this.parts.hot.db.record(timing.durationMs / 1000, `${series.key}\u0000${errorType}`, {...series.attributes, 'error.type': errorType})
    this.systemError('store', errorType)
  }

  onKubeCall = (call: KubeCallInfo): void => {
    const attributes: Attributes = {'k8s.verb': call.verb, 'k8s.resource': call.resource}
    if (call.statusCode !== undefined) attributes['http.response.status_code'] = call.statusCode
    if (call.error) attributes['error.type'] = call.error.code
    // A watch's "duration" is how long it took to connect; the stream itself is counted by the watch metrics.
    if (call.verb !== 'watch') this.kubeDuration.record(call.durationMs / 1000, attributes)
    // A watch refused at connect with 410 Gone also makes the watcher list again (one mid-stream comes through onKubeWatch).
    else if (call.error?.code === 'KUBE_GONE') this.watchRelists.add(1, {'k8s.resource': call.resource})
    if (call.error && KUBE_SYSTEM_ERRORS.has(call.error.code)) this.systemError('kubernetes', call.error.code)
    this.kubeSpan(call, attributes)
  }

  onKubeWatch = (event: KubeWatchEvent): void => {
    const attributes = {'k8s.resource': event.resource}
    if (event.event === 'opened') {
      this.watchesOpen.add(1, attributes)
      return
    }
    this.watchesOpen.add(-1, attributes)
    if (event.aborted) return
    this.watchRestarts.add(1, attributes)
    if (event.error?.code === 'KUBE_GONE') this.watchRelists.add(1, attributes)
  }

  /**
   * A SERVER span per request, child of the caller's `traceparent`, active while the handler runs (a trigger links
   * its job to it), and one http.server.request.duration sample when the response ends. Probes (systemd, the
   * kubelet, cron, load balancers) are the most frequent requests and the cheapest: neither traced nor timed; their
   * verdict is in danube_health_*. Only the span carries per-request values (path, client, user agent); the metric's
   * attributes are one shared object per method, route, status and protocol version.
   *
   * With no span processor (no OTLP endpoint: the default) the request gets no span: nothing could ever read it, nor
   * the job's link to it, which is only in the job's span. Making it anyway, with the context around the handler
   * that switches on Node 20's async hooks for every promise, cost about a tenth of the admission throughput
   * (bench/README.md). Jobs and steps keep their spans in every case: their ids are the steps' TRACEPARENT.
   */
  observeHttpRequest = (req: IncomingMessage, res: ServerResponse, template: string | undefined, handle: () => Promise<void>): Promise<void> => {
    const path = requestPath(req.url)
    if (PROBE_PATHS.has(path)) return handle()
    const started = performance.now()
    const method = HTTP_METHODS.has(req.method ?? '') ? req.method! : '_OTHER'
    const span = this.parts.exportsSpans ? this.startHttpSpan(req, path, method, template) : undefined
    res.once('close', () => {
      const complete = res.writableFinished
      const status = res.headersSent ? res.statusCode : undefined
      const errorType = !complete ? HTTP_ABORTED : status !== undefined && status >= 500 ? String(status) : undefined
      this.recordHttpDuration((performance.now() - started) / 1000, method, template, status, req.httpVersion, errorType)
      if (!span) return
      if (status !== undefined) span.span.setAttribute('http.response.status_code', status)
      if (errorType) {
        span.span.setAttribute('error.type', errorType)
        span.span.setStatus({code: SpanStatusCode.ERROR})
      }
      span.span.end()
    })
    return span ? context.with(span.context, handle) : handle()
  }

  private startHttpSpan(req: IncomingMessage, path: string, method: string, template: string | undefined): {span: Span; context: Context} {
    const attributes: Attributes = {
      'http.request.method': method,
      'url.scheme': 'http',
      'url.path': path,
      'network.protocol.version': req.httpVersion,
    }
    if (method === '_OTHER') attributes['http.request.method_original'] = req.method ?? ''
    if (template) attributes['http.route'] = template
    hostAttributes(req.headers.host, attributes)
    if (req.socket.remoteAddress) attributes['client.address'] = req.socket.remoteAddress
    const agent = req.headers['user-agent']
    if (agent) attributes['user_agent.original'] = agent
    const parent = propagation.extract(ROOT_CONTEXT, req.headers)
    const span = this.tracer.startSpan(template ? `${method} ${template}` : method, {kind: SpanKind.SERVER, attributes}, parent)
    return {span, context: trace.setSpan(parent, span)}
  }

  private recordHttpDuration(seconds: number, method: string, template: string | undefined, status: number | undefined, version: string, errorType: string | undefined): void {
    const key = `${method} ${template ?? ''} ${status ?? ''} ${version} ${errorType ?? ''}`
    let attributes = this.httpSeries.get(key)
    if (!attributes) {
      attributes = {'http.request.method': method, 'url.scheme': 'http', 'network.protocol.version': version}
      if (template) attributes['http.route'] = template
      if (status !== undefined) attributes['http.response.status_code'] = status
      if (errorType) attributes['error.type'] = errorType
      // Bounded anyway (methods, templates and statuses are few); the histogram caps its series besides.
      if (this.httpSeries.size < 1000) this.httpSeries.set(key, attributes)
    }
    this.parts.hot.http.record(seconds, key, attributes)
  }

  systemError(component: string, errorType: string): void {
    this.systemErrors.add(1, {'cicd.system.component': component, 'error.type': errorType})
  }

  jobRejected(reason: RejectionReason): void {
    this.rejected.add(1, {reason})
  }

  jobAdmitted(job: Job): void {
    const span = trace.getSpan(context.active())
    if (!span || !trace.isSpanContextValid(span.spanContext())) return
    if (this.links.size >= MAX_PENDING_LINKS) this.links.delete(this.links.keys().next().value!)
    this.links.set(job.id, span.spanContext())
  }

  jobStarted(job: Job): JobTrace {
    const link = this.links.get(job.id)
    this.links.delete(job.id)
    const run = new RunTrace(this.tracer, this.parts.ids, job, link, () => this.runs.delete(job.id))
    this.runs.set(job.id, run)
    return run
  }

  bind(sources: TelemetrySources): void {
    const meter = this.parts.meterProvider.getMeter(SERVICE_NAME)
    sources.runner.on('job-started', (job) => {
      const pending = secondsBetween(job.createdAt, job.startedAt)
      if (pending !== undefined) this.runDuration.record(pending, {'cicd.pipeline.name': this.names.label(job.name), 'cicd.pipeline.run.state': 'pending'})
    })
    sources.runner.on('job-finished', (job) => {
      const name = this.names.label(job.name)
      const result = pipelineResult(job.state, job.reason)
      const attributes: Attributes = {'cicd.pipeline.name': name, 'cicd.pipeline.result': result}
      if (result !== 'success' && result !== 'cancellation' && job.reason) attributes['error.type'] = job.reason
      if (job.startedAt) {
        const executing = secondsBetween(job.startedAt, job.finishedAt)
        if (executing !== undefined) this.runDuration.record(executing, {...attributes, 'cicd.pipeline.run.state': 'executing'})
      } else {
        // Cancelled while it waited: its whole life was pending.
        const pending = secondsBetween(job.createdAt, job.finishedAt)
        if (pending !== undefined) this.runDuration.record(pending, {...attributes, 'cicd.pipeline.run.state': 'pending'})
      }
      if (job.state === 'failed') this.runErrors.add(1, {'cicd.pipeline.name': name, 'error.type': job.reason ?? 'error'})
      if (job.reason === 'executor-error') this.systemError('executor', 'executor-error')
    })

    const activeSeen = new Set<string>()
    meter
      .createObservableUpDownCounter('cicd.pipeline.run.active', {unit: '{run}', description: 'Jobs pending (queued, deferred) and executing, counted in SQLite.'})
      .addCallback((result) => {
        const rows = sources.store.all<{name: string; state: JobState; count: number}>(
          `SELECT name, state, count(*) AS count FROM jobs WHERE state IN ('queued', 'deferred', 'running') GROUP BY name, state`,
        )
        const totals = new Map<string, number>()
        // Both states always appear (at 0), so a query on them returns data on an idle agent too; and every series
        // once reported is reported again (at 0 when its runs are gone): the SDK would otherwise repeat its last value.
        for (const state of ['pending', 'executing']) totals.set(`\u0000${state}`, 0)
        for (const key of activeSeen) totals.set(key, 0)
        for (const row of rows) {
          const key = `${this.names.label(row.name)}\u0000${row.state === 'running' ? 'executing' : 'pending'}`
          totals.set(key, (totals.get(key) ?? 0) + row.count)
        }
        for (const [key, count] of totals) {
          activeSeen.add(key)
          const [name, state] = key.split('\u0000') as [string, string]
          result.observe(count, {...(name ? {'cicd.pipeline.name': name} : {}), 'cicd.pipeline.run.state': state})
        }
      })
    meter.createObservableGauge('danube.drain.active', {description: 'Whether a drain is in progress (1) or not (0).'}).addCallback((result) => {
      result.observe(readDrainState(sources.store).state === 'draining' ? 1 : 0)
    })
    meter
      .createObservableGauge('danube.drain.deadline.timestamp', {unit: 's', description: 'Deadline of the drain in progress (Unix time); 0 without one.'})
      .addCallback((result) => {
        const drain = readDrainState(sources.store)
        // 0 rather than absent: the SDK repeats a series' last value once it stops being reported.
        result.observe(drain.state === 'draining' && drain.deadlineAt ? Date.parse(drain.deadlineAt) / 1000 : 0)
      })
    meter
      .createObservableGauge('danube.health.check.status', {description: 'Last result of each health check: 0 pass, 1 warn, 2 fail.'})
      .addCallback((result) => {
        for (const [check, status] of Object.entries(sources.healthChecks())) result.observe(HEALTH_VALUE[status], {check})
      })
    meter.createObservableGauge('danube.health.status', {description: 'Overall readiness: 0 pass, 1 warn, 2 fail.'}).addCallback((result) => {
      const status = sources.readiness()
      if (status) result.observe(HEALTH_VALUE[status])
    })
    if (sources.cacEnabled) {
      meter
        .createObservableGauge('danube.cac.sync.age', {unit: 's', description: 'Time since the last successful config-as-code sync (since agent start when none yet).'})
        .addCallback((result) => {
          const row = sources.store.get<{finished_at: string | null}>('SELECT finished_at FROM cac_syncs WHERE ok = 1 ORDER BY finished_at DESC LIMIT 1')
          const last = row?.finished_at ? Date.parse(row.finished_at) : this.startedAt
          result.observe(Math.max(0, Date.now() - last) / 1000)
        })
    }
  }

  serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.endpoint.serve(req, res)
  }

  /** The exposition as text (tests, benchmarks). */
  renderMetrics(): Promise<string> {
    return this.endpoint.render()
  }

  shutdown(): Promise<void> {
    this.shutdownOnce ??= (async () => {
      // Bounded: a hanging collector must not hold the agent's exit past its grace period.
      const bounded = (promise: Promise<unknown>) =>
        Promise.race([promise.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
      await bounded(this.parts.tracerProvider.shutdown())
      await bounded(this.parts.meterProvider.shutdown())
      this.parts.closeTransports()
    })()
    return this.shutdownOnce
  }

  private kubeSpan(call: KubeCallInfo, attributes: Attributes): void {
    let parent: Context | undefined = trace.getSpan(context.active()) ? context.active() : undefined
    if (!parent && call.name) {
      for (const [id, run] of this.runs) {
        if (call.name.startsWith(`danube-${id}`.toLowerCase())) parent = run.context
      }
    }
    // Calls made for nothing traced (the health checks' polling) would only be noise as root spans.
    if (!parent) return
    const end = performance.timeOrigin + performance.now()
    const span = this.tracer.startSpan(
      `${call.verb} ${call.resource}`,
      {kind: SpanKind.CLIENT, startTime: end - call.durationMs, attributes: {...attributes, ...(call.namespace ? {'k8s.namespace.name': call.namespace} : {})}},
      parent,
    )
    if (call.error) span.setStatus({code: SpanStatusCode.ERROR, message: call.error.code})
    span.end(end)
  }

  private rpcInterceptor(): Grpc.ServerInterceptor {
    const {grpc} = this.parts
    const statusNames = Object.fromEntries(Object.entries(grpc.status).filter(([, value]) => typeof value === 'number').map(([key, value]) => [value, key]))
    return (methodDescriptor, call) => {
      const started = performance.now()
      // "/danube.v1.JobService/Trigger" → "danube.v1.JobService/Trigger": the fully qualified method of the conventions.
      const method = methodDescriptor.path.replace(/^\//, '')
      return new grpc.ServerInterceptingCall(call, {
        sendStatus: (status, next) => {
          const code = statusNames[status.code] ?? String(status.code)
          const attributes: Attributes = {'rpc.system.name': 'grpc', 'rpc.method': method, 'rpc.status_code': code}
          if (code !== 'OK') attributes['error.type'] = code
          this.rpcDuration.record((performance.now() - started) / 1000, attributes)
          next(status)
        },
      })
    }
  }
}

class RunTrace implements JobTrace {
  readonly context: Context
  private readonly span: Span
  private readonly reserved = new Map<number, string>()
  private readonly steps = new Map<number, Span>()

  constructor(
    private readonly tracer: Tracer,
    private readonly ids: ReservableIdGenerator,
    private readonly job: Job,
    link: SpanContext | undefined,
    private readonly onEnd: () => void,
  ) {
    const links: Link[] = link ? [{context: link}] : []
    // A pipeline run is a SERVER span named "{action} {pipeline}" and starts a trace of its own; the trigger is a link.
    this.span = tracer.startSpan(
      `RUN ${job.name}`,
      {
        kind: SpanKind.SERVER,
        root: true,
        links,
        attributes: {'cicd.pipeline.name': job.name, 'cicd.pipeline.run.id': job.id, 'cicd.pipeline.action.name': 'RUN', 'danube.executor': job.executor},
      },
    )
    this.context = trace.setSpan(context.active(), this.span)
  }

  stepEnv(index: number): Record<string, string> {
    const parent = this.span.spanContext()
    let spanId = this.steps.get(index)?.spanContext().spanId ?? this.reserved.get(index)
    if (!spanId) {
      spanId = this.ids.reserveSpanId()
      this.reserved.set(index, spanId)
    }
    const flags = (parent.traceFlags & 1).toString(16).padStart(2, '0')
    const env: Record<string, string> = {TRACEPARENT: `00-${parent.traceId}-${spanId}-${flags}`}
    const state = parent.traceState?.serialize()
    if (state) env.TRACESTATE = state
    return env
  }

  stepStarted(index: number): void {
    if (this.steps.has(index)) return
    const name = stepName(this.job.spec, index)
    const span = this.ids.startWithId(this.reserved.get(index), () =>
      this.tracer.startSpan(
        name,
        {kind: SpanKind.INTERNAL, attributes: {'cicd.pipeline.task.name': name, 'cicd.pipeline.task.run.id': `${this.job.id}/${index}`}},
        this.context,
      ),
    )
    this.steps.set(index, span)
  }

  stepFinished(index: number, state: StepState, exitCode: number | null): void {
    const span = this.steps.get(index)
    if (!span) return
    const result = stepResult(state)
    span.setAttribute('cicd.pipeline.task.run.result', result)
    if (exitCode !== null) span.setAttribute('process.exit.code', exitCode)
    if (result === 'failure') span.setStatus({code: SpanStatusCode.ERROR, message: exitCode === null ? state : `exit code ${exitCode}`})
    span.end()
    this.steps.delete(index)
    this.reserved.set(index, span.spanContext().spanId)
  }

  within<T>(fn: () => T): T {
    return context.with(this.context, fn)
  }

  end(job: Job): void {
    for (const [index] of this.steps) this.stepFinished(index, 'cancelled', null)
    const result = pipelineResult(job.state, job.reason)
    this.span.setAttribute('cicd.pipeline.result', result)
    if (result !== 'success' && result !== 'cancellation') {
      this.span.setAttribute('error.type', job.reason ?? 'error')
      this.span.setStatus({code: SpanStatusCode.ERROR, message: job.reason ?? job.state})
    }
    this.span.end()
    this.onEnd()
  }
}
