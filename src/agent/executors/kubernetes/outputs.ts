// Owns bringing a Kubernetes job's /outputs home: finding the base64 tar the final container printed between marker
// lines, checking its size and checksum, and unpacking it into artifacts/<id>/ with the same rules as the local
// executor (the output rule, ../output-rule.ts).
// The tar is read with tar-stream (already installed as a dependency of @kubernetes/client-node, declared in
// package.json): it handles ustar, GNU long names and pax headers, which busybox and GNU tar both emit.

import {createHash} from 'node:crypto'

import {extract} from 'tar-stream'

import type {JobLog} from '../../../lib/jobs/log.js'
import {ArtifactStaging, checkOutputName, type OutputsReport, tarEntryRefusal} from '../output-rule.js'
import {OUTPUTS_BEGIN, OUTPUTS_END} from './manifest.js'

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

/**
 * Unpacks a tar into artifacts/<id>/ through the output rule: refusals are logged and skipped, never fatal; nothing is
 * visible in artifacts/<id>/ until the whole archive was read. Throws only for a corrupt archive.
 */
export async function extractOutputs(archive: Buffer, artifactsDir: string, log: JobLog): Promise<OutputsReport> {
  const staging = new ArtifactStaging(artifactsDir, log)
  const extractor = extract()
  const consumed = (async () => {
    for await (const entry of extractor) {
      const {name, type, mode} = entry.header
      const refusal = tarEntryRefusal(type ?? 'file')
      if (refusal) {
        const checked = checkOutputName(name)
        staging.refuse(name, 'refused' in checked ? checked.refused : refusal)
        entry.resume()
      } else if (type === 'directory') {
        staging.addDirectory(name)
        entry.resume()
      } else {
        await staging.addFile(name, entry as unknown as AsyncIterable<Uint8Array>, mode ?? 0o644)
        entry.resume()
      }
    }
  })()
  extractor.end(archive)
  try {
    await consumed
    return staging.commit()
  } catch (error) {
    staging.discard()
    throw error
  }
}
