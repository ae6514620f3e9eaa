// Owns one `danube drain` invocation from the CLI: enable (or update) the drain, monitor one in progress,
// or cancel it; then, unless detached or the agent is down, watch until the drain ends one way or another.
// The caller renders through the listener and picks the exit status from `end`.

import type {Clock} from '../../lib/clock.js'
import type {DrainCancelResult, DrainRequest, DrainRequestResult} from '../../lib/store/drain.js'
import {type DrainReport, DrainSession, type DrainSnapshot, type JobSummary, notDrainingError} from './session.js'
import {type WatchEnd, type WatchListener, watchDrain} from './watch.js'

export type DrainMode = 'enable' | 'monitor' | 'cancel'

/** How an invocation ended: a watch ending, or one of the ways it returns without watching. */
export type DrainRunEnd = WatchEnd | 'detached' | 'agent-not-running' | 'cancel-done' | 'not-draining'

export interface DrainRunListener extends WatchListener {
  requested?(result: DrainRequestResult, snapshot: DrainSnapshot): void
  cancelled?(result: DrainCancelResult, snapshot: DrainSnapshot): void
  /** The watch begins (after requested, or at once with --monitor). */
  watching?(snapshot: DrainSnapshot): void
}

export interface DrainRunOptions {
  stateDir: string
  mode: DrainMode
  /** For enable. */
  request?: DrainRequest
  /** For cancel. */
  cancel?: {by: string; message: string | null}
  detach?: boolean
  killGraceMs: number
  clock: Clock
  signal?: AbortSignal
  listener?: DrainRunListener
  pollMs?: number
}

export interface DrainRunResult {
  end: DrainRunEnd
  report: DrainReport
  snapshot: DrainSnapshot
  ended: JobSummary[]
}

export async function runDrain(options: DrainRunOptions): Promise<DrainRunResult> {
  const {listener = {}} = options
  const session = DrainSession.open(options.stateDir, options.clock)
  try {
    const done = (end: DrainRunEnd, snapshot: DrainSnapshot, ended: JobSummary[] = []): DrainRunResult => ({end, snapshot, ended, report: session.report(snapshot, end)})

    if (options.mode === 'cancel') {
      const result = session.cancel(options.cancel!.by, options.cancel!.message)
      const snapshot = session.snapshot(result.previous.historyId)
      listener.cancelled?.(result, snapshot)
      return done(result.outcome === 'cancelled' ? 'cancel-done' : 'not-draining', snapshot)
    }

    let historyId: number | null
    if (options.mode === 'enable') {
      const result = session.enable(options.request!)
      historyId = result.drain.historyId
      listener.requested?.(result, session.snapshot(historyId))
    } else {
      historyId = session.read().historyId
      if (historyId === null) throw notDrainingError()
    }
    const snapshot = session.snapshot(historyId)
    if (snapshot.drain.state === 'drained') return done('drained', snapshot)
    if (!snapshot.agent.running) return done('agent-not-running', snapshot)
    if (options.detach) return done('detached', snapshot)
    listener.watching?.(snapshot)
    const watched = await watchDrain({
      session,
      historyId: historyId!,
      clock: options.clock,
      killGraceMs: options.killGraceMs,
      signal: options.signal,
      listener,
      pollMs: options.pollMs,
    })
    return done(watched.end, watched.snapshot, watched.ended)
  } finally {
    session.close()
  }
}
