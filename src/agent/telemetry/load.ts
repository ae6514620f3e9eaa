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
  const {register} = await import('node:module')
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url)
  const {startTelemetry} = await import('./sdk.js')
  return startTelemetry({...options, env})
}
