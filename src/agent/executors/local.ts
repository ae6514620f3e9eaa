// Owns the local executor, the embedded default: each step runs as `sh -c <run>` in the job's
// workspace, in its own process group, one after another; outputs become artifacts.
// node:child_process rather than execa: we need the raw pid as a process-group id and must signal the
// whole group (execa's kill targets only the direct child).

import {spawn} from 'node:child_process'
import {mkdirSync, rmSync} from 'node:fs'
import {constants} from 'node:os'
import path from 'node:path'

import type {JobLog} from '../../lib/jobs/log.js'
import {type Job, stepName} from '../../lib/jobs/model.js'
import {collectOutputs} from './outputs.js'
import {groupBelongsToJob, signalGroup, terminateGroup, waitUntilEmpty} from './process-group.js'
import {type ExecutionContext, type ExecutionResult, type Executor, stopGraceMs, stopReason} from './types.js'

interface LocalHandle {
  pgid: number
  step: number
}

export class LocalExecutor implements Executor {
  readonly name = 'local' as const

  private readonly baseEnv: NodeJS.ProcessEnv

  constructor(agentEnv: NodeJS.ProcessEnv = process.env) {
    this.baseEnv = stepBaseEnv(agentEnv)
  }

  async run(context: ExecutionContext): Promise<ExecutionResult> {
    const {job, log, signal} = context
    const workspace = path.join(context.workDir, 'workspace')
    const outputDir = path.join(context.workDir, 'outputs')
    mkdirSync(workspace, {recursive: true, mode: 0o700})
    mkdirSync(outputDir, {recursive: true, mode: 0o700})
    let result: ExecutionResult = {state: 'succeeded', reason: null, exitCode: 0}
    try {
      for (const [index, step] of job.spec.steps.entries()) {
        if (signal.aborted) break
        context.stepStarted(index)
        log.note(`step ${index + 1}/${job.spec.steps.length} ${stepName(job.spec, index)}`)
        const exitCode = await this.runStep(context, index, step.run, {workspace, outputDir})
        if (signal.aborted) {
          context.stepFinished(index, 'cancelled', exitCode)
          break
        }
        context.stepFinished(index, exitCode === 0 ? 'succeeded' : 'failed', exitCode)
        if (exitCode !== 0) {
          log.note(`step ${stepName(job.spec, index)} exited with ${exitCode}`)
          result = {state: 'failed', reason: 'exit-code', exitCode}
          break
        }
      }
      if (signal.aborted) {
        const reason = stopReason(signal)
        result = {state: reason === 'timeout' ? 'failed' : 'cancelled', reason, exitCode: null}
      }
      const collected = collectOutputs(outputDir, context.artifactsDir, log)
      if (collected.files.length > 0) log.note(`collected ${collected.files.length} artifact(s)`)
    } finally {
      rmSync(context.workDir, {recursive: true, force: true})
    }
    return result
  }

  private runStep(context: ExecutionContext, index: number, run: string, dirs: {workspace: string; outputDir: string}): Promise<number> {
    const {job, log, signal} = context
    return new Promise<number>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', run], {
        cwd: dirs.workspace,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...this.baseEnv,
          ...job.spec.env,
          ...context.stepEnv?.(index),
          DANUBE_JOB_ID: job.id,
          DANUBE_WORKSPACE: dirs.workspace,
          DANUBE_OUTPUT_DIR: dirs.outputDir,
        },
      })
      if (child.pid === undefined) {
        child.once('error', reject)
        return
      }
      const pgid = child.pid
      context.setHandle(JSON.stringify({pgid, step: index} satisfies LocalHandle))
      child.stdout.on('data', (chunk: Buffer) => log.write(chunk))
      child.stderr.on('data', (chunk: Buffer) => log.write(chunk))
      let stopping: Promise<void> | undefined
      const stop = () => {
        stopping = terminateGroup(pgid, stopGraceMs(signal, context.killGraceMs))
      }
      signal.addEventListener('abort', stop, {once: true})
      child.once('exit', (code, signalName) => {
        const exitCode = code ?? 128 + signalNumber(signalName)
        // A step's background processes do not outlive it; a cancelled step's group gets its full grace.
        void (async () => {
          if (stopping) await stopping
          else if (!(await waitUntilEmpty(pgid, 0))) signalGroup(pgid, 'SIGKILL')
          await waitUntilEmpty(pgid, 5000)
          signal.removeEventListener('abort', stop)
          resolve(exitCode)
        })()
      })
    })
  }

  async recover(job: Job, log: JobLog): Promise<'lost' | 'adopted'> {
    const handle = parseHandle(job.executorHandle)
    if (handle && groupBelongsToJob(handle.pgid, job.id)) {
      log.note(`killing process group ${handle.pgid} left by the previous agent`)
      signalGroup(handle.pgid, 'SIGKILL')
      await waitUntilEmpty(handle.pgid, 5000)
    }
    return 'lost'
  }
}

function parseHandle(text: string | null): LocalHandle | undefined {
  if (!text) return undefined
  try {
    const value = JSON.parse(text) as Partial<LocalHandle>
    return typeof value.pgid === 'number' && value.pgid > 1 ? (value as LocalHandle) : undefined
  } catch {
    return undefined
  }
}

/**
 * The part of the agent's environment a step inherits: what a shell needs to behave, nothing else. The
 * agent's own variables (DANUBE_*, KUBECONFIG, OTEL_*, credentials a service manager passed it) stay out
 * of jobs; a job gets its spec's `env` and the DANUBE_JOB_ID / DANUBE_WORKSPACE / DANUBE_OUTPUT_DIR trio.
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const

function stepBaseEnv(agentEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(INHERITED_ENV.filter((name) => agentEnv[name] !== undefined).map((name) => [name, agentEnv[name]]))
}

function signalNumber(name: NodeJS.Signals | null): number {
  return name ? constants.signals[name] : 0
}
