// Owns the /api/v1/jobs routes: a thin translation between HTTP and the JobService.

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
    .route('GET', '/api/v1/jobs/:id/logs', async ({params, url, res, signal}) => {
      const follow = ['1', 'true'].includes(url.searchParams.get('follow') ?? '')
      const stream = jobs.logs(params.id!, {follow, signal})
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store'})
      for await (const chunk of stream) {
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
      }
      res.end()
      return undefined
    })
}
