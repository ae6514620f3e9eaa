// Owns the agent's gRPC listener: danube.v1.JobService over the JobService, and the standard
// grpc.health.v1 service (no token needed) whose status follows the agent's readiness.
// @grpc/grpc-js and the proto loader are imported here only, when the agent starts: the CLI never pays for them.

import {fileURLToPath} from 'node:url'
import path from 'node:path'

import type * as Grpc from '@grpc/grpc-js'
import type {HealthImplementation} from 'grpc-health-check'

import {DanubeError} from '../../lib/errors.js'
import type {Job, JobSummary} from '../../lib/jobs/model.js'
import {assertSpecBounds} from '../../lib/jobs/spec.js'
import {isAuthenticated} from '../auth.js'
import type {JobService} from '../jobs/service.js'
import type {Logger} from '../logger.js'
import {DEFAULT_MAX_REQUEST_BYTES, splitAddr} from '../http/server.js'

export const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../proto')

export type ServingStatus = 'SERVING' | 'NOT_SERVING'

export class GrpcServer {
  private server?: Grpc.Server
  private health?: HealthImplementation

  constructor(
    private readonly jobs: JobService,
    private readonly token: string,
    private readonly logger: Logger,
    /** api.maxRequestBytes: the same bound as an HTTP body (grpc-js's own default is 4 MiB). */
    private readonly maxRequestBytes: number = DEFAULT_MAX_REQUEST_BYTES,
  ) {}

  async listen(addr: string): Promise<string> {
    const grpc = await import('@grpc/grpc-js')
    const loader = await import('@grpc/proto-loader')
    const {HealthImplementation} = await import('grpc-health-check')
    const definition = await loader.load(path.join(PROTO_DIR, 'danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true})
    const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: Grpc.ServiceClientConstructor}}}
    const server = new grpc.Server({'grpc.max_receive_message_length': this.maxRequestBytes})
    server.addService(proto.danube.v1.JobService.service, this.jobHandlers(grpc))
    this.health = new HealthImplementation({'': 'SERVING', 'danube.v1.JobService': 'SERVING'})
    this.health.addToServer(server)
    const {host, port} = splitAddr(addr)
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
        if (error) {
          reject(new DanubeError('ADDRESS_IN_USE', `cannot listen on ${addr} for gRPC: ${error.message}`, {hint: 'stop whatever holds the port, or set --grpc-addr (DANUBE_GRPC_ADDR)'}))
        } else resolve(boundPort)
      })
    })
    this.server = server
    return `${host.includes(':') ? `[${host}]` : host}:${bound}`
  }

  setServingStatus(status: ServingStatus): void {
    this.health?.setStatus('', status)
    this.health?.setStatus('danube.v1.JobService', status)
  }

  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown()
        resolve()
      }, 2000)
      server.tryShutdown(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  private jobHandlers(grpc: typeof Grpc): Grpc.UntypedServiceImplementation {
    const unary = <Req>(call: (request: Req) => unknown): Grpc.handleUnaryCall<Req, unknown> => {
      return (ctx, callback) => {
        try {
          const values = ctx.metadata.get('authorization').map((value) => (typeof value === 'string' ? value : value.toString()))
          if (!isAuthenticated(values, this.token)) {
            // The same parser as HTTP; but HTTP/2 (RFC 9113 8.2.1) forbids a value with leading or trailing
            // spaces and Node's HTTP/2 layer drops one before it reaches us, so say that when nothing arrived.
            const why = values.length === 0 ? 'no metadata "authorization" arrived (HTTP/2 drops a value with leading or trailing spaces)' : 'wrong bearer token in metadata "authorization"'
            throw new DanubeError('UNAUTHORIZED', why, {httpStatus: 401, hint: 'send metadata authorization: Bearer <token from agent.token>'})
          }
          callback(null, call(ctx.request))
        } catch (error) {
          callback(toGrpcError(grpc, error, this.logger))
        }
      }
    }
    return {
      Trigger: unary((request: {spec?: Record<string, unknown>}) => toProtoJob(this.jobs.trigger(fromProtoSpec(request.spec)))),
      Get: unary((request: {id?: string}) => toProtoJob(this.jobs.get(request.id ?? ''))),
      List: unary((request: {state?: string; limit?: number}) => ({
        jobs: this.jobs.list({state: request.state || undefined, limit: request.limit || undefined}).map((job) => toProtoJob(job)),
      })),
      Cancel: unary((request: {id?: string}) => toProtoJob(this.jobs.cancel(request.id ?? ''))),
    }
  }
}

/** proto3 has no "absent" for strings and lists: drop empty values so the spec schema sees what was sent. */
function fromProtoSpec(spec: Record<string, unknown> | undefined): unknown {
  if (!spec) return {}
  // Before the copy below walks every entry: a 1 MiB message can hold half a million steps.
  assertSpecBounds(spec)
  const clean = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(clean)
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, v]) => v !== '' && v !== undefined && !(Array.isArray(v) && v.length === 0))
          .map(([k, v]) => [k, clean(v)]),
      )
    }
    return value
  }
  const out = clean(spec) as Record<string, unknown>
  if (out.env && Object.keys(out.env as object).length === 0) delete out.env
  return out
}

function toProtoJob(job: Job | JobSummary): Record<string, unknown> {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    reason: job.reason ?? '',
    executor: job.executor,
    exitCode: job.exitCode ?? undefined,
    createdAt: job.createdAt,
    startedAt: job.startedAt ?? '',
    finishedAt: job.finishedAt ?? '',
    ...('spec' in job ? {spec: job.spec} : {}),
    steps: job.steps.map((step) => ({...step, exitCode: step.exitCode ?? undefined, imageDigest: step.imageDigest ?? '', startedAt: step.startedAt ?? '', finishedAt: step.finishedAt ?? ''})),
  }
}

const STATUS_BY_HTTP: Record<number, keyof typeof Grpc.status> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'FAILED_PRECONDITION',
  503: 'UNAVAILABLE',
}

function toGrpcError(grpc: typeof Grpc, error: unknown, logger: Logger): Partial<Grpc.StatusObject> {
  const danube = error instanceof DanubeError ? error : new DanubeError('INTERNAL', 'internal error; see the agent log', {httpStatus: 500})
  if (!(error instanceof DanubeError)) logger.error('grpc call failed', {error: (error as Error).message})
  const metadata = new grpc.Metadata()
  metadata.set('danube-error-code', danube.code)
  if (danube.retryAfterSeconds !== undefined) metadata.set('retry-after', String(danube.retryAfterSeconds))
  return {code: grpc.status[STATUS_BY_HTTP[danube.httpStatus] ?? 'INTERNAL'], details: danube.message, metadata}
}
