// Owns the provenance signing keys: an Ed25519 pair as PKCS#8 PEM (private, 0600) and SPKI PEM (public) in
// keys.dir, written atomically by `danube keys generate` (and byte-compatibly by install/gen-keys.sh), and the
// checks made every time a key is used: the private key is owned by this user and readable by nobody else.
//
// node:crypto rather than @noble/ed25519: it is built in (no dependency), its Ed25519 is OpenSSL's pure
// RFC 8032 implementation (no prehash, deterministic, byte-identical to @noble/ed25519, as keys.test.ts shows), its verification is
// strict (it rejects non-canonical signatures; noble defaults to the more permissive ZIP-215), and it reads
// and writes the PEM formats openssl uses, so keys round-trip with `openssl pkey` unchanged.

import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject} from 'node:crypto'
import {closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import path from 'node:path'

import {DanubeError, EXIT_USAGE} from '../errors.js'

export const PRIVATE_KEY_FILE = 'provenance.key'
export const PUBLIC_KEY_FILE = 'provenance.pub'
/** Key files are PEM of a few hundred bytes; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 16 * 1024

export interface KeyPairFiles {
  dir: string
  privateKeyFile: string
  publicKeyFile: string
  keyId: string
}

export interface SigningKey {
  privateKey: KeyObject
  publicKey: KeyObject
  keyId: string
  file: string
}

/** The key id: hex SHA-256 of the public key's DER (SubjectPublicKeyInfo), as DSSE `keyid` and the bundle hint. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({type: 'spki', format: 'der'})).digest('hex')
}

/** The key id of a public key in PEM. */
export function keyIdOfPem(pem: string): string {
  return keyIdOf(createPublicKey({key: pem, format: 'pem'}))
}

export function keyFiles(dir: string): {privateKeyFile: string; publicKeyFile: string} {
  return {privateKeyFile: path.join(dir, PRIVATE_KEY_FILE), publicKeyFile: path.join(dir, PUBLIC_KEY_FILE)}
}

/**
 * Generates a pair into dir (created 0700 if missing). Refuses to replace either file unless force; each file is
 * written to a temporary name (O_EXCL, 0600/0644) and renamed into place, public key first, so a crash never leaves
 * a half-written key (at worst a new public key beside the old private key, which loadSigningKey refuses).
 */
export function generateKeyPair(dir: string, options: {force?: boolean} = {}): KeyPairFiles {
  const {privateKeyFile, publicKeyFile} = keyFiles(dir)
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (error) {
    throw fileError('KEYS_DIR_UNWRITABLE', `cannot create key directory ${dir}`, error, 'pass a writable directory with --out')
  }
  if (!options.force) {
    const existing = [privateKeyFile, publicKeyFile].filter((file) => exists(file))
    if (existing.length > 0) {
      throw new DanubeError('KEY_EXISTS', `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; not overwriting`, {
        exitCode: 1,
        hint: 'pass --force to replace the key pair (provenance signed with the old key then verifies only with the old public key)',
      })
    }
  }
  const {privateKey, publicKey} = generateKeyPairSync('ed25519')
  const privatePem = privateKey.export({type: 'pkcs8', format: 'pem'}) as string
  const publicPem = publicKey.export({type: 'spki', format: 'pem'}) as string
  writeAtomically(publicKeyFile, publicPem, 0o644)
  writeAtomically(privateKeyFile, privatePem, 0o600)
  return {dir, privateKeyFile, publicKeyFile, keyId: keyIdOf(publicKey)}
}

function writeAtomically(file: string, text: string, mode: number): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`)
  try {
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode)
    try {
      writeSync(fd, text)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, file)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw fileError('KEY_UNWRITABLE', `cannot write ${file}`, error, 'pass a writable directory with --out')
  }
}

/** Why the agent may not sign with this key file: group/world access or another owner. Undefined when it is fine. */
export function privateKeyFileProblem(file: string, stat: {mode: number; uid: number}, uid = process.getuid?.()): string | undefined {
  if ((stat.mode & 0o077) !== 0) {
    return `${file} is readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); fix it with: chmod 600 ${file}`
  }
  if (uid !== undefined && stat.uid !== uid) {
    return `${file} is owned by uid ${stat.uid}, not by this user (uid ${uid}); fix it with: chown ${uid} ${file}`
  }
  return undefined
}

/**
 * Loads the private key for signing, checking it on every use: a regular file (not a link), mode 0600 or
 * stricter, owned by this user, an Ed25519 PKCS#8 key; and, when provenance.pub sits beside it, its pair.
 * Returns undefined when dir has no private key (provenance is then skipped, not failed).
 */
export function loadSigningKey(dir: string): SigningKey | undefined {
  const {privateKeyFile, publicKeyFile} = keyFiles(dir)
  let fd: number
  try {
    fd = openSync(privateKeyFile, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fileError('SIGNING_KEY_UNUSABLE', `cannot open signing key ${privateKeyFile}`, error, 'it must be a regular file (not a symbolic link) readable by the agent')
  }
  let pem: Buffer
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new DanubeError('SIGNING_KEY_UNUSABLE', `signing key ${privateKeyFile} is not a regular file`, {hint: 'run `danube keys generate --force`'})
    const problem = privateKeyFileProblem(privateKeyFile, stat)
    if (problem) throw new DanubeError('SIGNING_KEY_UNSAFE', `refusing to sign: ${problem}`, {hint: 'the signing key must be readable only by the agent\'s user'})
    if (stat.size > MAX_KEY_FILE_BYTES) throw new DanubeError('SIGNING_KEY_UNUSABLE', `signing key ${privateKeyFile} is not an Ed25519 PEM key (${stat.size} bytes)`, {hint: 'run `danube keys generate --force`'})
    pem = readFileSync(fd)
  } finally {
    closeSync(fd)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({key: pem, format: 'pem'})
  } catch {
    throw new DanubeError('SIGNING_KEY_UNUSABLE', `signing key ${privateKeyFile} is not a PEM private key`, {hint: 'run `danube keys generate --force` or install/gen-keys.sh --force'})
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new DanubeError('SIGNING_KEY_UNUSABLE', `signing key ${privateKeyFile} is a ${privateKey.asymmetricKeyType} key; provenance needs Ed25519`, {hint: 'run `danube keys generate --force`'})
  }
  const publicKey = createPublicKey(privateKey)
  const keyId = keyIdOf(publicKey)
  if (exists(publicKeyFile)) {
    const published = readPublicKey(publicKeyFile)
    if (keyIdOf(published) !== keyId) {
      throw new DanubeError('SIGNING_KEY_MISMATCH', `${publicKeyFile} is not the public key of ${privateKeyFile}`, {
        hint: 'regenerate the pair with `danube keys generate --force`, or restore the matching provenance.pub',
      })
    }
  }
  return {privateKey, publicKey, keyId, file: privateKeyFile}
}

/** Reads an Ed25519 SPKI PEM public key (a verifier's pinned key); exit 2 when it is missing or not one. */
export function readPublicKey(file: string): KeyObject {
  let pem: Buffer
  try {
    const stat = statSync(file)
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), {code: 'EISDIR'})
    if (stat.size > MAX_KEY_FILE_BYTES) throw Object.assign(new Error('too large'), {code: 'EFBIG'})
    pem = readFileSync(file)
  } catch (error) {
    throw fileError('PUBLIC_KEY_UNREADABLE', `cannot read public key ${file}`, error, 'pass the provenance.pub of the signing agent with --key', EXIT_USAGE)
  }
  let key: KeyObject
  try {
    key = createPublicKey({key: pem, format: 'pem'})
  } catch {
    throw new DanubeError('PUBLIC_KEY_INVALID', `public key ${file} is not a PEM public key`, {exitCode: EXIT_USAGE, hint: 'pass the provenance.pub (SPKI PEM) of the signing agent with --key'})
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new DanubeError('PUBLIC_KEY_INVALID', `public key ${file} is a ${key.asymmetricKeyType} key; Danube provenance is signed with Ed25519`, {exitCode: EXIT_USAGE})
  }
  return key
}

function exists(file: string): boolean {
  try {
    statSync(file)
    return true
  } catch {
    return false
  }
}

function fileError(code: string, message: string, error: unknown, hint: string, exitCode = 1): DanubeError {
  const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message
  return new DanubeError(code, `${message}: ${reason}`, {hint, exitCode, cause: error})
}
