// Owns parsing large JSON request bodies off the agent's event loop: JSON.parse of a 1 MiB body takes
// 10-80 ms on these machines, and four such requests in a row would hold /health for that long. The worker
// parses, then refuses a document with a list or mapping of more than MAX_ENTRIES entries (no API takes
// that many), so only a bounded document is copied back to the main thread.

import {parentPort} from 'node:worker_threads'

export const MAX_ENTRIES = 10_000

export interface ParseRequest {
  id: number
  body: Uint8Array
}

export type ParseReply =
  | {id: number; value: unknown}
  | {id: number; invalid: string}
  | {id: number; tooMany: {path: string; count: number}}

/** The first list or mapping (breadth first) with more than MAX_ENTRIES entries, or undefined. */
export function oversized(root: unknown): {path: string; count: number} | undefined {
  const queue: [object, string][] = typeof root === 'object' && root !== null ? [[root, '']] : []
  // An index, not shift(): a 1 MiB document can hold half a million nested values.
  for (let head = 0; head < queue.length; head++) {
    const [value, path] = queue[head]!
    const keys = Array.isArray(value) ? undefined : Object.keys(value)
    const count = keys ? keys.length : (value as unknown[]).length
    if (count > MAX_ENTRIES) return {path: path || '(root)', count}
    if (keys) {
      for (const key of keys) {
        const child = (value as Record<string, unknown>)[key]
        if (typeof child === 'object' && child !== null) queue.push([child, path ? `${path}.${key}` : key])
      }
    } else {
      for (const [index, child] of (value as unknown[]).entries()) if (typeof child === 'object' && child !== null) queue.push([child, `${path}[${index}]`])
    }
  }
  return undefined
}

parentPort?.on('message', ({id, body}: ParseRequest) => {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch (error) {
    parentPort!.postMessage({id, invalid: (error as Error).message} satisfies ParseReply)
    return
  }
  const tooMany = oversized(value)
  parentPort!.postMessage((tooMany ? {id, tooMany} : {id, value}) satisfies ParseReply)
})
