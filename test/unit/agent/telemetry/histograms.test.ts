// The hand-aggregated hot-path histograms must read exactly as the SDK's own explicit-bucket histograms would:
// same buckets for the same samples (a value on a boundary included in that bucket), sum, count, min and max, and
// a bounded number of series.

import {ValueType} from '@opentelemetry/api'
import {resourceFromAttributes} from '@opentelemetry/resources'
import {AggregationTemporality, DataPointType, type Histogram, MeterProvider, MetricReader} from '@opentelemetry/sdk-metrics'
import {describe, expect, it} from 'vitest'

import {KeyedHistogram, KeyedHistogramProducer, MAX_SERIES} from '../../../../src/agent/telemetry/histograms.js'

class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }

  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const boundaries = [0.001, 0.005, 0.01, 0.05, 0.1]
const samples = [0, 0.0005, 0.001, 0.0010001, 0.005, 0.03, 0.1, 0.2, 7, Number.NaN]

describe('KeyedHistogram', () => {
  it('agrees with the SDK explicit-bucket histogram on the same samples', async () => {
    const reader = new CollectingReader()
    const provider = new MeterProvider({readers: [reader]})
    const sdk = provider.getMeter('test').createHistogram('db.client.operation.duration', {unit: 's', advice: {explicitBucketBoundaries: boundaries}})
    const ours = new KeyedHistogram({name: 'db.client.operation.duration', unit: 's', description: 'd', boundaries})
    const attributes = {'db.operation.name': 'SELECT'}
    for (const value of samples) {
      sdk.record(value, attributes)
      ours.record(value, 'SELECT', attributes)
    }
    const collected = await reader.collect()
    const expected = collected.resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!.value as Histogram
    const metric = ours.metric([0, 0])
    expect(metric).toMatchObject({dataPointType: DataPointType.HISTOGRAM, aggregationTemporality: AggregationTemporality.CUMULATIVE})
    expect(metric.descriptor).toMatchObject({name: 'db.client.operation.duration', unit: 's', valueType: ValueType.DOUBLE})
    const value = metric.dataPoints[0]!.value
    expect(value.buckets).toEqual(expected.buckets)
    expect(value.buckets.counts).toEqual([3, 2, 0, 1, 1, 2])
    expect({count: value.count, sum: value.sum, min: value.min, max: value.max}).toEqual({count: expected.count, sum: expected.sum, min: expected.min, max: expected.max})
    expect(metric.dataPoints[0]!.attributes).toEqual(attributes)
    await provider.shutdown()
  })

  it('keeps one series per key and counts series past the cap as otel.metric.overflow', () => {
    const histogram = new KeyedHistogram({name: 'h', unit: 's', description: 'd', boundaries})
    for (let i = 0; i < MAX_SERIES + 10; i++) histogram.record(0.002, `k${i}`, {k: i})
    histogram.record(0.002, 'k0', {k: 0})
    const points = histogram.metric([0, 0]).dataPoints
    expect(points).toHaveLength(MAX_SERIES)
    expect(points.find((point) => point.attributes.k === 0)!.value.count).toBe(2)
    expect(points.find((point) => point.attributes['otel.metric.overflow'] === true)!.value.count).toBe(11)
  })

  it('hands its series to a metric reader as a producer, next to the SDK metrics', async () => {
    const histogram = new KeyedHistogram({name: 'http.server.request.duration', unit: 's', description: 'd', boundaries})
    histogram.record(0.02, 'GET /x', {'http.route': '/x'})
    const resource = resourceFromAttributes({'service.name': 'test'})
    const reader = new CollectingReader({metricProducers: [new KeyedHistogramProducer(resource, {name: 'test', version: '1'}, [histogram])]})
    const provider = new MeterProvider({readers: [reader], resource})
    provider.getMeter('sdk').createCounter('c').add(1)
    const names = (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name))
    expect(names.sort()).toEqual(['c', 'http.server.request.duration'])
    await provider.shutdown()
  })
})
