// Owns the config-as-code sync: every cac.interval the agent fetches cac.branch of cac.repo (a git URL or
// path) into <stateDir>/cac/ with the real git binary, and records every attempt in cac_syncs. This is
// the minimal sync cac:freshness measures; what the agent does with the files comes later.
// Credentials in cac.repo (`https://bot:TOKEN@host/repo`) never reach git's command line, where every local
// user can read them in /proc/<pid>/cmdline: git gets the URL without them and asks GIT_ASKPASS, a helper
// that prints them from 0600 files in a private directory of the state dir, removed after the sync.
// cac.timeout bounds the whole sync (every git command of it), not each command.

import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import type {Clock} from '../../lib/clock.js'
import {formatDuration} from '../../lib/duration.js'
import {REDACTED, redactUrlCredentials} from '../../lib/redact.js'
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
    const {url, credentials} = splitCredentials(repo)
    // One deadline for the whole sync: every git command below is killed when it passes.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(), this.options.timeoutMs)
    const signal = AbortSignal.any([this.abort.signal, deadline.signal])
    let askpass: Askpass | undefined
    let result: CacSyncResult
    try {
      if (!existsSync(path.join(this.dir, '.git'))) {
        mkdirSync(this.dir, {recursive: true, mode: 0o700})
        await this.git(['init', '--quiet', this.dir], signal)
      }
      askpass = credentials ? writeAskpass(this.options.stateDir, credentials) : undefined
      await this.git(['-C', this.dir, 'fetch', '--quiet', '--no-tags', '--no-recurse-submodules', '--', url, `refs/heads/${branch}`], signal, askpass?.env)
      await this.git(['-C', this.dir, 'checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'], signal)
      await this.git(['-C', this.dir, 'clean', '-ffdxq'], signal)
      const revision = (await this.git(['-C', this.dir, 'rev-parse', 'HEAD'], signal)).trim()
      result = {ok: true, revision}
      logger.debug('config-as-code synced', {repo: redactUrlCredentials(repo), branch, revision})
    } catch (error) {
      result = {ok: false, error: redactSecrets((error as Error).message, credentials)}
      logger.warn('config-as-code sync failed', {repo: redactUrlCredentials(repo), branch, error: result.error})
    } finally {
      clearTimeout(timer)
      askpass?.remove()
    }
    try {
      this.syncs.finish(id, result)
    } catch (error) {
      logger.warn('config-as-code sync not recorded', {error: (error as Error).message})
    }
    return result
  }

  private git(args: string[], signal: AbortSignal, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
    // credential.helper emptied: a helper from the host's git config must not store (or supply) our credentials.
    const env = {...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', LC_ALL: 'C', ...extraEnv}
    const command = `git ${args.find((arg) => !arg.startsWith('-') && arg !== this.dir) ?? ''}`
    if (signal.aborted) return Promise.reject(this.stopped(command))
    return new Promise((resolve, reject) => {
      execFile(
        this.options.git ?? 'git',
        ['-c', 'credential.helper=', ...args],
        {env, killSignal: 'SIGKILL', signal, maxBuffer: 1024 * 1024},
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout)
          const lines = stderr.trim().split('\n').filter(Boolean)
          const fatal = lines.filter((line) => /^(fatal|error):/.test(line))
          const detail = redactUrlCredentials((fatal.length > 0 ? fatal : lines.slice(-2)).slice(0, 2).join('; ')) || error.message
          if (signal.aborted) reject(this.stopped(command))
          else if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('git is not installed (needed for cac.repo)'))
          else reject(new Error(`${command} failed: ${detail}`))
        },
      )
    })
  }

  private stopped(command: string): Error {
    if (this.abort.signal.aborted) return new Error(`${command} stopped: the agent is shutting down`)
    return new Error(`${command} timed out: the sync took longer than cac.timeout (${formatDuration(this.options.timeoutMs)})`)
  }
}

interface Askpass {
  env: NodeJS.ProcessEnv
  remove(): void
}

/**
 * cac.repo without its userinfo, and the userinfo apart. By hand: the WHATWG URL parser would also
 * percent-decode and normalise the rest of the URL, which git must receive exactly as configured.
 */
export function splitCredentials(repo: string): {url: string; credentials?: {username: string; password: string}} {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]+)@(.*)$/i.exec(repo)
  if (!match) return {url: repo}
  const [, scheme, userinfo, rest] = match as unknown as [string, string, string, string]
  const colon = userinfo.indexOf(':')
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return text
    }
  }
  const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon))
  const password = colon === -1 ? '' : decode(userinfo.slice(colon + 1))
  return {url: `${scheme}${rest}`, credentials: {username, password}}
}

/**
 * The askpass helper and the two 0600 files it reads, in a 0700 directory of the state dir (hidden from
 * sandboxed steps). The script holds no secret; git calls it with its prompt ("Username for …",
 * "Password for …") as $1.
 */
function writeAskpass(stateDir: string, credentials: {username: string; password: string}): Askpass {
  const dir = mkdtempSync(path.join(stateDir, '.cac-askpass-'))
  const usernameFile = path.join(dir, 'username')
  const passwordFile = path.join(dir, 'password')
  const script = path.join(dir, 'askpass.sh')
  writeFileSync(usernameFile, credentials.username, {mode: 0o600})
  writeFileSync(passwordFile, credentials.password, {mode: 0o600})
  writeFileSync(script, '#!/bin/sh\ncase "$1" in\n  Username*) exec cat "$DANUBE_CAC_USERNAME_FILE" ;;\n  *) exec cat "$DANUBE_CAC_PASSWORD_FILE" ;;\nesac\n', {mode: 0o700})
  return {
    env: {GIT_ASKPASS: script, DANUBE_CAC_USERNAME_FILE: usernameFile, DANUBE_CAC_PASSWORD_FILE: passwordFile},
    remove: () => rmSync(dir, {recursive: true, force: true}),
  }
}

/**
 * Git may echo the URL or the username in its errors: the password never reaches a log or the database, nor
 * does a username given without one (`https://TOKEN@host/…`, the usual form of a token).
 */
function redactSecrets(text: string, credentials?: {username: string; password: string}): string {
  let out = redactUrlCredentials(text)
  const secret = credentials ? credentials.password || credentials.username : ''
  if (secret.length >= 4) out = out.split(secret).join(REDACTED)
  return out
}
