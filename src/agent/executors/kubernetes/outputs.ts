// Owns bringing a Kubernetes job's /outputs home: finding the base64 tar the final container printed between marker
// lines, checking its size and checksum, and unpacking it into artifacts/<id>/ with the same rules as the local
// executor: regular files and directories only; absolute paths, `..`, links and special files are refused and logged.
// The tar is read with tar-stream (already installed as a dependency of @kubernetes/client-node, declared in
// package.json): it handles ustar, GNU long names and pax headers, which busybox and GNU tar both emit.

import {createHash} from 'node:crypto'
import {closeSync, constants, mkdirSync, openSync, writeSync} from 'node:fs'
import path from 'node:path'

import {extract} from 'tar-stream'

import type {JobLog} from '../../../lib/jobs/log.js'
import {OUTPUTS_BEGIN, OUTPUTS_END} from './manifest.js'

/** Top-level artifact names Danube writes itself (conventions: reserved artifact names); a job cannot forge them. */
const RESERVED = new Set(['provenance.intoto.jsonl', 'provenance.sigstore.json'])

export interface OutputsArchive {
  /** The decoded tar, when the markers were found and the size and checksum match. */
  archive?: Buffer
  /** Why there is no archive. */
  problem?: string
  /** Lines of the final container's log outside the markers (tar's complaints, for instance). */
  other: string[]
}

/** Reads the final container's log. */
export function parseOutputsLog(text: string): OutputsArchive {
  const lines = text.split('\n')
  const other: string[] = []
  let begin: {size: number; sha256: string} | undefined
  let body: string[] | undefined
  let ended = false
  for (const line of lines) {
    if (body === undefined) {
      const match = new RegExp(`^${OUTPUTS_BEGIN} size=(\\d+) sha256=([0-9a-f]{64})\\s*$`).exec(line)
      if (match) {
        begin = {size: Number(match[1]), sha256: match[2]!}
        body = []
      } else if (line.trim()) {
        other.push(line)
      }
    } else if (!ended) {
      if (line.trim() === OUTPUTS_END) ended = true
      else body.push(line.trim())
    } else if (line.trim()) {
      other.push(line)
    }
  }
  if (!begin || !body) return {problem: 'the outputs container printed no archive', other}
  if (!ended) return {problem: 'the outputs archive in the log is incomplete (no end marker; was the log truncated?)', other}
  const archive = Buffer.from(body.join(''), 'base64')
  if (archive.length !== begin.size) {
    return {problem: `the outputs archive has ${archive.length} bytes, expected ${begin.size} (the log was truncated or rotated)`, other}
  }
  if (createHash('sha256').update(archive).digest('hex') !== begin.sha256) return {problem: 'the outputs archive does not match its sha256', other}
  return {archive, other}
}

export interface ExtractResult {
  files: string[]
  refused: string[]
}

/** Why an entry name is unsafe, or its normalized relative path ('' for the archive's root directory). */
function safeRelativePath(name: string): {path: string} | {refused: string} {
  if (name.startsWith('/')) return {refused: 'absolute path'}
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.includes('..')) return {refused: 'path contains ..'}
  if (parts.some((part) => part.includes('\0'))) return {refused: 'NUL in path'}
  const relative = parts.join('/')
  if (parts.length === 1 && RESERVED.has(relative)) return {refused: 'reserved artifact name'}
  return {path: relative}
}

function describeType(type: string): string {
  switch (type) {
    case 'symlink':
      return 'symbolic link'
    case 'link':
      return 'hard link'
    default:
      return `not a regular file (${type})`
  }
}

/** Unpacks a tar into artifactsDir; refusals are logged and skipped, never fatal. Throws only for a corrupt archive. */
export async function extractOutputs(archive: Buffer, artifactsDir: string, log: JobLog): Promise<ExtractResult> {
  const result: ExtractResult = {files: [], refused: []}
  const root = path.resolve(artifactsDir)
  const extractor = extract()
  const consumed = (async () => {
    for await (const entry of extractor) {
      const {name, type, mode} = entry.header
      const checked = safeRelativePath(name)
      const refuse = (why: string) => {
        result.refused.push(name)
        log.note(`refused output ${name}: ${why}`)
      }
      if ('refused' in checked) {
        refuse(checked.refused)
        entry.resume()
        continue
      }
      const target = path.resolve(root, checked.path)
      // Belt and braces: whatever the checks above missed must still land inside the artifacts directory.
      if (target !== root && !target.startsWith(`${root}${path.sep}`)) {
        refuse('path leaves the artifacts directory')
        entry.resume()
        continue
      }
      if (type === 'directory') {
        mkdirSync(target, {recursive: true, mode: 0o700})
        entry.resume()
        continue
      }
      if (type !== 'file' || checked.path === '') {
        refuse(describeType(type))
        entry.resume()
        continue
      }
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      try {
        mkdirSync(path.dirname(target), {recursive: true, mode: 0o700})
        // O_NOFOLLOW: nothing in artifacts/<id>/ may be a link we write through.
        const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, (mode ?? 0) & 0o111 ? 0o755 : 0o644)
        try {
          writeSync(fd, Buffer.concat(chunks))
        } finally {
          closeSync(fd)
        }
        result.files.push(checked.path)
      } catch (error) {
        refuse(`cannot write it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      }
    }
  })()
  extractor.end(archive)
  await consumed
  return result
}
