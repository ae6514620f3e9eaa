// Owns the two histograms recorded on the agent's hot paths, http.server.request.duration (every request) and
// db.client.operation.duration (every SQLite query: five per admission): aggregated here per attribute set and
// handed to the metric reader through the SDK's MetricProducer interface, so /metrics shows them like any other.
// Written by hand because the SDK hashes a sample's attributes (sorted keys, then JSON.stringify) on every record:
// about 2 µs each, six per admission, the largest share of what telemetry cost the agent's admission throughput
// (bench/README.md). Here a record is one Map lookup by a key the caller already holds, and a bucket increment.
// Every other instrument is the SDK's.

import {type Attributes, type HrTime, ValueType} from '@opentelemetry/api'
import type {Resource} from '@opentelemetry/resources'
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics'

/** Attribute sets kept per histogram, as the SDK's default cardinality limit; later ones are counted as overflow. */
export const MAX_SERIES = 2000
const OVERFLOW: Attributes = {'otel.metric.overflow': true}

export interface HistogramOptions {
  name: string
  unit: string
  description: string
  /** Inclusive upper bounds, ascending, as the SDK's explicit-bucket aggregation takes them. */
  boundaries: number[]
}

interface Series {
  attributes: Attributes
  startTime: HrTime
  counts: number[]
  sum: number
  count: number
  min: number
  max: number
}

function now(): HrTime {
  const ms = performance.timeOrigin + performance.now()
  const seconds = Math.floor(ms / 1000)
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)]
}

/** A cumulative explicit-bucket histogram whose series are found by a caller-held key, never by hashing attributes. */
export class KeyedHistogram {
  private readonly series = new Map<string, Series>()

  constructor(readonly options: HistogramOptions) {}

  /** `attributes` is read only when `key` is new: callers keep one key per attribute set. NaN is not counted. */
  record(value: number, key: string, attributes: Attributes): void {
    if (Number.isNaN(value)) return
    let series = this.series.get(key)
    if (!series) series = this.add(key, attributes)
    series.count++
    series.sum += value
    if (value < series.min) series.min = value
    if (value > series.max) series.max = value
    const {boundaries} = this.options
    let bucket = 0
    while (bucket < boundaries.length && value > boundaries[bucket]!) bucket++
    series.counts[bucket]!++
  }

  metric(endTime: HrTime): HistogramMetricData {
    const {name, unit, description, boundaries} = this.options
    return {
      descriptor: {name, unit, description, valueType: ValueType.DOUBLE},
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...this.series.values()].map((series) => ({
        attributes: series.attributes,
        startTime: series.startTime,
        endTime,
        value: {
          buckets: {boundaries, counts: [...series.counts]},
          sum: series.sum,
          count: series.count,
          min: series.min,
          max: series.max,
        },
      })),
    }
  }

  private add(key: string, attributes: Attributes): Series {
    const overflow = this.series.size >= MAX_SERIES - 1
    const id = overflow ? '\u0000overflow' : key
    let series = this.series.get(id)
    if (!series) {
      series = {attributes: overflow ? OVERFLOW : {...attributes}, startTime: now(), counts: new Array<number>(this.options.boundaries.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity}
      this.series.set(id, series)
    }
    return series
  }
}

/** The keyed histograms as a MetricProducer: the Prometheus reader merges what it returns with the SDK's metrics. */
export class KeyedHistogramProducer implements MetricProducer {
  constructor(
    private readonly resource: Resource,
    private readonly scope: {name: string; version: string},
    private readonly histograms: KeyedHistogram[],
  ) {}

  collect(): Promise<CollectionResult> {
    const endTime = now()
    return Promise.resolve({
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: [{scope: this.scope, metrics: this.histograms.map((histogram) => histogram.metric(endTime))}],
      },
      errors: [],
    })
  }
}
