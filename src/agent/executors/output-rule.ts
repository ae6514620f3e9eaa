// Owns the one rule for what a job's outputs may be, on every executor, and how accepted outputs become
// artifacts/<id>/: regular files and directories only; symbolic links, hard links, special files, unsafe names
// and Danube's reserved names are refused with a reason and logged. Files are staged in a temp directory beside
// artifacts/<id>/, hashed (SHA-256) while they are written, and renamed into place only when complete, so a
// half-copied directory is never mistaken for a job's outputs and provenance signs digests the agent computed.
// Hand-written: no library walks a tree without following links and hashes while copying with these refusals.

import {createHash, randomBytes} from 'node:crypto'
import {constants, mkdirSync, readdirSync, renameSync, rmSync} from 'node:fs'
import {lstat, mkdir, open, readdir, readlink, realpath} from 'node:fs/promises'
import path from 'node:path'

import type {JobLog} from '../../lib/jobs/log.js'

/** Top-level artifact names Danube writes itself (conventions: reserved artifact names); a job cannot forge them. */
export const RESERVED_ARTIFACT_NAMES: readonly string[] = ['provenance.intoto.jsonl', 'provenance.sigstore.json']

export interface CollectedFile {
  /** Relative POSIX path under artifacts/<id>/. */
  path: string
  size: number
  /** Hex SHA-256 of the bytes the agent wrote. */
  sha256: string
}

export interface RefusedOutput {
  path: string
  reason: string
}

export interface OutputsReport {
  /** Sorted by path. */
  files: CollectedFile[]
  refused: RefusedOutput[]
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * Checks an output's relative name as an executor or a tar archive gives it. Leading `./` (as `tar -C dir -cf - .`
 * writes) and a directory's trailing `/` are accepted; `path: ''` is the outputs root itself.
 */
export function checkOutputName(name: string): {path: string} | {refused: string} {
  if (name.includes('\0')) return {refused: 'NUL in path'}
  if (CONTROL.test(name)) return {refused: 'control character in path'}
  if (name.includes('\\')) return {refused: 'backslash in path'}
  if (name.startsWith('/')) return {refused: 'absolute path'}
  let relative = name
  while (relative.startsWith('./')) relative = relative.slice(2)
  if (relative === '.') relative = ''
  relative = relative.replace(/\/+$/, '')
  if (relative === '') return {path: ''}
  const parts = relative.split('/')
  if (parts.includes('..')) return {refused: 'path contains ..'}
  if (parts.some((part) => part === '' || part === '.')) return {refused: 'path has an empty or "." segment'}
  if (parts.length === 1 && RESERVED_ARTIFACT_NAMES.includes(relative)) return {refused: 'reserved artifact name'}
  return {path: relative}
}

/** Why a tar entry of this tar-stream type is not accepted, or null for files and directories. */
export function tarEntryRefusal(type: string): string | null {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case 'directory':
      return null
    case 'symlink':
      return 'symbolic link'
    case 'link':
      return 'hard link'
    default:
      return `not a regular file (${type})`
  }
}

/** Names as they may appear in a log line: control characters never reach a terminal raw. */
function printable(name: string): string {
  return CONTROL.test(name) ? JSON.stringify(name) : name
}

/**
 * Outputs being turned into artifacts/<id>/. Nothing is visible there until commit(); discard() leaves no trace.
 * One staging per job run; a staging left by a crashed agent is removed by the next one for the same job.
 */
export class ArtifactStaging {
  private readonly root: string
  private readonly files: CollectedFile[] = []
  private readonly refused: RefusedOutput[] = []
  private readonly seen = new Set<string>()
  private created = false

  constructor(
    private readonly artifactsDir: string,
    private readonly log: JobLog,
  ) {
    const parent = path.dirname(artifactsDir)
    const prefix = `.${path.basename(artifactsDir)}.staging-`
    this.root = path.join(parent, `${prefix}${randomBytes(6).toString('hex')}`)
    for (const stale of safeReaddir(parent).filter((entry) => entry.startsWith(prefix))) {
      rmSync(path.join(parent, stale), {recursive: true, force: true})
    }
  }

  refuse(name: string, reason: string): void {
    this.refused.push({path: name, reason})
    this.log.note(`refused output ${printable(name)}: ${reason}`)
  }

  addDirectory(name: string): void {
    const checked = checkOutputName(name)
    if ('refused' in checked) return this.refuse(name, checked.refused)
    mkdirSync(path.join(this.ensureRoot(), checked.path), {recursive: true, mode: 0o700})
  }

  /** Streams one file in, hashing as it goes. A failing source rejects (the caller decides the job's fate). */
  async addFile(name: string, content: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, mode: number): Promise<void> {
    const checked = checkOutputName(name)
    if ('refused' in checked) return this.refuse(name, checked.refused)
    if (checked.path === '') return this.refuse(name, 'not a regular file (the outputs root)')
    if (this.seen.has(checked.path)) return this.refuse(name, 'duplicate entry')
    this.seen.add(checked.path)
    const target = path.join(this.ensureRoot(), checked.path)
    await mkdir(path.dirname(target), {recursive: true, mode: 0o700})
    // O_EXCL | O_NOFOLLOW: nothing in the staging directory may be a link we write through, or written twice.
    const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o111 ? 0o755 : 0o644)
    const hash = createHash('sha256')
    let size = 0
    try {
      for await (const chunk of content as AsyncIterable<Uint8Array>) {
        hash.update(chunk)
        size += chunk.byteLength
        await handle.write(chunk)
      }
    } finally {
      await handle.close()
    }
    this.files.push({path: checked.path, size, sha256: hash.digest('hex')})
  }

  /** Replaces artifacts/<id>/ with what was staged (an empty directory when nothing was). */
  commit(): OutputsReport {
    rmSync(this.artifactsDir, {recursive: true, force: true})
    if (this.created) renameSync(this.root, this.artifactsDir)
    else mkdirSync(this.artifactsDir, {recursive: true, mode: 0o700})
    this.created = false
    const files = [...this.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    return {files, refused: [...this.refused]}
  }

  discard(): void {
    rmSync(this.root, {recursive: true, force: true})
    this.created = false
  }

  private ensureRoot(): string {
    if (!this.created) {
      mkdirSync(this.root, {recursive: true, mode: 0o700})
      this.created = true
    }
    return this.root
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function describeSpecial(stat: {isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean}): string {
  if (stat.isFIFO()) return 'not a regular file (fifo)'
  if (stat.isSocket()) return 'not a regular file (socket)'
  if (stat.isCharacterDevice()) return 'not a regular file (character-device)'
  if (stat.isBlockDevice()) return 'not a regular file (block-device)'
  return 'not a regular file'
}

/**
 * The local executor's collector: walks outputDir without following links and stages what the rule accepts.
 * A file is opened with O_NOFOLLOW and then checked through its descriptor (still a regular file, the same inode
 * the walk saw, one link, and /proc/self/fd says it lives where the walk expected), so a step that swaps a
 * directory for a symlink between the check and the copy cannot make the agent copy a file from elsewhere.
 */
export async function collectLocalOutputs(outputDir: string, artifactsDir: string, log: JobLog): Promise<OutputsReport> {
  const staging = new ArtifactStaging(artifactsDir, log)
  let root: string
  try {
    root = await realpath(outputDir)
  } catch {
    return staging.commit()
  }
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(root, relative), {encoding: 'buffer'}).catch(() => [] as Buffer[])
    entries.sort(Buffer.compare)
    for (const raw of entries) {
      const name = raw.toString('utf8')
      const rel = relative ? `${relative}/${name}` : name
      if (!Buffer.from(name, 'utf8').equals(raw)) {
        staging.refuse(rel, 'name is not valid UTF-8')
        continue
      }
      const full = path.join(root, rel)
      const stat = await lstat(full)
      if (stat.isDirectory()) {
        staging.addDirectory(rel)
        if (!('refused' in checkOutputName(rel))) await walk(rel)
      } else if (stat.isSymbolicLink()) {
        staging.refuse(rel, 'symbolic link')
      } else if (!stat.isFile()) {
        staging.refuse(rel, describeSpecial(stat))
      } else if (stat.nlink > 1) {
        staging.refuse(rel, 'hard link')
      } else {
        await copyChecked(staging, full, rel, stat)
      }
    }
  }
  try {
    await walk('')
    return staging.commit()
  } catch (error) {
    staging.discard()
    throw error
  }
}

async function copyChecked(staging: ArtifactStaging, full: string, rel: string, seen: {ino: number; dev: number}): Promise<void> {
  let handle
  try {
    handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return staging.refuse(rel, code === 'ELOOP' ? 'symbolic link' : `cannot open it: ${code ?? (error as Error).message}`)
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) return staging.refuse(rel, describeSpecial(stat))
    if (stat.nlink > 1) return staging.refuse(rel, 'hard link')
    if (stat.ino !== seen.ino || stat.dev !== seen.dev) return staging.refuse(rel, 'changed while it was being collected')
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => full)
    if (opened !== full) return staging.refuse(rel, 'path leaves the outputs directory')
    await staging.addFile(rel, handle.createReadStream({autoClose: false, start: 0}), stat.mode)
  } finally {
    await handle.close()
  }
}
