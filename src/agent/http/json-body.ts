// Owns turning a request body into a JSON value without stalling the event loop: small bodies are parsed
// in place, large ones (over INLINE_BYTES) in one lazily started worker thread (json-worker.ts), which also
// refuses documents with more entries in one list or mapping than any API takes.

import {Worker} from 'node:worker_threads'

import {DanubeError} from '../../lib/errors.js'
import {MAX_ENTRIES, type ParseReply} from './json-worker.js'

/** Below this, JSON.parse takes well under a millisecond: not worth a round trip to the worker. */
export const INLINE_BYTES = 64 * 1024

export class JsonBodyParser {
  private worker?: Worker
  private nextId = 0
  private readonly pending = new Map<number, {resolve: (value: unknown) => void; reject: (error: unknown) => void}>()

  async parse(body: Buffer): Promise<unknown> {
    if (body.length <= INLINE_BYTES) {
      try {
        return JSON.parse(body.toString('utf8'))
      } catch (error) {
        throw invalidJson((error as Error).message)
      }
    }
    const worker = this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject})
      // Posted as a copy: the body's buffer may be a slice of Node's shared pool, which cannot be transferred.
      worker.postMessage({id, body})
    })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }

  private start(): Worker {
    if (this.worker) return this.worker
    // A small young generation: the garbage of one parse is collected before the next, keeping the agent's
    // resident memory near its idle figure under a stream of large bodies (bench/bounded.js).
    const worker = new Worker(new URL('./json-worker.js', import.meta.url), {resourceLimits: {maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 96}})
    // Never what keeps the agent alive; a worker that dies fails what it held and is started again on demand.
    worker.unref()
    worker.on('message', (reply: ParseReply) => {
      const waiting = this.pending.get(reply.id)
      this.pending.delete(reply.id)
      if (!waiting) return
      if ('value' in reply) waiting.resolve(reply.value)
      else if ('invalid' in reply) waiting.reject(invalidJson(reply.invalid))
      else {
        waiting.reject(
          new DanubeError('BODY_TOO_COMPLEX', `request body: ${reply.tooMany.path} has ${reply.tooMany.count} entries; no list or mapping may have more than ${MAX_ENTRIES}`, {
            httpStatus: 400,
            hint: 'the job spec and its limits are described in docs/job-spec.md',
          }),
        )
      }
    })
    worker.on('error', (error) => this.failAll(error))
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined
      this.failAll(new Error('the JSON parser worker exited'))
    })
    this.worker = worker
    return worker
  }

  private failAll(error: unknown): void {
    for (const waiting of this.pending.values()) waiting.reject(error)
    this.pending.clear()
  }
}

function invalidJson(reason: string): DanubeError {
  return new DanubeError('INVALID_JSON', `request body is not valid JSON: ${reason.slice(0, 200)}`, {httpStatus: 400})
}
