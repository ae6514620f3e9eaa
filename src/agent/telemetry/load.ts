// Owns turning telemetry on for `danube agent`: honours OTEL_SDK_DISABLED, registers the ESM loader hook of
// @opentelemetry/instrumentation (without it the gRPC and HTTP modules the agent imports afterwards are never
// patched, so gRPC gets no spans), then loads and starts the SDK. Imports no OpenTelemetry module statically: the
// command calls this before it imports any agent module, and no other command calls it.

import type {DanubeConfig} from '../../lib/config/index.js'
import type {Logger} from '../logger.js'
import type {AgentTelemetry} from './types.js'

export interface LoadTelemetryOptions {
  config: DanubeConfig
  version: string
  logger: Logger
  env?: NodeJS.ProcessEnv
}

/** What the gRPC instrumentation patches; the loader hook intercepts this and nothing else (HTTP spans are our own). */
export const INSTRUMENTED_MODULES = ['@grpc/grpc-js']

/** OTEL_SDK_DISABLED is true when it says "true" in any case (the specification's boolean rule). */
export function sdkDisabled(env: NodeJS.ProcessEnv): boolean {
  return (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true'
}

export async function loadTelemetry(options: LoadTelemetryOptions): Promise<AgentTelemetry | undefined> {
  const env = options.env ?? process.env
  if (sdkDisabled(env)) {
    options.logger.info('telemetry disabled (OTEL_SDK_DISABLED=true): no OpenTelemetry SDK loaded, GET /metrics answers 404, nothing exported')
    return undefined
  }
  // The Kubernetes client is a few hundred ES modules and needs no instrumentation (its calls become spans through
  // the client's own call hook): loaded before the hook, it does not pay the loader's per-module cost. Only when the
  // executor needs it at start; the health checks' client loads later, in the background, as before.
  if (options.config.jobs.executor === 'kubernetes' && options.config.kubernetes.enabled) await import('../../lib/kube/client.js')
  const {register} = await import('node:module')
  // Only the modules the instrumentations patch are wrapped: wrapping every ES module (the default) made loading
  // @kubernetes/client-node four times slower (2.5 s → 10 s on a loaded 2-core machine).
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {data: {include: INSTRUMENTED_MODULES}})
  const {startTelemetry} = await import('./sdk.js')
  return startTelemetry({...options, env})
}
