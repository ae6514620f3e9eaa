// Owns how an install runs: an ordered list of steps, each of which first reads the system's current state
// (check) and changes it only when that state is not what it should be (apply). Re-running a plan therefore
// resumes where a failed run stopped and changes nothing on a system that is already installed.

import {DanubeError} from '../errors.js'

/** What a step did: nothing to do, changed the system, was not applicable, or failed (the run stops). */
export type StepOutcome = 'ok' | 'changed' | 'skipped' | 'failed'

/** The result of a step's check: already in place, needs applying (with what would change), or not applicable. */
export type CheckResult =
  | {state: 'ok'; detail?: string}
  | {state: 'needed'; detail: string; diff?: string}
  | {state: 'skipped'; detail: string; diff?: string}

export interface Step<C> {
  /** Stable kebab-case name, used in --json and in --skip-preflight-like flags. */
  id: string
  title: string
  /** The docs/troubleshooting.md section to read when this step fails. */
  troubleshooting: string
  check(context: C): Promise<CheckResult>
  /** Brings the system to the state check() wants; returns a one-line summary of what changed. */
  apply(context: C): Promise<string | void>
}

export interface StepReport {
  id: string
  title: string
  outcome: StepOutcome
  detail: string
  /** With --dry-run: what apply would do. */
  planned?: boolean
  diff?: string
  durationMs: number
  error?: {code: string; message: string; hint?: string; outputTail?: string}
  troubleshooting?: string
}

export interface PlanListener {
  stepStarted(step: {id: string; title: string}): void
  stepFinished(report: StepReport): void
}

export interface PlanResult {
  dryRun: boolean
  steps: StepReport[]
  /** Every step ran and none failed. */
  ok: boolean
  /** Steps after a failure, not run. */
  notRun: string[]
}

export interface RunPlanOptions {
  dryRun: boolean
  listener?: PlanListener
  now?: () => number
}

/** A command failed: carries the tail of its output so the operator sees why without digging. */
export class StepFailure extends DanubeError {
  readonly outputTail?: string
  constructor(code: string, message: string, options: {hint?: string; outputTail?: string; cause?: unknown} = {}) {
    super(code, message, {hint: options.hint, cause: options.cause})
    this.outputTail = options.outputTail
  }
}

export async function runPlan<C>(steps: readonly Step<C>[], context: C, options: RunPlanOptions): Promise<PlanResult> {
  const now = options.now ?? (() => performance.now())
  const reports: StepReport[] = []
  for (const [index, step] of steps.entries()) {
    options.listener?.stepStarted({id: step.id, title: step.title})
    const started = now()
    const finish = (report: Omit<StepReport, 'id' | 'title' | 'durationMs'>): StepReport => {
      const full = {id: step.id, title: step.title, ...report, durationMs: Math.round(now() - started)}
      reports.push(full)
      options.listener?.stepFinished(full)
      return full
    }
    try {
      const checked = await step.check(context)
      if (checked.state === 'ok') {
        finish({outcome: 'ok', detail: checked.detail ?? 'already in place'})
        continue
      }
      if (checked.state === 'skipped') {
        finish({outcome: 'skipped', detail: checked.detail, ...(checked.diff ? {diff: checked.diff} : {})})
        continue
      }
      if (options.dryRun) {
        finish({outcome: 'changed', planned: true, detail: `would ${checked.detail}`, ...(checked.diff ? {diff: checked.diff} : {})})
        continue
      }
      const summary = await step.apply(context)
      finish({outcome: 'changed', detail: summary || checked.detail, ...(checked.diff ? {diff: checked.diff} : {})})
    } catch (error) {
      const danube = error instanceof DanubeError ? error : new DanubeError('STEP_FAILED', (error as Error).message ?? String(error))
      finish({
        outcome: 'failed',
        detail: danube.message,
        troubleshooting: step.troubleshooting,
        error: {code: danube.code, message: danube.message, ...(danube.hint ? {hint: danube.hint} : {}),
          ...(error instanceof StepFailure && error.outputTail ? {outputTail: error.outputTail} : {})},
      })
      // A dry run shows the whole plan, failures included; a real run stops here and a re-run resumes.
      if (options.dryRun) continue
      return {dryRun: options.dryRun, steps: reports, ok: false, notRun: steps.slice(index + 1).map((s) => s.id)}
    }
  }
  return {dryRun: options.dryRun, steps: reports, ok: reports.every((report) => report.outcome !== 'failed'), notRun: []}
}
