// Owns the /api/v1/jobs routes: a thin translation between HTTP and the JobService.

import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {LOG_CHUNK_BYTES} from '../../lib/jobs/log.js'
import type {JobService} from '../jobs/service.js'
import type {HttpServer} from './server.js'

export function addJobRoutes(http: HttpServer, jobs: JobService): void {
  http
    .route('POST', '/api/v1/jobs', async ({body}) => {
      const job = jobs.trigger(await body())
      // Deferred (a defer: true trigger while draining): accepted, runs after the drain.
      return {status: job.state === 'deferred' ? 202 : 201, body: job}
    })
    .route('GET', '/api/v1/jobs', ({url}) => ({
      body: {jobs: jobs.list({state: url.searchParams.get('state') ?? undefined, limit: url.searchParams.get('limit') ?? undefined})},
    }))
    .route('GET', '/api/v1/jobs/:id', ({params}) => ({body: jobs.get(params.id!)}))
    .route('POST', '/api/v1/jobs/:id/cancel', ({params}) => ({status: 202, body: jobs.cancel(params.id!)}))
    .route('GET', '/api/v1/jobs/:id/logs', async ({req, params, url, res, signal}) => {
      const follow = ['1', 'true'].includes(url.searchParams.get('follow') ?? '')
      const stream = jobs.logs(params.id!, {follow, signal})
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store'})
      if (req.method === 'HEAD') {
        await stream.return(undefined)
        res.end()
        return undefined
      }
      // pipeline: the file is read one chunk at a time as the client takes it, and a client that goes away
      // ends the read (and closes the file) instead of leaving it waiting for a 'drain' that never comes.
      await pipeline(Readable.from(stream, {objectMode: false, highWaterMark: LOG_CHUNK_BYTES}), res).catch((error: unknown) => {
        if (!res.destroyed) throw error
      })
      return undefined
    })
}
