// Optional HTTP probes, each on when its URL is configured:
//   dex:responseTime       GET <issuer>/.well-known/openid-configuration answers 200 with exactly that issuer;
//   registry:responseTime  GET <url>/v2/ answers 200, or 401 with Docker-Distribution-Api-Version: registry/2.0.
// Both degrading: a down Dex or registry is reported, it does not make the agent unready.

import type {CheckOutcome, HealthCheck} from '../types.js'

export function dexDiscoveryCheck(issuer: string): HealthCheck {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
  return {
    key: 'dex:responseTime',
    componentType: 'component',
    componentId: url,
    importance: 'degrading',
    observedUnit: 'ms',
    run: async (signal) => {
      const started = performance.now()
      const response = await get(url, signal)
      const ms = elapsed(started)
      if (response.status !== 200) return {status: 'fail', observedValue: ms, observedUnit: 'ms', output: `${url} answered HTTP ${response.status}`}
      let document: {issuer?: unknown}
      try {
        document = JSON.parse(await response.text()) as {issuer?: unknown}
      } catch {
        return {status: 'fail', observedValue: ms, observedUnit: 'ms', output: `${url} did not answer JSON`}
      }
      if (document.issuer !== issuer) {
        return {status: 'fail', observedValue: ms, observedUnit: 'ms', output: `discovery names issuer ${JSON.stringify(document.issuer)}, configured health.dex.issuer is "${issuer}"`}
      }
      return {status: 'pass', observedValue: ms, observedUnit: 'ms', output: `discovery answered in ${ms} ms`}
    },
  }
}

export function registryCheck(baseUrl: string): HealthCheck {
  const url = `${baseUrl.replace(/\/+$/, '')}/v2/`
  return {
    key: 'registry:responseTime',
    componentType: 'component',
    componentId: url,
    importance: 'degrading',
    observedUnit: 'ms',
    run: async (signal): Promise<CheckOutcome> => {
      const started = performance.now()
      const response = await get(url, signal)
      await response.body?.cancel()
      const ms = elapsed(started)
      const api = response.headers.get('docker-distribution-api-version')
      if ((response.status === 200 || response.status === 401) && api === 'registry/2.0') {
        return {status: 'pass', observedValue: ms, observedUnit: 'ms', output: `registry API answered ${response.status} in ${ms} ms`}
      }
      if (response.status === 200 || response.status === 401) {
        return {status: 'fail', observedValue: ms, observedUnit: 'ms', output: `${url} answered ${response.status} without Docker-Distribution-Api-Version: registry/2.0 (not a registry?)`}
      }
      return {status: 'fail', observedValue: ms, observedUnit: 'ms', output: `${url} answered HTTP ${response.status}`}
    },
  }
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, {signal, redirect: 'manual', headers: {Accept: 'application/json'}})
  } catch (error) {
    if (signal.aborted) throw signal.reason
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    throw new Error(`${url} unreachable (${cause?.code ?? cause?.message ?? (error as Error).message})`)
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started)
}
