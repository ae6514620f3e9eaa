// Owns job log files: the capped writer the executors append to, and the follower that `job logs
// --follow` and the HTTP API use to stream a log until its job ends.

import {closeSync, type FSWatcher, openSync, readSync, watch, writeSync} from 'node:fs'
import {mkdirSync, statSync} from 'node:fs'
import path from 'node:path'

export function jobLogPath(stateDir: string, jobId: string): string {
  return path.join(stateDir, 'logs', `${jobId}.log`)
}

/** Appends to a job log, dropping output past `maxBytes` (noted once in the log). */
export class JobLog {
  private fd: number
  private written: number
  private truncated = false

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
    this.fd = openSync(file, 'a', 0o600)
    this.written = statSync(file).size
  }

  write(chunk: Buffer | string): void {
    if (this.fd < 0) return
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    const room = this.maxBytes - this.written
    if (room <= 0) {
      if (!this.truncated) {
        this.truncated = true
        writeSync(this.fd, `\n[danube] log truncated at ${this.maxBytes} bytes (jobs.logMaxBytes)\n`)
      }
      return
    }
    const part = data.length > room ? data.subarray(0, room) : data
    writeSync(this.fd, part)
    this.written += part.length
    if (part.length < data.length) this.write(data.subarray(part.length))
  }

  /** A line from danube itself rather than from the job, marked so it cannot be mistaken for job output. */
  note(message: string): void {
    this.write(`[danube] ${message}\n`)
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }
}

export interface FollowOptions {
  /** Asked after each read that found nothing new: true ends the follow. */
  isFinished: () => boolean
  signal?: AbortSignal
  pollMs?: number
}

/**
 * Streams a log file from the start until its job is finished and every byte has been read.
 * A filesystem watch wakes it early; the poll is the fallback where watches are unreliable.
 */
export async function* followLog(file: string, options: FollowOptions): AsyncGenerator<Buffer> {
  let offset = 0
  const pollMs = options.pollMs ?? 250
  let wake: (() => void) | undefined
  let watcher: FSWatcher | undefined
  try {
    watcher = watch(file, () => wake?.())
    watcher.on('error', () => {})
  } catch {
    watcher = undefined
  }
  try {
    for (;;) {
      const chunk = readFrom(file, offset)
      if (chunk.length > 0) {
        offset += chunk.length
        yield chunk
        continue
      }
      if (options.signal?.aborted) return
      // Read once more after the job ended: bytes written just before the state change must not be lost.
      if (options.isFinished()) {
        const tail = readFrom(file, offset)
        if (tail.length > 0) yield tail
        return
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
        options.signal?.addEventListener('abort', wake, {once: true})
      })
      wake = undefined
    }
  } finally {
    watcher?.close()
  }
}

function readFrom(file: string, offset: number): Buffer {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch {
    return Buffer.alloc(0)
  }
  try {
    const chunks: Buffer[] = []
    let position = offset
    for (;;) {
      const buffer = Buffer.alloc(64 * 1024)
      const n = readSync(fd, buffer, 0, buffer.length, position)
      if (n <= 0) break
      chunks.push(buffer.subarray(0, n))
      position += n
    }
    return Buffer.concat(chunks)
  } finally {
    closeSync(fd)
  }
}
