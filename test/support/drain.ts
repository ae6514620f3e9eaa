// Helpers for the drain tests: CLI processes the test can signal, triggers, and direct reads of the
// agent's SQLite file (as `danube status` does).

import {spawn, type ChildProcess} from 'node:child_process'
import {readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {Store} from '../../src/lib/store/index.js'
import {type AgentProcess, BIN, type CliResult, testEnv, waitFor} from './agent-process.js'

export interface CliProcess {
  child: ChildProcess
  result: Promise<CliResult>
  stdout(): string
  stderr(): string
}

/** `danube <args>` as a process the test can signal mid-run. */
export function spawnCli(args: string[], stateDir: string, env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {env: testEnv(stateDir, env), stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const result = new Promise<CliResult>((resolve) => child.once('exit', (code, signal) => resolve({code: code ?? (signal === 'SIGKILL' ? 137 : -1), stdout, stderr})))
  return {child, result, stdout: () => stdout, stderr: () => stderr}
}

export interface Triggered {
  status: number
  body: {id?: string; state?: string; error?: {code: string; message: string}}
  retryAfter: string | null
}

export async function trigger(agent: AgentProcess, spec: Record<string, unknown>): Promise<Triggered> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  return {status: response.status, body: (await response.json()) as Triggered['body'], retryAfter: response.headers.get('retry-after')}
}

export interface JobView {
  id: string
  state: string
  reason: string | null
  executorHandle: string | null
}

export async function getJob(agent: AgentProcess, id: string): Promise<JobView> {
  return (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobView
}

export function waitForState(agent: AgentProcess, id: string, state: string, timeoutMs = 10_000): Promise<JobView> {
  return waitFor(async () => {
    const job = await getJob(agent, id)
    return job.state === state ? job : undefined
  }, {timeoutMs, what: `job ${id} ${state}`})
}

/** Reads the state directory's database the way the CLI does (a second connection). */
export function query<T>(stateDir: string, sql: string, params: unknown[] = []): T[] {
  const store = Store.openInStateDir(stateDir)
  try {
    return store.all<T>(sql, params)
  } finally {
    store.close()
  }
}

export function drainRow(stateDir: string): {state: string; history_id: number | null; requested_at: string | null} {
  return query<{state: string; history_id: number | null; requested_at: string | null}>(stateDir, 'SELECT * FROM drain_state WHERE id = 1')[0]!
}

/** Whether any live process is in process group pgid (zombies excluded). */
export async function groupAlive(pgid: number): Promise<boolean> {
  const {groupMembers} = await import('../../src/agent/executors/process-group.js')
  return groupMembers(pgid).length > 0
}

export function pgidOf(job: JobView): number {
  return (JSON.parse(job.executorHandle!) as {pgid: number}).pgid
}

/**
 * A job step that runs until the test releases it: no race between sleeps and slow process starts.
 * The gate file goes into the running jobs' own work directories (work/<id>/), the one part of the state
 * directory a sandboxed step can see.
 */
export function releaseGate(stateDir: string, name: string): {run: string; release(): void} {
  const file = `release-${name}`
  return {
    run: `while [ ! -e "$DANUBE_WORKSPACE/../${file}" ]; do sleep 0.05; done`,
    release: () => {
      const work = path.join(stateDir, 'work')
      for (const id of readdirSync(work)) {
        try {
          if (statSync(path.join(work, id)).isDirectory()) writeFileSync(path.join(work, id, file), '')
        } catch {
          // That job ended meanwhile.
        }
      }
    },
  }
}
