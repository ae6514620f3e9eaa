// Owns job log files: the capped writer the executors append to, and the follower that `job logs
// --follow` and the HTTP API use to stream a log until its job ends.

import {closeSync, type FSWatcher, mkdirSync, openSync, statSync, watch, writeSync} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import path from 'node:path'

export function jobLogPath(stateDir: string, jobId: string): string {
  return path.join(stateDir, 'logs', `${jobId}.log`)
}

/**
 * Appends to a job log, keeping it within `maxBytes` (jobs.logMaxBytes). The job's own output may fill the
 * log only up to `maxBytes - reserve`: the rest is kept for danube's own lines (the truncation note, step
 * lines, and the final `job succeeded` and artifact lines), the last part of it for final lines only, so a
 * job that prints without end still ends with the lines an operator reads first.
 */
export class JobLog {
  private fd: number
  private written: number
  private truncated = false
  private readonly outputCap: number
  private readonly noteCap: number

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
    this.fd = openSync(file, 'a', 0o600)
    this.written = statSync(file).size
    const reserve = Math.min(LOG_RESERVE_BYTES, Math.floor(maxBytes / 4))
    this.outputCap = maxBytes - reserve
    this.noteCap = maxBytes - Math.min(LOG_FINAL_RESERVE_BYTES, Math.floor(reserve / 4))
  }

  /** The job's own output; past the output cap it is dropped, and that is noted once. */
  write(chunk: Buffer | string): void {
    if (this.fd < 0) return
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    const room = this.outputCap - this.written
    const part = room <= 0 ? data.subarray(0, 0) : data.length > room ? data.subarray(0, room) : data
    if (part.length > 0) this.append(part)
    if (part.length < data.length && !this.truncated) {
      this.truncated = true
      this.note(`log truncated: job output past ${this.outputCap} bytes is dropped (jobs.logMaxBytes ${this.maxBytes}, of which ${this.maxBytes - this.outputCap} are kept for danube's own lines)`, {newline: true})
    }
  }

  /**
   * A line from danube itself rather than from the job, marked so it cannot be mistaken for job output.
   * `final`: the job's outcome and what it produced, which may use the last reserved bytes.
   */
  note(message: string, options: {final?: boolean; newline?: boolean} = {}): void {
    if (this.fd < 0) return
    const line = Buffer.from(`${options.newline ? '\n' : ''}[danube] ${message}\n`)
    const cap = options.final ? this.maxBytes : this.noteCap
    if (this.written + line.length <= cap) this.append(line)
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }

  private append(data: Buffer): void {
    writeSync(this.fd, data)
    this.written += data.length
  }
}

/** Bytes of every log kept for danube's own lines (at most a quarter of jobs.logMaxBytes). */
export const LOG_RESERVE_BYTES = 16 * 1024
/** The part of the reserve only final lines (job outcome, artifacts) may use. */
export const LOG_FINAL_RESERVE_BYTES = 2 * 1024

export interface FollowOptions {
  /** Asked after each read that found nothing new: true ends the follow. */
  isFinished: () => boolean
  signal?: AbortSignal
  pollMs?: number
}

/** Bytes read and yielded at a time: a reader's memory stays this, whatever the log's size. */
export const LOG_CHUNK_BYTES = 64 * 1024

/**
 * Streams a log file from the start until its job is finished and every byte has been read, one chunk of
 * at most LOG_CHUNK_BYTES at a time: the consumer's pace (HTTP backpressure) decides when the next is read.
 * A filesystem watch wakes it early; the poll is the fallback where watches are unreliable.
 */
export async function* followLog(file: string, options: FollowOptions): AsyncGenerator<Buffer> {
  let offset = 0
  const pollMs = options.pollMs ?? 250
  let wake: (() => void) | undefined
  let watcher: FSWatcher | undefined
  let handle: FileHandle | undefined
  try {
    watcher = watch(file, () => wake?.())
    watcher.on('error', () => {})
  } catch {
    watcher = undefined
  }
  try {
    for (;;) {
      handle ??= await open(file, 'r').catch(() => undefined)
      const chunk = handle ? await readChunk(handle, offset) : undefined
      if (chunk) {
        offset += chunk.length
        yield chunk
        continue
      }
      if (options.signal?.aborted) return
      // Read to the end once more after the job ended: bytes written just before the state change must not be lost.
      if (options.isFinished()) {
        handle ??= await open(file, 'r').catch(() => undefined)
        for (let tail = handle && (await readChunk(handle, offset)); tail; tail = await readChunk(handle!, offset)) {
          offset += tail.length
          yield tail
        }
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
    await handle?.close()
  }
}

async function readChunk(handle: FileHandle, offset: number): Promise<Buffer | undefined> {
  const buffer = Buffer.allocUnsafe(LOG_CHUNK_BYTES)
  const {bytesRead} = await handle.read(buffer, 0, buffer.length, offset)
  return bytesRead > 0 ? buffer.subarray(0, bytesRead) : undefined
}
