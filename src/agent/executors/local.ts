// Owns the local executor, the embedded default: each step runs as `sh -c <run>` in the job's
// workspace, one after another, inside the bubblewrap sandbox when there is one (src/agent/executors/
// sandbox.ts), else in its own process group; outputs become artifacts.
// node:child_process rather than execa: we need the raw pid as a process-group id, must signal the
// whole group (execa's kill targets only the direct child), and read bwrap's --info-fd on fd 3.

import {spawn} from 'node:child_process'
import {mkdirSync, rmSync} from 'node:fs'
import {constants} from 'node:os'
import path from 'node:path'

import type {JobLog} from '../../lib/jobs/log.js'
import {type Job, stepName} from '../../lib/jobs/model.js'
import {collectLocalOutputs} from './output-rule.js'
import {groupBelongsToJob, jobProcesses, killJobProcesses, signalGroup, signalProcess, terminateGroup, waitUntilEmpty} from './process-group.js'
import {type Isolation, namespaceMembers, parseSandboxInfo, type Sandbox, type SandboxInfo, type SandboxMode} from './sandbox.js'
import {type ExecutionContext, type ExecutionResult, type Executor, stopGraceMs, stopReason} from './types.js'

interface LocalHandle {
  /** Process group of the step: `sh` itself unsandboxed, bwrap's outer process sandboxed. */
  pgid: number
  step: number
}

export interface LocalExecutorOptions {
  agentEnv?: NodeJS.ProcessEnv
  /** The sandbox steps run in (probed at agent start); absent: unsandboxed. */
  sandbox?: Sandbox
  /** How steps are isolated, as the agent reports it; defaults to unsandboxed because no sandbox was given. */
  isolation?: Isolation
}

/** The fd bwrap writes its --info-fd JSON to (the child's stdio[3]). */
const INFO_FD = 3

export class LocalExecutor implements Executor {
  readonly name = 'local' as const
  /** Where steps run: `bubblewrap` or `none`. Every ExecutionResult carries it as `sandbox`, for provenance. */
  readonly sandboxMode: SandboxMode
  readonly isolation: Isolation

  private readonly baseEnv: NodeJS.ProcessEnv
  private readonly sandbox?: Sandbox

  constructor(options: LocalExecutorOptions = {}) {
    this.baseEnv = stepBaseEnv(options.agentEnv ?? process.env)
    this.sandbox = options.sandbox
    this.sandboxMode = options.sandbox ? 'bubblewrap' : 'none'
    this.isolation = options.isolation ?? {mode: this.sandboxMode, setting: options.sandbox ? 'bubblewrap' : 'none', network: options.sandbox?.options.network ?? 'host'}
  }

  async run(context: ExecutionContext): Promise<ExecutionResult> {
    const {job, log, signal} = context
    const workspace = path.join(context.workDir, 'workspace')
    const outputDir = path.join(context.workDir, 'outputs')
    mkdirSync(workspace, {recursive: true, mode: 0o700})
    mkdirSync(outputDir, {recursive: true, mode: 0o700})
    let result: ExecutionResult = {state: 'succeeded', reason: null, exitCode: 0, sandbox: this.sandboxMode}
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
          result = {state: 'failed', reason: 'exit-code', exitCode, sandbox: this.sandboxMode}
          break
        }
      }
      if (signal.aborted) {
        const reason = stopReason(signal)
        result = {state: reason === 'timeout' ? 'failed' : 'cancelled', reason, exitCode: null, sandbox: this.sandboxMode}
      }
      const collected = await collectLocalOutputs(outputDir, context.artifactsDir, log)
      if (collected.files.length > 0) log.note(`collected ${collected.files.length} artifact(s)`)
      result = {...result, outputs: collected}
    } finally {
      rmSync(context.workDir, {recursive: true, force: true})
    }
    return result
  }

  private runStep(context: ExecutionContext, index: number, run: string, dirs: {workspace: string; outputDir: string}): Promise<number> {
    const {job, log, signal} = context
    const sandbox = this.sandbox
    return new Promise<number>((resolve, reject) => {
      const [command, args] = sandbox
        ? [sandbox.options.bwrap, [...sandbox.args(context.workDir, dirs.workspace, {infoFd: INFO_FD}), '/bin/sh', '-c', run]]
        : ['/bin/sh', ['-c', run]]
      const child = spawn(command, args, {
        cwd: dirs.workspace,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe', sandbox ? 'pipe' : 'ignore'],
        // Through the environment, never bwrap's --setenv: argv is readable by every local user.
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
      child.stdout!.on('data', (chunk: Buffer) => log.write(chunk))
      child.stderr!.on('data', (chunk: Buffer) => log.write(chunk))
      const closed = new Promise<void>((done) => child.once('close', () => done()))
      const exited = new Promise<void>((done) => child.once('exit', () => done()))
      const info = sandbox ? readInfo(child.stdio[INFO_FD] as NodeJS.ReadableStream) : Promise.resolve(undefined)
      let stopping: Promise<void> | undefined
      const stop = () => {
        const graceMs = stopGraceMs(signal, context.killGraceMs)
        stopping = sandbox ? stopSandbox(pgid, info, exited, graceMs) : stopUnsandboxed(pgid, job.id, graceMs)
      }
      signal.addEventListener('abort', stop, {once: true})
      child.once('exit', (code, signalName) => {
        const exitCode = code ?? 128 + signalNumber(signalName)
        void (async () => {
          if (stopping) await stopping
          // Sandboxed, nothing is left: the namespace died with bwrap's PID 1 before bwrap could exit.
          else if (!sandbox) await endLeftovers(pgid, job.id)
          signal.removeEventListener('abort', stop)
          // The last output may still be in the pipes; a process that escaped with them open cannot hold the step.
          await Promise.race([closed, delay(1000)])
          resolve(exitCode)
        })()
      })
    })
  }

  /**
   * For provenance (issue 9, its Executor.provenanceContext): the isolation its builder.id names (`bubblewrap`
   * or `none`) and the sandbox settings for internalParameters. The same for every job of this agent: the
   * sandbox is probed once at start.
   */
  provenanceContext(_job: Job): {isolation: SandboxMode; internal: Record<string, unknown>} {
    const {mode, setting, network} = this.isolation
    return {isolation: mode, internal: {sandbox: {mode, setting, network}}}
  }

  async recover(job: Job, log: JobLog): Promise<'lost' | 'adopted'> {
    const handle = parseHandle(job.executorHandle)
    if (handle && groupBelongsToJob(handle.pgid, job.id)) {
      log.note(`killing process group ${handle.pgid} left by the previous agent`)
      signalGroup(handle.pgid, 'SIGKILL')
      await waitUntilEmpty(handle.pgid, 5000)
    }
    // Unsandboxed steps may have left the group (setsid); a sandbox died with the previous agent.
    const escaped = await killJobProcesses(job.id)
    if (escaped > 0) log.note(`killed ${escaped} process(es) of this job left by the previous agent`)
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

/**
 * A step ended unsandboxed: its group's background processes do not outlive it, nor do processes that left
 * the group but still carry the job's DANUBE_JOB_ID (setsid, double fork).
 */
async function endLeftovers(pgid: number, jobId: string): Promise<void> {
  if (!(await waitUntilEmpty(pgid, 0))) signalGroup(pgid, 'SIGKILL')
  await waitUntilEmpty(pgid, 5000)
  await killJobProcesses(jobId)
}

/** Cancel or timeout, unsandboxed: SIGTERM to the group and the job's escaped processes, SIGKILL after the grace. */
async function stopUnsandboxed(pgid: number, jobId: string, graceMs: number): Promise<void> {
  for (const pid of jobProcesses(jobId)) signalProcess(pid, 'SIGTERM')
  await terminateGroup(pgid, graceMs)
  await killJobProcesses(jobId)
}

/**
 * Cancel or timeout, sandboxed: SIGTERM to every process in the sandbox's PID namespace (setsid cannot
 * leave it), then after the grace SIGKILL to its PID 1, which makes the kernel kill all the rest.
 * bwrap does not forward signals, so they go to the namespace's members by their host pids. bwrap reports the
 * sandbox before its PID 1 has necessarily started the step's shell, and a cancel right after the start found
 * nothing to signal, so the step ran on until the SIGKILL: the namespace is looked at again (every 25 ms of the
 * grace) until there is a process to signal. Then what is there gets SIGTERM once, as a group kill would: what a
 * step's TERM trap starts afterwards (its clean-up) is left its grace.
 */
async function stopSandbox(bwrapPid: number, info: Promise<SandboxInfo | undefined>, exited: Promise<void>, graceMs: number): Promise<void> {
  const known = await Promise.race([info, exited.then(() => undefined)])
  if (!known) {
    // Not set up yet (or already gone): bwrap's outer process dying takes the sandbox with it (--die-with-parent).
    signalGroup(bwrapPid, 'SIGKILL')
    await exited
    return
  }
  let ended = false
  const done = exited.then(() => (ended = true))
  const graceEnds = Date.now() + graceMs
  for (;;) {
    const members = namespaceMembers(known.pidNamespace).filter((pid) => pid !== known.childPid)
    if (members.length > 0) {
      for (const pid of members) signalProcess(pid, 'SIGTERM')
      break
    }
    if (ended || Date.now() >= graceEnds) break
    await Promise.race([done, delay(Math.min(25, graceEnds - Date.now()))])
  }
  if (!ended) await Promise.race([done, delay(Math.max(0, graceEnds - Date.now()))])
  if (!ended) {
    signalProcess(known.childPid, 'SIGKILL')
    signalGroup(bwrapPid, 'SIGKILL')
    await exited
  }
  const deadline = Date.now() + 5000
  while (namespaceMembers(known.pidNamespace).length > 0 && Date.now() < deadline) await delay(25)
}

function readInfo(stream: NodeJS.ReadableStream): Promise<SandboxInfo | undefined> {
  return new Promise((resolve) => {
    let text = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      if (text.length < 64 * 1024) text += chunk
    })
    stream.once('end', () => resolve(parseSandboxInfo(text)))
    stream.once('error', () => resolve(undefined))
  })
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

function signalNumber(name: NodeJS.Signals | null): number {
  return name ? constants.signals[name] : 0
}
