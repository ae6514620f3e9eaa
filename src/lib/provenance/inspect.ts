// Owns what `danube provenance verify` and `show` do with their arguments: pick the pinned public key (--key, else
// keys.dir/provenance.pub, and never one inside the directory being verified), verify, and shape the results.

import {realpathSync} from 'node:fs'
import path from 'node:path'

import {usageError} from '../errors.js'
import {PUBLIC_KEY_FILE, readPublicKey} from './keys.js'
import {readUnverifiedStatement, verifyDirectory, type VerifyFailure, type VerifyResult} from './verify.js'

export type VerificationReport = Omit<VerifyResult, 'statement'>

export interface ShownProvenance {
  /** true: verified; false: verification failed (failures listed); null: not verified (--no-verify). */
  verified: boolean | null
  dir: string
  failures: VerifyFailure[]
  /** The statement; null when verification failed or it could not be read. */
  statement: unknown
}

export interface KeyChoice {
  keyFile?: string
  keysDir: string
}

/** The public key file to verify with; refused when it lies inside the directory it would vouch for. */
export function pinnedKeyFile(dir: string, choice: KeyChoice): string {
  const file = path.resolve(choice.keyFile ?? path.join(choice.keysDir, PUBLIC_KEY_FILE))
  const real = (p: string) => {
    try {
      return realpathSync(p)
    } catch {
      return path.resolve(p)
    }
  }
  const root = real(dir)
  const key = real(file)
  if (key === root || key.startsWith(`${root}${path.sep}`)) {
    throw usageError(`--key: ${file} is inside ${dir}; the public key must come from outside the directory it verifies`, 'pass the provenance.pub you got from the signing agent\'s operator with --key')
  }
  if (!choice.keyFile) {
    // A clearer message than "cannot read" when nothing was passed and the default is absent.
    try {
      realpathSync(file)
    } catch {
      throw usageError(`no public key: --key not given and ${file} does not exist`, 'pass the signing agent\'s provenance.pub with --key, or set keys.dir')
    }
  }
  return file
}

export async function verifyWithKeyFile(dir: string, options: KeyChoice & {builderId?: string; sourceUri?: string}): Promise<VerificationReport> {
  const publicKey = readPublicKey(pinnedKeyFile(dir, options))
  const {statement: _statement, ...report} = await verifyDirectory(dir, {publicKey, builderId: options.builderId, sourceUri: options.sourceUri})
  return report
}

export async function showProvenance(dir: string, options: KeyChoice & {verify: boolean}): Promise<ShownProvenance> {
  if (!options.verify) {
    const {statement, failures} = readUnverifiedStatement(dir)
    return {verified: null, dir: path.resolve(dir), failures, statement: statement ?? null}
  }
  const publicKey = readPublicKey(pinnedKeyFile(dir, options))
  const result = await verifyDirectory(dir, {publicKey})
  return {verified: result.verified, dir: result.dir, failures: result.failures, statement: result.verified ? result.statement : null}
}
