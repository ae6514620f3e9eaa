// Owns signing: the DSSE v1 envelope over a Statement (pre-authentication encoding from @sigstore/core, Ed25519
// with node:crypto), the one-line `provenance.intoto.jsonl` text and the Sigstore bundle v0.3 with a public-key
// hint (@sigstore/bundle) that carries the same envelope.

import {sign, verify, type KeyObject} from 'node:crypto'

import {dsse} from '@sigstore/core'
import {bundleToJSON, toDSSEBundle} from '@sigstore/bundle'

import {PAYLOAD_TYPE, type Statement} from './statement.js'

export interface Envelope {
  payloadType: string
  payload: string
  signatures: {keyid: string; sig: string}[]
}

export interface SignedProvenance {
  envelope: Envelope
  /** provenance.intoto.jsonl: the envelope on one line, newline-terminated. */
  envelopeLine: string
  /** provenance.sigstore.json. */
  bundleJson: string
  payload: Buffer
}

/** The DSSE v1 pre-authentication encoding: the exact bytes that are signed. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return dsse.preAuthEncoding(payloadType, payload)
}

export function signStatement(statement: Statement, key: {privateKey: KeyObject; keyId: string}): SignedProvenance {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8')
  // Ed25519 signs the message itself (algorithm null: no prehash).
  const signature = sign(null, preAuthEncoding(PAYLOAD_TYPE, payload), key.privateKey)
  const envelope: Envelope = {payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{keyid: key.keyId, sig: signature.toString('base64')}]}
  const bundle = toDSSEBundle({artifact: payload, artifactType: PAYLOAD_TYPE, signature, keyHint: key.keyId})
  return {envelope, envelopeLine: `${JSON.stringify(envelope)}\n`, bundleJson: `${JSON.stringify(bundleToJSON(bundle), null, 2)}\n`, payload}
}

/** Strict Ed25519 verification of a signature over the PAE of (payloadType, payload). */
export function verifySignature(payloadType: string, payload: Buffer, signature: Buffer, publicKey: KeyObject): boolean {
  if (signature.length !== 64) return false
  try {
    return verify(null, preAuthEncoding(payloadType, payload), publicKey, signature)
  } catch {
    return false
  }
}
