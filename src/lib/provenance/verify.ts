// Owns verifying an artifacts directory against its provenance, as `danube provenance verify` does: the envelope
// (strict JSON, payloadType, the Ed25519 signature over the DSSE pre-authentication encoding with a pinned key),
// then only the verified payload bytes (strict JSON, _type, predicateType, buildType, builder.id and source when
// asked, safe unique subject names), then the directory itself (walked with lstat, never following links; the set
// of regular files must equal the set of subjects; every file hashed by streaming). Every failure is reported,
// not only the first; a check that could not run is a failure, never a pass.

import {createHash, type KeyObject} from 'node:crypto'
import {closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readdirSync, readFileSync, type Stats, statSync} from 'node:fs'
import path from 'node:path'

import {DanubeError, EXIT_USAGE} from '../errors.js'
import {keyIdOf} from './keys.js'
import {verifySignature} from './dsse.js'
import {BUILD_TYPE, BUNDLE_FILE, ENVELOPE_FILE, PAYLOAD_TYPE, PREDICATE_TYPE, RESERVED_PROVENANCE_NAMES, type Statement, STATEMENT_TYPE} from './statement.js'
import {parseStrictJson} from './strict-json.js'
import {printableName, subjectNameProblem} from './subject-names.js'

/** The envelope of a job with a million outputs is under 200 MiB; more is not ours. */
export const MAX_ENVELOPE_BYTES = 256 * 1024 * 1024
const SMALL_FILE_BYTES = 1024 * 1024
const HASH_CONCURRENCY = 4

export interface VerifyFailure {
  file: string
  reason: string
}

export interface VerifyOptions {
  publicKey: KeyObject
  builderId?: string
  sourceUri?: string
}

export interface VerifyResult {
  verified: boolean
  dir: string
  /** Number of subjects in the verified statement (0 when it could not be read). */
  subjects: number
  failures: VerifyFailure[]
  keyId: string
  builderId: string | null
  buildType: string | null
  invocationId: string | null
  sourceUri: string | null
  /** The statement, once its signature verified (show prints it). */
  statement?: Statement
}

export async function verifyDirectory(dir: string, options: VerifyOptions): Promise<VerifyResult> {
  const root = path.resolve(dir)
  try {
    if (!statSync(root).isDirectory()) throw Object.assign(new Error('not a directory'), {code: 'ENOTDIR'})
  } catch (error) {
    throw new DanubeError('ARTIFACTS_UNREADABLE', `cannot read artifacts directory ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      exitCode: EXIT_USAGE,
      hint: 'pass the artifacts/<job-id>/ directory of a job',
    })
  }
  const result: VerifyResult = {verified: false, dir: root, subjects: 0, failures: [], keyId: keyIdOf(options.publicKey), builderId: null, buildType: null, invocationId: null, sourceUri: null}
  const fail = (file: string, reason: string) => result.failures.push({file: printableName(file), reason})

  const opened = readEnvelope(root, fail)
  const statement = opened ? checkEnvelope(opened, options, fail) : undefined
  if (statement) {
    result.statement = statement.statement
    const predicate = statement.statement.predicate
    result.builderId = stringOrNull(predicate?.runDetails?.builder?.id)
    result.buildType = stringOrNull(predicate?.buildDefinition?.buildType)
    result.invocationId = stringOrNull(predicate?.runDetails?.metadata?.invocationId)
    result.sourceUri = stringOrNull(predicate?.buildDefinition?.externalParameters?.source?.uri)
    const subjects = checkStatement(statement.statement, options, fail)
    result.subjects = Array.isArray(statement.statement.subject) ? statement.statement.subject.length : 0
    if (opened) checkBundle(root, opened, fail)
    await checkFiles(root, subjects, fail)
  } else {
    // The directory is still walked for links and special files, but without a trusted subject list nothing matches.
    await checkFiles(root, undefined, fail)
  }
  result.verified = result.failures.length === 0
  return result
}

interface OpenedEnvelope {
  payloadType: unknown
  payload: Buffer
  signatures: {sig: Buffer}[]
  raw: Record<string, unknown>
}

function readEnvelope(root: string, fail: (file: string, reason: string) => void): OpenedEnvelope | undefined {
  const file = path.join(root, ENVELOPE_FILE)
  let text: string
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    fail(ENVELOPE_FILE, code === 'ENOENT' ? 'missing: the directory has no provenance' : code === 'ELOOP' ? 'is a symbolic link' : `cannot be read: ${code}`)
    return undefined
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) {
      fail(ENVELOPE_FILE, 'is not a regular file')
      return undefined
    }
    if (stat.size > MAX_ENVELOPE_BYTES) {
      fail(ENVELOPE_FILE, `is ${stat.size} bytes, more than the ${MAX_ENVELOPE_BYTES} a Danube envelope can be`)
      return undefined
    }
    text = readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '')
  if (lines.length !== 1) {
    fail(ENVELOPE_FILE, lines.length === 0 ? 'is empty' : `holds ${lines.length} lines; expected one DSSE envelope`)
    return undefined
  }
  let envelope: unknown
  try {
    envelope = parseStrictJson(lines[0]!)
  } catch (error) {
    fail(ENVELOPE_FILE, `envelope ${(error as Error).message}`)
    return undefined
  }
  if (!isObject(envelope)) {
    fail(ENVELOPE_FILE, 'envelope is not a JSON object')
    return undefined
  }
  let ok = true
  if (typeof envelope.payloadType !== 'string') {
    fail(ENVELOPE_FILE, 'envelope has no payloadType')
    ok = false
  }
  const payload = typeof envelope.payload === 'string' ? decodeBase64(envelope.payload) : undefined
  if (!payload) {
    fail(ENVELOPE_FILE, 'envelope payload is missing or not base64')
    ok = false
  }
  const signatures: {sig: Buffer}[] = []
  if (!Array.isArray(envelope.signatures) || envelope.signatures.length === 0) {
    fail(ENVELOPE_FILE, 'envelope has no signatures')
    ok = false
  } else {
    for (const [index, entry] of envelope.signatures.entries()) {
      const sig = isObject(entry) && typeof entry.sig === 'string' ? decodeBase64(entry.sig) : undefined
      if (sig) signatures.push({sig})
      else fail(ENVELOPE_FILE, `signatures[${index}].sig is missing or not base64`)
    }
  }
  return ok ? {payloadType: envelope.payloadType, payload: payload!, signatures, raw: envelope} : undefined
}

/** The envelope's checks; the statement is parsed only from payload bytes whose signature verified. */
function checkEnvelope(envelope: OpenedEnvelope, options: VerifyOptions, fail: (file: string, reason: string) => void): {statement: Statement} | undefined {
  const payloadType = envelope.payloadType as string
  let trusted = true
  if (payloadType !== PAYLOAD_TYPE) {
    fail(ENVELOPE_FILE, `payloadType is "${printableName(payloadType)}", expected "${PAYLOAD_TYPE}"`)
    trusted = false
  }
  // DSSE: valid when any signature verifies with the pinned key; keyid is an unauthenticated hint and is ignored.
  const signed = envelope.signatures.some(({sig}) => verifySignature(payloadType, envelope.payload, sig, options.publicKey))
  if (!signed) {
    const short = envelope.signatures.find(({sig}) => sig.length !== 64)
    fail(ENVELOPE_FILE, `signature does not verify with key ${keyIdOf(options.publicKey)}${short ? ` (a signature is ${short.sig.length} bytes; Ed25519 signatures are 64)` : ''}`)
    trusted = false
  }
  if (!trusted) return undefined
  let statement: unknown
  try {
    statement = parseStrictJson(envelope.payload.toString('utf8'))
  } catch (error) {
    fail(ENVELOPE_FILE, `payload ${(error as Error).message}`)
    return undefined
  }
  if (!isObject(statement)) {
    fail(ENVELOPE_FILE, 'payload is not a JSON object')
    return undefined
  }
  return {statement: statement as unknown as Statement}
}

/**
 * The statement as the envelope carries it, without checking anything but that it parses: for
 * `danube provenance show --no-verify`, which labels it unverified.
 */
export function readUnverifiedStatement(dir: string): {statement?: unknown; failures: VerifyFailure[]} {
  const failures: VerifyFailure[] = []
  const fail = (file: string, reason: string) => failures.push({file: printableName(file), reason})
  const envelope = readEnvelope(path.resolve(dir), fail)
  if (!envelope) return {failures}
  try {
    return {statement: parseStrictJson(envelope.payload.toString('utf8')), failures}
  } catch (error) {
    fail(ENVELOPE_FILE, `payload ${(error as Error).message}`)
    return {failures}
  }
}

/** Statement checks; returns the subjects that are safe to look up on disk (name → sha256). */
function checkStatement(statement: Statement, options: VerifyOptions, fail: (file: string, reason: string) => void): Map<string, string> {
  const loose = statement as unknown as Record<string, unknown>
  if (loose._type !== STATEMENT_TYPE) fail(ENVELOPE_FILE, `statement _type is ${JSON.stringify(loose._type)}, expected "${STATEMENT_TYPE}"`)
  if (loose.predicateType !== PREDICATE_TYPE) fail(ENVELOPE_FILE, `predicateType is ${JSON.stringify(loose.predicateType)}, expected "${PREDICATE_TYPE}"`)
  const predicate = isObject(loose.predicate) ? (loose.predicate as unknown as Statement['predicate']) : undefined
  if (!predicate) fail(ENVELOPE_FILE, 'statement has no predicate')
  const buildType = predicate?.buildDefinition?.buildType
  if (buildType !== BUILD_TYPE) fail(ENVELOPE_FILE, `buildType is ${JSON.stringify(buildType)}, expected "${BUILD_TYPE}"`)
  const builderId = predicate?.runDetails?.builder?.id
  if (typeof builderId !== 'string') fail(ENVELOPE_FILE, 'runDetails.builder.id is missing')
  else if (options.builderId !== undefined && builderId !== options.builderId) {
    fail(ENVELOPE_FILE, `builder.id is "${printableName(builderId)}", expected "${options.builderId}"`)
  }
  if (options.sourceUri !== undefined) {
    const uri = predicate?.buildDefinition?.externalParameters?.source?.uri
    if (uri !== options.sourceUri) fail(ENVELOPE_FILE, `source uri is ${uri === undefined ? 'absent' : `"${printableName(String(uri))}"`}, expected "${options.sourceUri}"`)
  }
  const subjects = new Map<string, string>()
  if (!Array.isArray(loose.subject) || loose.subject.length === 0) {
    fail(ENVELOPE_FILE, 'statement has no subjects')
    return subjects
  }
  const duplicates = new Set<string>()
  for (const [index, entry] of (loose.subject as unknown[]).entries()) {
    const name = isObject(entry) ? entry.name : undefined
    const label = typeof name === 'string' ? name : `subject[${index}]`
    const problem = subjectNameProblem(name)
    if (problem) {
      fail(label, problem)
      continue
    }
    const digest = isObject(entry) && isObject(entry.digest) ? entry.digest.sha256 : undefined
    if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) {
      fail(label, 'subject has no sha256 digest of 64 lowercase hex digits')
      continue
    }
    if (RESERVED_PROVENANCE_NAMES.includes(name as string)) {
      fail(label, 'subject uses a reserved provenance file name')
      continue
    }
    if (subjects.has(name as string) || duplicates.has(name as string)) {
      if (!duplicates.has(name as string)) fail(label, 'duplicate subject name')
      duplicates.add(name as string)
      subjects.delete(name as string)
      continue
    }
    subjects.set(name as string, digest)
  }
  return subjects
}

/** provenance.sigstore.json, when present, must be a valid v0.3 bundle carrying exactly the verified envelope. */
function checkBundle(root: string, envelope: OpenedEnvelope, fail: (file: string, reason: string) => void): void {
  const file = path.join(root, BUNDLE_FILE)
  let stat
  try {
    stat = lstatSync(file)
  } catch {
    return
  }
  if (!stat.isFile()) return // reported by the directory walk
  if (stat.size > MAX_ENVELOPE_BYTES * 2) {
    fail(BUNDLE_FILE, 'is larger than any Danube bundle')
    return
  }
  let bundle: unknown
  try {
    bundle = parseStrictJson(readFileSync(file, 'utf8'))
  } catch (error) {
    fail(BUNDLE_FILE, (error as Error).message)
    return
  }
  const dsse = isObject(bundle) && isObject(bundle.dsseEnvelope) ? bundle.dsseEnvelope : undefined
  if (!isObject(bundle) || bundle.mediaType !== 'application/vnd.dev.sigstore.bundle.v0.3+json' || !dsse) {
    fail(BUNDLE_FILE, 'is not a Sigstore bundle v0.3 with a DSSE envelope')
    return
  }
  const payload = typeof dsse.payload === 'string' ? decodeBase64(dsse.payload) : undefined
  const signatures = Array.isArray(dsse.signatures) ? dsse.signatures : []
  const sig = signatures.length === 1 && isObject(signatures[0]) && typeof signatures[0].sig === 'string' ? decodeBase64(signatures[0].sig) : undefined
  const same = dsse.payloadType === envelope.payloadType && payload?.equals(envelope.payload) && sig !== undefined && envelope.signatures.some((s) => s.sig.equals(sig))
  if (!same) fail(BUNDLE_FILE, `does not carry the same envelope as ${ENVELOPE_FILE}`)
}

/** Walks root without following links; compares the regular files with the subjects; hashes by streaming. */
async function checkFiles(root: string, subjects: Map<string, string> | undefined, fail: (file: string, reason: string) => void): Promise<void> {
  const found: string[] = []
  const walk = (relative: string) => {
    let entries: string[]
    try {
      entries = readdirSync(path.join(root, relative))
    } catch (error) {
      fail(relative || '.', `cannot read directory: ${(error as NodeJS.ErrnoException).code}`)
      return
    }
    for (const name of entries.sort()) {
      const rel = relative ? `${relative}/${name}` : name
      let stat
      try {
        stat = lstatSync(path.join(root, rel))
      } catch (error) {
        fail(rel, `cannot be read: ${(error as NodeJS.ErrnoException).code}`)
        continue
      }
      if (stat.isDirectory()) walk(rel)
      else if (stat.isSymbolicLink()) fail(rel, 'is a symbolic link (not followed)')
      else if (!stat.isFile()) fail(rel, `is not a regular file (${kind(stat)})`)
      else if (relative === '' && RESERVED_PROVENANCE_NAMES.includes(name)) continue
      else if (subjectNameProblem(rel)) fail(rel, `file name is unsafe: ${subjectNameProblem(rel)}`)
      else found.push(rel)
    }
  }
  walk('')
  if (!subjects) return
  const onDisk = new Set(found)
  for (const name of subjects.keys()) if (!onDisk.has(name)) fail(name, 'missing: listed as a subject but not in the directory')
  const toHash: string[] = []
  for (const name of found) {
    if (subjects.has(name)) toHash.push(name)
    else fail(name, 'unexpected file: not a subject of the provenance')
  }
  let next = 0
  const worker = async () => {
    while (next < toHash.length) {
      const name = toHash[next++]!
      try {
        const digest = await sha256File(path.join(root, name))
        if (digest !== subjects.get(name)) fail(name, `changed: sha256 ${digest}, provenance says ${subjects.get(name)}`)
      } catch (error) {
        fail(name, `cannot be hashed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      }
    }
  }
  await Promise.all(Array.from({length: HASH_CONCURRENCY}, worker))
}

/** SHA-256 of a regular file opened without following links; small files in one read, large ones streamed. */
export async function sha256File(file: string): Promise<string> {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  const stat = fstatSync(fd)
  if (!stat.isFile()) {
    closeSync(fd)
    throw new Error('not a regular file')
  }
  const hash = createHash('sha256')
  if (stat.size <= SMALL_FILE_BYTES) {
    try {
      hash.update(readFileSync(fd))
    } finally {
      closeSync(fd)
    }
    return hash.digest('hex')
  }
  const stream = createReadStream('', {fd, highWaterMark: SMALL_FILE_BYTES})
  for await (const chunk of stream) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

function kind(stat: Stats): string {
  if (stat.isFIFO()) return 'FIFO'
  if (stat.isSocket()) return 'socket'
  if (stat.isCharacterDevice()) return 'character device'
  if (stat.isBlockDevice()) return 'block device'
  return 'special file'
}

/** DSSE verifiers must accept standard and URL-safe base64; anything else is refused, not guessed at. */
function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text) || (/[+/]/.test(text) && /[-_]/.test(text))) return undefined
  return Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64')
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null
}

