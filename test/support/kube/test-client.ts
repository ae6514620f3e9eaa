// What the test API server's own tests share to drive it through the real @kubernetes/client-node: the Status of a
// failed call, and a watch whose events a test can wait on.

import {request as httpsRequest} from 'node:https'

import {ApiException, type KubeConfig, Watch} from '@kubernetes/client-node'

import type {StatusObject, WatchEvent} from './types.js'

/** The Status an ApiException carries (the client leaves the body as text). */
export async function statusOf(promise: Promise<unknown>): Promise<{code: number; status?: StatusObject}> {
  try {
    await promise
  } catch (error) {
    if (!(error instanceof ApiException)) throw error
    const body = typeof error.body === 'string' && error.body ? (JSON.parse(error.body) as StatusObject) : undefined
    return {code: error.code, status: body}
  }
  throw new Error('expected the call to fail')
}

export interface Collected {
  events: WatchEvent[]
  done: Promise<unknown>
  abort: () => void
  /** Resolves once predicate holds for the events so far (checked on every event), rejects after ms. */
  waitFor: (predicate: (events: WatchEvent[]) => boolean, ms?: number) => Promise<WatchEvent[]>
}

export async function collectWatch(kc: KubeConfig, path: string, query: Record<string, string | number | boolean> = {}): Promise<Collected> {
  const events: WatchEvent[] = []
  const wakers = new Set<() => void>()
  let finish: (error: unknown) => void = () => {}
  const done = new Promise<unknown>((resolve) => (finish = resolve))
  const controller = await new Watch(kc).watch(path, query, (type, object) => {
    events.push({type, object} as WatchEvent)
    for (const wake of [...wakers]) wake()
  }, (error) => finish(error ?? null))
  const waitFor = (predicate: (events: WatchEvent[]) => boolean, ms = 3000) => new Promise<WatchEvent[]>((resolve, reject) => {
    if (predicate(events)) return resolve(events)
    const wake = () => {
      if (!predicate(events)) return
      clearTimeout(timer)
      wakers.delete(wake)
      resolve(events)
    }
    const timer = setTimeout(() => {
      wakers.delete(wake)
      reject(new Error(`watch condition not met; events: ${JSON.stringify(events.map((event) => [event.type, event.object.metadata]))}`))
    }, ms)
    wakers.add(wake)
  })
  return {events, done, abort: () => controller.abort(), waitFor}
}

export interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => unknown
}

/**
 * One HTTPS request as any client would send it (the typed client drops fields its models do not know, and query
 * parameters it has no argument for), authenticated with the server's token.
 */
export function rawRequest(server: {url: string; caCert: string; token: string}, method: string, path: string, body?: unknown): Promise<RawAnswer> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${server.url}${path}`, {
      method, ca: server.caCert,
      headers: {Authorization: `Bearer ${server.token}`, Accept: 'application/json', ...(text ? {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text)} : {})},
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const answer = Buffer.concat(chunks).toString('utf8')
        resolve({status: res.statusCode ?? 0, headers: res.headers, text: answer, json: () => JSON.parse(answer)})
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(text)
  })
}
