// Owns moving the agent's write-ahead log into the database file off its event loop. SQLite checkpoints inside
// the commit that takes the WAL past wal_autocheckpoint (1000 pages), and better-sqlite3 is synchronous: that
// commit (an admission, a step's end) also paid for copying the pages and for the fsyncs, 40-60 µs per admission on
// average, more the larger the database, since random job ids dirty pages all over it (bench/README.md). While a
// Checkpointer runs, the agent's connection does not checkpoint; a worker thread with its own connection runs a
// PASSIVE checkpoint every interval (it never waits for, nor blocks, a reader or the writer). If the worker fails,
// the connection checkpoints by itself again, as before, and `onError` says why.

import {createRequire} from 'node:module'
import {Worker} from 'node:worker_threads'

import type {Store} from './index.js'

/** The worker: its own connection, a PASSIVE checkpoint every interval, the result of each posted back. */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
// An error thrown here reaches the agent without its message (SQLite's errors do not survive the clone): say it.
const fail = (error) => {
  parentPort.postMessage({failed: (error.code ? error.code + ': ' : '') + error.message})
  process.exit(1)
}
let db
try {
  const Database = require(workerData.driver)
  db = new Database(workerData.file, {fileMustExist: true, timeout: 0})
} catch (error) {
  fail(error)
}
const checkpoint = () => {
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)')
    parentPort.postMessage({checkpointed: result.checkpointed, log: result.log})
  } catch (error) {
    fail(error)
  }
}
const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  checkpoint()
  db.close()
  parentPort.close()
})
`

/** What one checkpoint did: frames in the WAL, frames copied into the database. */
export interface CheckpointResult {
  log: number
  checkpointed: number
}

export interface CheckpointerOptions {
  intervalMs?: number
  onCheckpoint?: (result: CheckpointResult) => void
  onError?: (error: Error) => void
}

const AUTO_CHECKPOINT_PAGES = 1000

export class Checkpointer {
  private worker?: Worker
  private stopped?: Promise<void>

  constructor(
    private readonly store: Store,
    private readonly options: CheckpointerOptions = {},
  ) {}

  start(): void {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    // Small heaps: the thread holds a connection and a timer (with the default ones it cost the agent ~10 MiB).
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {driver, file: this.store.file, intervalMs: this.options.intervalMs ?? 1000},
      resourceLimits: {maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8, codeRangeSizeMb: 2, stackSizeMb: 1},
    })
    this.worker = worker
    this.store.db.pragma('wal_autocheckpoint = 0')
    worker.on('message', (message: CheckpointResult | {failed: string}) => {
      if ('failed' in message) this.fallBack(new Error(`the checkpoint thread failed: ${message.failed}`))
      else this.options.onCheckpoint?.(message)
    })
    worker.once('error', (error) => this.fallBack(error))
    worker.once('exit', (code) => {
      if (!this.stopped) this.fallBack(new Error(`the checkpoint thread exited with code ${code}`))
    })
    // The thread must not keep a stopping agent alive.
    worker.unref()
  }

  /** Runs a last checkpoint in the thread and ends it; the connection checkpoints by itself again afterwards. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const worker = this.worker
      if (!worker) return
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      // Unreferenced while it runs; the stop is waited for.
      worker.ref()
      worker.postMessage('stop')
      await exited
      this.restoreAutoCheckpoint()
    })()
    return this.stopped
  }

  private fallBack(error: Error): void {
    if (this.stopped) return
    this.stopped = Promise.resolve()
    this.restoreAutoCheckpoint()
    this.options.onError?.(error)
  }

  private restoreAutoCheckpoint(): void {
    if (this.store.db.open) this.store.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`)
  }
}
