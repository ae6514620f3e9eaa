// provenance.sigstore.json is a Sigstore bundle v0.3 that @sigstore/verify accepts fully offline with the pinned
// public key (no TUF, no transparency log), carrying the same envelope as provenance.intoto.jsonl.

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {bundleFromJSON} from '@sigstore/bundle'
import {toSignedEntity, toTrustMaterial, Verifier} from '@sigstore/verify'
import {afterEach, describe, expect, it} from 'vitest'

import {readPublicKey} from '../../../../src/lib/provenance/keys.js'
import {makeSignedArtifacts, type SignedFixture} from '../../../support/provenance.js'

let fixture: SignedFixture
afterEach(() => fixture?.cleanup())

function offlineVerifier(pinned: ReturnType<typeof readPublicKey>): Verifier {
  const emptyRoot = {mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: []}
  const trust = toTrustMaterial(emptyRoot as never, () => ({publicKey: pinned, validFor: () => true}))
  return new Verifier(trust, {tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0})
}

describe('the Sigstore bundle', () => {
  it('verifies offline with @sigstore/verify and the pinned key, and carries the envelope of provenance.intoto.jsonl', () => {
    fixture = makeSignedArtifacts()
    const json = JSON.parse(readFileSync(path.join(fixture.dir, 'provenance.sigstore.json'), 'utf8')) as Record<string, unknown>
    expect(json.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json')
    const envelope = fixture.envelope()
    expect(json).toMatchObject({verificationMaterial: {publicKey: {hint: fixture.keys.keyId}}, dsseEnvelope: {payload: envelope.payload, payloadType: envelope.payloadType, signatures: [{sig: envelope.signatures[0]!.sig}]}})
    const signer = offlineVerifier(readPublicKey(fixture.keys.publicKeyFile)).verify(toSignedEntity(bundleFromJSON(json)))
    expect(signer.key.asymmetricKeyType).toBe('ed25519')
  })

  it('is refused by @sigstore/verify with another key', () => {
    fixture = makeSignedArtifacts()
    const other = makeSignedArtifacts({'x': 'y'})
    try {
      const json = JSON.parse(readFileSync(path.join(fixture.dir, 'provenance.sigstore.json'), 'utf8')) as unknown
      expect(() => offlineVerifier(readPublicKey(other.keys.publicKeyFile)).verify(toSignedEntity(bundleFromJSON(json)))).toThrow(/signature/i)
    } finally {
      other.cleanup()
    }
  })
})
