// Owns watching a drain from outside the agent: poll the drain row and the jobs table every pollMs
// (200 ms: comfortably under the 500 ms budget from the last job ending to `danube drain` returning),
// report each job that ends, and decide how the watch ends. Rendering is the caller's business.

import type {Clock} from '../../lib/clock.js'
import type {DrainSnapshot, JobSummary, RunningJobSummary} from './session.js'

export const WATCH_POLL_MS = 200
/**
 * Past a forced deadline plus the kill grace period, jobs still not gone after this are named as stuck. An executor
 * that stops waiting sooner (Kubernetes, at kubernetes.cancelCap) records what it left behind instead; a drain whose
 * killed jobs left something behind ends stuck too, as soon as it completes.
 */
export const STUCK_AFTER_MS = 60_000

export type WatchEnd = 'drained' | 'timed-out' | 'cancelled' | 'interrupted' | 'stuck' | 'agent-down'

export interface WatchListener {
  /** Every poll. */
  progress?(snapshot: DrainSnapshot): void
  /** A job that was running is no longer (finished, failed, or killed by the drain). */
  jobEnded?(job: JobSummary, snapshot: DrainSnapshot): void
}

export interface WatchOptions {
  session: {snapshot(historyId?: number | null): DrainSnapshot; job(id: string): JobSummary}
  /** The drain being watched: any other drain in the row means this one was cancelled. */
  historyId: number
  clock: Clock
  /** Kill grace period when the drain has none of its own (jobs.killGracePeriod). */
  killGraceMs: number
  pollMs?: number
  stuckAfterMs?: number
  /** Aborted on Ctrl-C: the watch ends, the drain does not. */
  signal?: AbortSignal
  listener?: WatchListener
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

export interface WatchResult {
  end: WatchEnd
  snapshot: DrainSnapshot
  /** Jobs that ended while watching, in the order they were seen to end. */
  ended: JobSummary[]
}

export async function watchDrain(options: WatchOptions): Promise<WatchResult> {
  const {session, historyId, clock, listener = {}, signal} = options
  const sleep = options.sleep ?? abortableSleep
  const ended: JobSummary[] = []
  let known: RunningJobSummary[] | undefined
  for (;;) {
    const snapshot = session.snapshot(historyId)
    if (known) {
      for (const job of known) {
        if (snapshot.running.some((r) => r.id === job.id)) continue
        const summary = session.job(job.id)
        ended.push(summary)
        listener.jobEnded?.(summary, snapshot)
      }
    }
    known = snapshot.running
    listener.progress?.(snapshot)
    const end = judge(snapshot, options, clock.now())
    if (end === 'drained' && leftBehind(snapshot, session).length > 0) return {end: 'stuck', snapshot, ended}
    if (end) return {end, snapshot, ended}
    if (signal?.aborted) return {end: 'interrupted', snapshot, ended}
    await sleep(options.pollMs ?? WATCH_POLL_MS, signal)
  }
}

function judge(snapshot: DrainSnapshot, options: WatchOptions, now: Date): WatchEnd | undefined {
  const {drain} = snapshot
  if (drain.state === 'active' || drain.historyId !== options.historyId) return 'cancelled'
  if (drain.state === 'drained') return 'drained'
  if (!snapshot.agent.running) return 'agent-down'
  if (drain.deadlineAt === null) return undefined
  const pastDeadline = now.getTime() - Date.parse(drain.deadlineAt)
  if (pastDeadline < 0) return undefined
  if (!drain.force) return 'timed-out'
  const grace = drain.gracePeriodMs ?? options.killGraceMs
  return pastDeadline >= grace + (options.stuckAfterMs ?? STUCK_AFTER_MS) ? 'stuck' : undefined
}

/** Jobs this drain killed whose executor stopped waiting while something of them was still there. */
export function leftBehind(snapshot: DrainSnapshot, session: Pick<WatchOptions['session'], 'job'>): JobSummary[] {
  return (snapshot.record?.jobsKilled ?? []).map((id) => session.job(id)).filter((job) => (job.leftBehind?.length ?? 0) > 0)
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, {once: true})
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
