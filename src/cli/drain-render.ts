// Owns how `danube drain` looks while it watches: on a TTY an ora spinner (loaded only here, only when
// used) with the running jobs, elapsed and time left; elsewhere timestamped lines, a summary at most
// every 30 s plus one line per job that ends. With --json nothing but the final document.

import type {Ora} from 'ora'

import type {DrainRunEnd, DrainRunListener, DrainRunResult} from '../agent/drain/run.js'
import type {DrainSnapshot, JobSummary} from '../agent/drain/session.js'
import {formatDuration} from '../lib/duration.js'
import {shortTime} from '../lib/store/drain.js'
import {visible} from './render.js'

export const SUMMARY_EVERY_MS = 30_000

export type DrainViewMode = 'quiet' | 'spinner' | 'lines'

export interface DrainView extends DrainRunListener {
  /** A line the operator must see (above the spinner on a TTY). */
  say(text: string, stream?: 'stdout' | 'stderr'): void
  stop(): void
}

export function viewMode(json: boolean, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): DrainViewMode {
  if (json) return 'quiet'
  // A pty without a size (script, expect, some CI runners) reports 0 columns, and ora's clear() then
  // divides by zero and loops forever: a spinner only where the terminal has a width.
  const sized = (stderr.columns ?? 0) > 0
  return stdout.isTTY && stderr.isTTY && sized && process.env.TERM !== 'dumb' ? 'spinner' : 'lines'
}

export async function createDrainView(mode: DrainViewMode): Promise<DrainView> {
  let spinner: Ora | undefined
  if (mode === 'spinner') {
    const {default: ora} = await import('ora')
    spinner = ora({stream: process.stderr})
  }
  let lastSummary = 0
  const say = (text: string, stream: 'stdout' | 'stderr' = 'stdout') => {
    if (mode === 'quiet') return
    spinner?.clear()
    process[stream].write(mode === 'lines' ? `${stamp(new Date())}: ${visible(text)}\n` : `${visible(text)}\n`)
    if (spinner?.isSpinning) spinner.render()
  }
  return {
    say,
    requested(result, snapshot) {
      const {drain} = result
      if (result.outcome === 'already-drained') say(`Already drained since ${shortTime(drain.updatedAt)}; no job is running. Resume with: danube drain --cancel`)
      else if (result.outcome === 'updated') say(`Drain already in progress (${since(snapshot)}); updated: ${deadlineText(snapshot)}`)
      else say(`Drain started: no new job starts from now; ${deadlineText(snapshot)}`)
      if (!snapshot.agent.running) {
        say(
          `The agent is not running: no job runs under danube now. The drain is recorded; the agent enforces it when it starts.${
            snapshot.running.length > 0 ? ` ${snapshot.running.length} job(s) left "running" by the stopped agent will be recovered then.` : ''
          }`,
        )
      }
    },
    cancelled(result, snapshot) {
      if (result.outcome === 'not-draining') {
        say('Not draining; nothing to cancel.')
        return
      }
      say(`Drain cancelled (was ${result.previous.state} since ${shortTime(result.previous.requestedAt ?? result.previous.updatedAt)}). Jobs start again: ${snapshot.queued} queued${result.resumed ? `, of which ${result.resumed} were deferred` : ''}.`)
      if (!snapshot.agent.running) say('The agent is not running; it starts queued jobs when it starts.')
    },
    watching(snapshot) {
      say('Ctrl-C stops watching only; the drain continues (cancel: danube drain --cancel)')
      lastSummary = Date.now()
      if (spinner) spinner.start(summary(snapshot))
      else say(summary(snapshot))
    },
    progress(snapshot) {
      if (spinner) spinner.text = visible(summary(snapshot))
      else if (Date.now() - lastSummary >= SUMMARY_EVERY_MS) {
        lastSummary = Date.now()
        say(summary(snapshot))
      }
    },
    jobEnded(job) {
      say(`job ${job.id} (${job.name}) ${jobOutcome(job)}`)
    },
    stop() {
      spinner?.stop()
    },
  }
}

/** The closing lines for each ending; errors and warnings go to stderr. */
export function renderEnd(view: DrainView, result: DrainRunResult): void {
  const {report, snapshot} = result
  const killed = report.jobsKilled.length > 0 ? `; ${report.jobsKilled.length} job(s) killed: ${report.jobsKilled.map((j) => `${j.id} (${j.name})`).join(', ')}` : ''
  const counts = `${snapshot.running.length} running, ${snapshot.queued} queued, ${snapshot.deferred} deferred`
  const still = snapshot.running.map((j) => `${j.id} (${j.name}${j.startedAt ? `, ${formatDuration(snapshot.at.getTime() - Date.parse(j.startedAt))}` : ''})`).join(', ')
  const lines: Partial<Record<DrainRunEnd, [string, 'stdout' | 'stderr']>> = {
    drained: [`Drained. ${counts}${killed}. Safe to stop the agent; resume with: danube drain --cancel`, 'stdout'],
    'timed-out': [`Deadline reached; ${snapshot.running.length} job(s) still running: ${still}. The drain remains active (wait: danube drain --monitor; kill: danube drain --timeout 0s --force; resume: danube drain --cancel).`, 'stderr'],
    cancelled: [`The drain was cancelled while watching${snapshot.record?.endedBy ? ` by ${snapshot.record.endedBy}` : ''}${snapshot.record?.endMessage ? ` ("${snapshot.record.endMessage}")` : ''}; jobs start again.`, 'stderr'],
    interrupted: ['Stopped watching; the drain continues. Watch again: danube drain --monitor; cancel: danube drain --cancel', 'stderr'],
    stuck: [snapshot.running.length > 0 ? `Killed jobs still not gone 60s after the forced deadline and grace period: ${still}. The drain stays on until they are gone; check the executor (processes, pods in Terminating).` : leftBehindLine(report), 'stderr'],
    'agent-down': ['The agent stopped while draining. The drain stays recorded; the agent carries it on when it starts.', 'stderr'],
    detached: [`Not watching (--detach). Watch: danube drain --monitor; status: danube status`, 'stdout'],
  }
  const line = lines[result.end]
  if (line) view.say(line[0], line[1])
}

/** A drain that completed although killed jobs left something behind: what, where, and what to look at. */
function leftBehindLine(report: DrainRunResult['report']): string {
  const jobs = report.jobsKilled.filter((job) => job.leftBehind?.length).map((job) => `${job.id} (${job.name}): ${job.leftBehind!.join(', ')}`)
  return `Drained, but killed jobs left these behind when the agent stopped waiting for them at kubernetes.cancelCap (pods still terminating, or a Job the API would not delete): ${jobs.join('; ')}. ` +
    'Nothing runs under danube any more; they are the cluster\'s to end (kubectl -n <namespace> describe pod <name>; usually a node that is down).'
}

function summary(snapshot: DrainSnapshot): string {
  const now = snapshot.at.getTime()
  const {drain, running} = snapshot
  const names = running.slice(0, 5).map((j) => `${j.name} ${j.startedAt ? formatDuration(now - Date.parse(j.startedAt)) : ''}`.trim())
  if (running.length > 5) names.push(`+${running.length - 5} more`)
  const elapsed = drain.requestedAt ? `; elapsed ${formatDuration(now - Date.parse(drain.requestedAt))}` : ''
  return `${drain.state}: ${running.length} running${names.length ? ` (${names.join(', ')})` : ''}, ${snapshot.queued} queued, ${snapshot.deferred} deferred${elapsed}; ${timeLeft(snapshot)}`
}

function timeLeft(snapshot: DrainSnapshot): string {
  const {drain} = snapshot
  if (!drain.deadlineAt) return 'no deadline'
  const left = Date.parse(drain.deadlineAt) - snapshot.at.getTime()
  const then = drain.force ? 'then running jobs are killed' : 'no force'
  return left > 0 ? `${formatDuration(left)} left (${then})` : `deadline passed ${formatDuration(-left)} ago${drain.force ? '; killing' : ''}`
}

function deadlineText(snapshot: DrainSnapshot): string {
  const {drain} = snapshot
  const grace = drain.gracePeriodMs === null ? '' : `, grace period ${formatDuration(drain.gracePeriodMs)}`
  const deadline = drain.deadlineAt ? `deadline ${shortTime(drain.deadlineAt)} (${drain.force ? `force${grace}` : 'no force'})` : 'no deadline'
  return `${deadline}; waiting for ${snapshot.running.length} running job(s); ${snapshot.queued} queued`
}

function since(snapshot: DrainSnapshot): string {
  const {drain} = snapshot
  return `since ${drain.requestedAt ? shortTime(drain.requestedAt) : '?'}${drain.requestedBy ? ` by ${drain.requestedBy}` : ''}${drain.message ? `, "${drain.message}"` : ''}`
}

function jobOutcome(job: JobSummary): string {
  if (job.reason === 'drain-timeout') return 'killed (drain-timeout)'
  return `${job.state}${job.reason ? ` (${job.reason})` : ''}`
}

function stamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z')
}
