// Owns the /metrics answer: the SDK's metrics in the Prometheus text format, named as the OpenTelemetry Collector
// and the Go and .NET SDKs name them (unit suffixes such as `_seconds`, `_total` on counters). The JS exporter adds
// `_total` but never a unit suffix (opentelemetry-js#3466), so the names are rewritten here before its serializer runs:
// dashboards and alert rules are written against one set of names, whichever SDK a reader knows.

import type {IncomingMessage, ServerResponse} from 'node:http'

import {PrometheusSerializer, type PrometheusExporter} from '@opentelemetry/exporter-prometheus'
import {DataPointType, type MetricData, type ResourceMetrics} from '@opentelemetry/sdk-metrics'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** The Collector's unit → suffix table (prometheus translator), for the units this agent uses and their kin. */
const UNIT_WORDS: Record<string, string> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '%': 'percent',
}

/** `http.server.request.duration` + `s` → `http_server_request_duration_seconds` (the serializer adds `_total`). */
export function prometheusName(metric: Pick<MetricData, 'descriptor' | 'dataPointType'>): {name: string; unit: string} {
  const base = metric.descriptor.name.replaceAll(/[^a-zA-Z0-9_:]/g, '_').replaceAll(/_+/g, '_')
  const unit = metric.descriptor.unit
  // Annotations such as `{run}` carry no unit; `1` is a ratio only on gauges.
  let word = unit.startsWith('{') ? '' : (UNIT_WORDS[unit] ?? '')
  if (unit === '1' && metric.dataPointType === DataPointType.GAUGE) word = 'ratio'
  if (!word && unit && !unit.startsWith('{') && unit !== '1') word = unit.replaceAll('/', '_per_').replaceAll(/[^a-zA-Z0-9_]/g, '_')
  const name = word && !base.endsWith(`_${word}`) ? `${base}_${word}` : base
  return {name, unit: word}
}

export function renameForPrometheus(resourceMetrics: ResourceMetrics): ResourceMetrics {
  return {
    resource: resourceMetrics.resource,
    scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
      scope: scope.scope,
      metrics: scope.metrics.map((metric) => {
        const {name, unit} = prometheusName(metric)
        return {...metric, descriptor: {...metric.descriptor, name, unit}} as MetricData
      }),
    })),
  }
}

export class MetricsEndpoint {
  // (prefix, appendTimestamp, withResourceConstantLabels, withoutTargetInfo, withoutScopeInfo): scope labels are
  // left out so that a series does not change name when a metric moves between instrumentation libraries.
  private readonly serializer = new PrometheusSerializer('', false, undefined, false, true)

  constructor(
    private readonly reader: PrometheusExporter,
    private readonly onCollectError: (error: unknown) => void,
  ) {}

  async render(): Promise<string> {
    const {resourceMetrics, errors} = await this.reader.collect()
    for (const error of errors) this.onCollectError(error)
    return this.serializer.serialize(renameForPrometheus(resourceMetrics))
  }

  async serve(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await this.render()
    res.writeHead(200, {'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text)})
    res.end(text)
  }
}
