// Owns how `danube install` looks while it runs: one line per step with its outcome (ok, changed, skipped,
// failed) and what it did; on a TTY an ora spinner (on stderr) for the step in progress. A failure adds the
// command's output tail, the fix and the troubleshooting section. With --json nothing but the final document.

import type {Ora} from 'ora'

import type {PlanListener, StepReport} from '../lib/install/index.js'
import {colors} from './render.js'

export interface InstallView extends PlanListener {
  stop(): void
}

export async function createInstallView(mode: 'quiet' | 'spinner' | 'lines'): Promise<InstallView> {
  let spinner: Ora | undefined
  if (mode === 'spinner') {
    const {default: ora} = await import('ora')
    spinner = ora({stream: process.stderr})
  }
  const c = await colors()
  const paint: Record<StepReport['outcome'], (text: string) => string> = {ok: c.green, changed: c.yellow, skipped: c.dim, failed: c.red}
  return {
    stepStarted(step) {
      if (spinner) spinner.start(step.title)
    },
    stepFinished(report) {
      if (mode === 'quiet') return
      spinner?.stop()
      process.stdout.write(`${renderStep(report, paint)}\n`)
    },
    stop() {
      spinner?.stop()
    },
  }
}

/** Command output comes from outside: control characters are shown escaped, never sent to the terminal raw. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replaceAll(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

export function renderStep(report: StepReport, paint?: Record<StepReport['outcome'], (text: string) => string>): string {
  const label = report.planned ? 'plan' : report.outcome
  const detail = printable(report.detail).split('\n')
  const lines = [`${(paint?.[report.outcome] ?? String)(label.padEnd(8))} ${report.id.padEnd(16)} ${detail[0]}`, ...detail.slice(1)]
  if (report.diff) lines.push(...printable(report.diff).split('\n').map((line) => `    ${line}`))
  if (report.outcome === 'failed') {
    if (report.error?.outputTail) lines.push('  output (last lines):', ...printable(report.error.outputTail).split('\n').map((line) => `    ${line}`))
    if (report.error?.hint) lines.push(`  fix: ${printable(report.error.hint)}`)
    if (report.troubleshooting) lines.push(`  read: ${report.troubleshooting}`)
  }
  return lines.join('\n')
}
