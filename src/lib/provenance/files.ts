// Owns writing the two provenance files into artifacts/<id>/: each to a temporary name beside it, then renamed,
// so a reader sees the old state or the whole new file, never a half-written one. The bundle goes first and the
// envelope last: the envelope is what marks the directory as signed.

import {closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import path from 'node:path'

import type {SignedProvenance} from './dsse.js'
import {BUNDLE_FILE, ENVELOPE_FILE} from './statement.js'

export function writeProvenanceFiles(artifactsDir: string, signed: SignedProvenance): void {
  writeFileAtomically(path.join(artifactsDir, BUNDLE_FILE), signed.bundleJson)
  writeFileAtomically(path.join(artifactsDir, ENVELOPE_FILE), signed.envelopeLine)
}

function writeFileAtomically(file: string, text: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644)
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, file)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw error
  }
}
