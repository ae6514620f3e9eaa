// GET /health (liveness: process-local, no I/O) and GET /health/ready (readiness: the health engine's
// document, application/health+json). Without the token /health/ready gives the status only (as
// Kubernetes' /readyz does): check keys, component ids (the database path) and values need the token, and
// output text needs ?verbose too.

import type {HealthEngine} from '../health/engine.js'
import {httpStatusOf, withoutOutput} from '../health/engine.js'
import type {EventLoopWatchdog} from '../health/liveness.js'
import type {HttpServer} from './server.js'

export const HEALTH_CONTENT_TYPE = 'application/health+json'

const HEADERS = {'Content-Type': HEALTH_CONTENT_TYPE, 'Cache-Control': 'no-store'}

export function addHealthRoutes(http: HttpServer, engine: HealthEngine, watchdog: EventLoopWatchdog, identity: {version: string}): void {
  http.route('GET', '/health', () => {
    const live = watchdog.report()
    const base = engine.document(live.status, {
      'agent:eventLoopDelay': [{componentType: 'system', status: live.status, observedValue: live.eventLoopDelayMs, observedUnit: 'ms', time: new Date().toISOString()}],
    })
    return {status: live.status === 'fail' ? 503 : 200, headers: HEADERS, body: {...base, version: identity.version, description: 'danube agent liveness'}}
  })

  http.route('GET', '/health/ready', async ({url, authenticated}) => {
    const exclude = url.searchParams.getAll('exclude').flatMap((value) => value.split(',')).map((key) => key.trim()).filter(Boolean)
    const verbose = url.searchParams.has('verbose') && !['0', 'false'].includes(url.searchParams.get('verbose') ?? '')
    const document = await engine.evaluate({exclude})
    const body = !authenticated ? {status: document.status, description: 'danube agent readiness; checks need the token (and ?verbose for their output)'} : verbose ? document : withoutOutput(document)
    return {status: httpStatusOf(document), headers: HEADERS, body}
  })
}
