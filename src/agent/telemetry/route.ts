// Owns GET /metrics on the agent's own HTTP server: no token (like /health), Prometheus text format. With
// telemetry disabled (OTEL_SDK_DISABLED=true) the route answers 404 TELEMETRY_DISABLED, so a scrape reports the
// reason instead of succeeding with no data. Loads no OpenTelemetry code itself.

import {DanubeError} from '../../lib/errors.js'
import type {HttpServer} from '../http/server.js'
import type {AgentTelemetry} from './types.js'

export const METRICS_PATH = '/metrics'

export function addMetricsRoute(http: HttpServer, telemetry: AgentTelemetry | undefined): void {
  http.route('GET', METRICS_PATH, async ({req, res}) => {
    if (!telemetry) {
      throw new DanubeError('TELEMETRY_DISABLED', 'telemetry is disabled (OTEL_SDK_DISABLED=true); no metrics are collected', {
        httpStatus: 404,
        hint: 'unset OTEL_SDK_DISABLED and restart the agent',
      })
    }
    await telemetry.serveMetrics(req, res)
    return undefined
  })
}
