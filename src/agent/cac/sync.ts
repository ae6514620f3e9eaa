// Owns the config-as-code sync: every cac.interval the agent fetches cac.branch of cac.repo (a git URL or
// path) into <stateDir>/cac/ with the real git binary, and records every attempt in cac_syncs. This is
// the minimal sync cac:freshness measures; what the agent does with the files comes later.

import {execFile} from 'node:child_process'
import {existsSync, mkdirSync} from 'node:fs'
import path from 'node:path'

import type {Clock} from '../../lib/clock.js'
import {redactUrlCredentials} from '../../lib/redact.js'
import {CacSyncStore} from '../../lib/store/cac.js'
import type {Store} from '../../lib/store/index.js'
import type {Logger} from '../logger.js'

export interface CacSyncOptions {
  repo: string
  branch: string
  stateDir: string
  intervalMs: number
  timeoutMs: number
  store: Store
  clock: Clock
  logger: Logger
  /** The git executable (tests may point at another). */
  git?: string
}

export type CacSyncResult = {ok: true; revision: string} | {ok: false; error: string}

export class CacSync {
  private timer?: NodeJS.Timeout
  private running?: Promise<CacSyncResult>
  private readonly abort = new AbortController()
  private readonly syncs: CacSyncStore
  readonly dir: string

  constructor(private readonly options: CacSyncOptions) {
    this.syncs = new CacSyncStore(options.store, options.clock)
    this.dir = path.join(options.stateDir, 'cac')
  }

  /** Syncs now, then every interval. */
  start(): void {
    if (this.timer) return
    void this.syncNow()
    this.timer = setInterval(() => void this.syncNow(), this.options.intervalMs)
    this.timer.unref()
  }

  /** Stops the timer and kills a git command still running (its attempt is recorded as failed). */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.abort.abort()
    await this.running
  }

  /** One sync; a call while one is running joins it. */
  syncNow(): Promise<CacSyncResult> {
    this.running ??= this.sync().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async sync(): Promise<CacSyncResult> {
    const {repo, branch, logger} = this.options
    const id = this.syncs.begin()
    let result: CacSyncResult
    try {
      if (!existsSync(path.join(this.dir, '.git'))) {
        mkdirSync(this.dir, {recursive: true, mode: 0o700})
        await this.git(['init', '--quiet', this.dir])
      }
      await this.git(['-C', this.dir, 'fetch', '--quiet', '--no-tags', '--no-recurse-submodules', '--', repo, `refs/heads/${branch}`])
      await this.git(['-C', this.dir, 'checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'])
      await this.git(['-C', this.dir, 'clean', '-ffdxq'])
      const revision = (await this.git(['-C', this.dir, 'rev-parse', 'HEAD'])).trim()
      result = {ok: true, revision}
      logger.debug('config-as-code synced', {repo: redactUrlCredentials(repo), branch, revision})
    } catch (error) {
      result = {ok: false, error: (error as Error).message}
      logger.warn('config-as-code sync failed', {repo: redactUrlCredentials(repo), branch, error: result.error})
    }
    try {
      this.syncs.finish(id, result)
    } catch (error) {
      logger.warn('config-as-code sync not recorded', {error: (error as Error).message})
    }
    return result
  }

  private git(args: string[]): Promise<string> {
    const env = {...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', LC_ALL: 'C'}
    return new Promise((resolve, reject) => {
      execFile(
        this.options.git ?? 'git',
        args,
        {env, timeout: this.options.timeoutMs, killSignal: 'SIGKILL', signal: this.abort.signal, maxBuffer: 1024 * 1024},
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout)
          const killed = (error as {killed?: boolean}).killed || error.name === 'AbortError'
          const lines = stderr.trim().split('\n').filter(Boolean)
          const fatal = lines.filter((line) => /^(fatal|error):/.test(line))
          const detail = redactUrlCredentials((fatal.length > 0 ? fatal : lines.slice(-2)).slice(0, 2).join('; ')) || error.message
          const command = `git ${args.find((arg) => !arg.startsWith('-') && arg !== this.dir) ?? ''}`
          if (this.abort.signal.aborted) reject(new Error(`${command} stopped: the agent is shutting down`))
          else if (killed) reject(new Error(`${command} timed out after ${Math.round(this.options.timeoutMs / 1000)}s (cac.timeout)`))
          else if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('git is not installed (needed for cac.repo)'))
          else reject(new Error(`${command} failed: ${detail}`))
        },
      )
    })
  }
}

