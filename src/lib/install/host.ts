// Owns every contact `danube install` has with the machine: files under the --root prefix (read, written
// atomically with a mode and owner, never rewritten when unchanged) and commands run with a clean
// environment, a deadline and a captured output tail. Steps use nothing else, so --root and stand-in
// executables on PATH cover all of it.

import {createHash} from 'node:crypto'
import {chmodSync, chownSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import path from 'node:path'

import {StepFailure} from './plan.js'

export interface Owner {
  uid: number
  gid: number
}

export interface RunOptions {
  /** Extra variables; the child never inherits the installer's environment beyond PATH, HOME, LANG. */
  env?: Record<string, string>
  timeoutMs?: number
  input?: string
  /** What the command is, for the error message ("the K3s installer"). */
  what?: string
  hint?: string
  cwd?: string
}

export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
}

const TAIL_LINES = 20

/** The last lines of a command's output: what an operator needs to see on failure. */
export function outputTail(text: string, lines = TAIL_LINES): string {
  return text.trim().split('\n').slice(-lines).join('\n')
}

export class InstallHost {
  constructor(
    /** Every absolute path the installer touches is resolved under this prefix ("/" on a real host). */
    readonly root: string,
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
  ) {}

  /** /etc/danube/config.yaml → <root>/etc/danube/config.yaml. */
  path(absolute: string): string {
    return this.root === '/' ? absolute : path.join(this.root, absolute)
  }

  exists(absolute: string): boolean {
    return existsSync(this.path(absolute))
  }

  read(absolute: string): string | undefined {
    try {
      return readFileSync(this.path(absolute), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  readBytes(absolute: string): Buffer | undefined {
    try {
      return readFileSync(this.path(absolute))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  /** Whether the file exists with exactly this content, mode and (when given) owner. */
  fileMatches(absolute: string, content: string | Buffer, mode: number, owner?: Owner): boolean {
    const file = this.path(absolute)
    try {
      const stat = lstatSync(file)
      if (!stat.isFile() || (stat.mode & 0o7777) !== mode) return false
      if (owner && (stat.uid !== owner.uid || stat.gid !== owner.gid)) return false
      return readFileSync(file).equals(Buffer.isBuffer(content) ? content : Buffer.from(content))
    } catch {
      return false
    }
  }

  /**
   * Writes through an exclusive-create temp file in the same directory (created with the final mode, so a
   * secret is never readable by others, even for an instant), fsyncs and renames: readers see the old file
   * or the new one, never half of it.
   */
  writeFile(absolute: string, content: string | Buffer, mode: number, owner?: Owner): void {
    const file = this.path(absolute)
    mkdirSync(path.dirname(file), {recursive: true})
    const temp = `${file}.danube-${process.pid}-${Date.now()}.tmp`
    const fd = openSync(temp, 'wx', mode)
    try {
      writeSync(fd, Buffer.isBuffer(content) ? content : Buffer.from(content))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    try {
      chmodSync(temp, mode)
      if (owner) chownSync(temp, owner.uid, owner.gid)
      renameSync(temp, file)
    } catch (error) {
      rmSync(temp, {force: true})
      throw error
    }
  }

  /** Fixes mode and owner of an existing file without touching its content. */
  setMode(absolute: string, mode: number, owner?: Owner): void {
    chmodSync(this.path(absolute), mode)
    if (owner) chownSync(this.path(absolute), owner.uid, owner.gid)
  }

  modeOf(absolute: string): {mode: number; uid: number; gid: number} | undefined {
    try {
      const stat = statSync(this.path(absolute))
      return {mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid}
    } catch {
      return undefined
    }
  }

  ensureDir(absolute: string, mode: number, owner?: Owner): boolean {
    const dir = this.path(absolute)
    const before = this.modeOf(absolute)
    if (before && before.mode === mode && (!owner || (before.uid === owner.uid && before.gid === owner.gid))) return false
    mkdirSync(dir, {recursive: true, mode})
    chmodSync(dir, mode)
    if (owner) chownSync(dir, owner.uid, owner.gid)
    return true
  }

  remove(absolute: string): boolean {
    const file = this.path(absolute)
    if (!existsSync(file)) return false
    rmSync(file, {recursive: true, force: true})
    return true
  }

  /** The environment a child gets: only what commands need to be found and to speak the locale. */
  cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = {PATH: this.baseEnv.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}
    for (const name of ['HOME', 'LANG', 'LC_ALL', 'TMPDIR']) if (this.baseEnv[name]) env[name] = this.baseEnv[name]!
    return {...env, ...extra}
  }

  /** Runs a command; resolves with its exit code (never throws for a non-zero exit). */
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const {execa} = await import('execa')
    const result = await execa(command, args, {
      env: this.cleanEnv(options.env),
      extendEnv: false,
      reject: false,
      all: false,
      ...(options.timeoutMs ? {timeout: options.timeoutMs, killSignal: 'SIGTERM' as const, forceKillAfterDelay: 5000} : {}),
      ...(options.input !== undefined ? {input: options.input} : {stdin: 'ignore' as const}),
      ...(options.cwd ? {cwd: options.cwd} : {}),
    })
    if (result.failed && result.exitCode === undefined) {
      const what = options.what ?? command
      if (result.timedOut) {
        throw new StepFailure('COMMAND_TIMEOUT', `${what} did not finish within ${Math.round((options.timeoutMs ?? 0) / 1000)}s`, {
          hint: options.hint, outputTail: outputTail(`${result.stdout}\n${result.stderr}`),
        })
      }
      const code = (result as {code?: string}).code
      throw new StepFailure('COMMAND_NOT_FOUND', `${what} could not be started (${command}: ${code === 'ENOENT' ? 'not found' : result.shortMessage})`, {hint: options.hint})
    }
    return {exitCode: result.exitCode ?? 1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '')}
  }

  /** Runs a command that must succeed: a non-zero exit is a StepFailure with the output's tail. */
  async mustRun(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const result = await this.run(command, args, options)
    if (result.exitCode !== 0) {
      throw new StepFailure('COMMAND_FAILED', `${options.what ?? `${command} ${args.join(' ')}`} exited with status ${result.exitCode}`, {
        hint: options.hint, outputTail: outputTail(`${result.stdout}\n${result.stderr}`),
      })
    }
    return result
  }
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex')
}
