// The tampering matrix of issue 9: each change to a signed artifacts directory fails verification with its own
// reason, and the untouched directory verifies. Real files, real keys, real signatures; no agent needed.

import {execFileSync} from 'node:child_process'
import {generateKeyPairSync, sign} from 'node:crypto'
import {mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {preAuthEncoding} from '../../../../src/lib/provenance/dsse.js'
import {readPublicKey} from '../../../../src/lib/provenance/keys.js'
import {PAYLOAD_TYPE, type Statement} from '../../../../src/lib/provenance/statement.js'
import {verifyDirectory, type VerifyResult} from '../../../../src/lib/provenance/verify.js'
import {makeSignedArtifacts, type SignedFixture} from '../../../support/provenance.js'

let fixture: SignedFixture
afterEach(() => fixture?.cleanup())

async function verify(options: {builderId?: string; sourceUri?: string; key?: string} = {}): Promise<VerifyResult> {
  return verifyDirectory(fixture.dir, {publicKey: readPublicKey(options.key ?? fixture.keys.publicKeyFile), builderId: options.builderId, sourceUri: options.sourceUri})
}

function reasons(result: VerifyResult): string[] {
  return result.failures.map((f) => `${f.file}: ${f.reason}`)
}

function edited(change: (statement: Statement & Record<string, unknown>) => void): Statement {
  const copy = structuredClone(fixture.statement) as Statement & Record<string, unknown>
  change(copy)
  return copy
}

describe('danube provenance verification', () => {
  it('verifies the untouched directory, hidden files included', async () => {
    fixture = makeSignedArtifacts()
    const result = await verify({builderId: 'https://danube.dev/builders/local-bubblewrap/v1', sourceUri: 'https://git.example.com/acme/app'})
    expect(reasons(result)).toEqual([])
    expect(result).toMatchObject({verified: true, subjects: 3, invocationId: 'urn:uuid:6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10'})
    expect(result.statement?.subject.map((s) => s.name)).toEqual(['.hidden', 'app.tar.gz', 'reports/junit.xml'])
  })

  it('fails a changed byte, naming the file', async () => {
    fixture = makeSignedArtifacts()
    writeFileSync(path.join(fixture.dir, 'app.tar.gz'), 'binarY')
    const result = await verify()
    expect(result.verified).toBe(false)
    expect(reasons(result)).toEqual([expect.stringMatching(/^app\.tar\.gz: changed: sha256 /)])
  })

  it('fails an extra file, a missing file and a renamed file, each named', async () => {
    fixture = makeSignedArtifacts()
    writeFileSync(path.join(fixture.dir, 'extra.txt'), 'x')
    unlinkSync(path.join(fixture.dir, '.hidden'))
    renameSync(path.join(fixture.dir, 'reports/junit.xml'), path.join(fixture.dir, 'reports/junit2.xml'))
    expect(reasons(await verify()).sort()).toEqual([
      '.hidden: missing: listed as a subject but not in the directory',
      'extra.txt: unexpected file: not a subject of the provenance',
      'reports/junit.xml: missing: listed as a subject but not in the directory',
      'reports/junit2.xml: unexpected file: not a subject of the provenance',
    ])
  })

  it('fails two subjects swapped', async () => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => {
      const [a, b] = [s.subject[1]!.digest.sha256, s.subject[2]!.digest.sha256]
      s.subject[1]!.digest.sha256 = b
      s.subject[2]!.digest.sha256 = a
    }))
    expect(reasons(await verify()).map((r) => r.replace(/sha256 .*/, ''))).toEqual(['app.tar.gz: changed: ', 'reports/junit.xml: changed: '])
  })

  it('fails a duplicate subject', async () => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => s.subject.push(structuredClone(s.subject[1]!))))
    expect(reasons(await verify())).toContain('app.tar.gz: duplicate subject name')
  })

  it.each([
    ['../x', 'subject name contains a ".." segment'],
    ['/etc/passwd', 'subject name is an absolute path'],
    ['a/./b', 'subject name contains a "." segment'],
    ['a\\b', 'subject name contains a backslash'],
    ['bell\u0007', 'subject name contains a control character'],
  ])('fails the unsafe subject %j', async (name, reason) => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => s.subject.push({name, digest: {sha256: 'a'.repeat(64)}})))
    const result = await verify()
    expect(result.verified).toBe(false)
    expect(result.failures.map((f) => f.reason)).toEqual([reason])
    // Printed names never carry raw control characters.
    expect(JSON.stringify(result.failures)).not.toContain('\u0007')
  })

  it('fails a symbolic link and a FIFO in the directory, without following the link', async () => {
    fixture = makeSignedArtifacts()
    symlinkSync('/etc/passwd', path.join(fixture.dir, 'link'))
    execFileSync('mkfifo', [path.join(fixture.dir, 'pipe')])
    expect(reasons(await verify()).sort()).toEqual(['link: is a symbolic link (not followed)', 'pipe: is not a regular file (FIFO)'])
  })

  it('fails a symbolic link that replaces a subject, even one pointing at identical bytes', async () => {
    fixture = makeSignedArtifacts()
    writeFileSync(path.join(fixture.root, 'copy'), 'binary')
    rmSync(path.join(fixture.dir, 'app.tar.gz'))
    symlinkSync(path.join(fixture.root, 'copy'), path.join(fixture.dir, 'app.tar.gz'))
    expect(reasons(await verify())).toEqual(['app.tar.gz: is a symbolic link (not followed)', 'app.tar.gz: missing: listed as a subject but not in the directory'])
  })

  it('fails a payload edited under the old signature', async () => {
    fixture = makeSignedArtifacts()
    const envelope = fixture.envelope()
    const payload = Buffer.from(envelope.payload, 'base64').toString().replace('local-bubblewrap', 'kubernetes-pod')
    fixture.writeEnvelope({...envelope, payload: Buffer.from(payload).toString('base64')})
    expect(reasons(await verify())).toEqual([expect.stringMatching(/^provenance\.intoto\.jsonl: signature does not verify with key [0-9a-f]{64}$/)])
  })

  it('fails an edited payloadType (and so the signature)', async () => {
    fixture = makeSignedArtifacts()
    fixture.writeEnvelope({...fixture.envelope(), payloadType: 'application/vnd.in-toto.provenance+json'})
    const result = reasons(await verify())
    expect(result).toHaveLength(2)
    expect(result[0]).toBe('provenance.intoto.jsonl: payloadType is "application/vnd.in-toto.provenance+json", expected "application/vnd.in-toto+json"')
    expect(result[1]).toMatch(/signature does not verify/)
  })

  it('fails a validly signed envelope whose payloadType is application/json', async () => {
    fixture = makeSignedArtifacts()
    const envelope = fixture.envelope()
    const payload = Buffer.from(envelope.payload, 'base64')
    const {privateKey} = {privateKey: (await import('../../../../src/lib/provenance/keys.js')).loadSigningKey(fixture.keys.dir)!.privateKey}
    const sig = sign(null, preAuthEncoding('application/json', payload), privateKey).toString('base64')
    fixture.writeEnvelope({payloadType: 'application/json', payload: envelope.payload, signatures: [{keyid: envelope.signatures[0]!.keyid, sig}]})
    expect(reasons(await verify())).toEqual(['provenance.intoto.jsonl: payloadType is "application/json", expected "application/vnd.in-toto+json"'])
  })

  it('fails provenance signed by another key', async () => {
    fixture = makeSignedArtifacts()
    const other = generateKeyPairSync('ed25519')
    const envelope = fixture.envelope()
    const sig = sign(null, preAuthEncoding(PAYLOAD_TYPE, Buffer.from(envelope.payload, 'base64')), other.privateKey).toString('base64')
    fixture.writeEnvelope({...envelope, signatures: [{keyid: envelope.signatures[0]!.keyid, sig}]})
    expect(reasons(await verify())).toEqual([expect.stringMatching(/signature does not verify with key/)])
  })

  it('fails when verified with another public key', async () => {
    fixture = makeSignedArtifacts()
    const otherKey = path.join(fixture.root, 'other.pub')
    writeFileSync(otherKey, generateKeyPairSync('ed25519').publicKey.export({type: 'spki', format: 'pem'}))
    expect(reasons(await verify({key: otherKey}))).toEqual([expect.stringMatching(/signature does not verify with key/)])
  })

  it('fails a truncated signature, saying how long it is', async () => {
    fixture = makeSignedArtifacts()
    const envelope = fixture.envelope()
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64').subarray(0, 63).toString('base64')
    fixture.writeEnvelope({...envelope, signatures: [{...envelope.signatures[0], sig}]})
    expect(reasons(await verify())).toEqual([expect.stringMatching(/signature does not verify .*a signature is 63 bytes; Ed25519 signatures are 64/)])
  })

  it('fails a malleated signature (S + L, the same signature in a non-canonical encoding): verification is strict', async () => {
    fixture = makeSignedArtifacts()
    const envelope = fixture.envelope()
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64')
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!)
    let malleated = s + L
    for (let i = 32; i < 64; i++) {
      sig[i] = Number(malleated & 0xffn)
      malleated >>= 8n
    }
    fixture.writeEnvelope({...envelope, signatures: [{...envelope.signatures[0], sig: sig.toString('base64')}]})
    expect(reasons(await verify())).toEqual([expect.stringMatching(/signature does not verify with key/)])
  })

  it('fails an empty subject list', async () => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => (s.subject = [])))
    expect(reasons(await verify())).toContain('provenance.intoto.jsonl: statement has no subjects')
  })

  it('fails statement _type v0.1 and predicate SLSA v0.2, each with its reason', async () => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => ((s as Record<string, unknown>)._type = 'https://in-toto.io/Statement/v0.1')))
    expect(reasons(await verify())).toEqual(['provenance.intoto.jsonl: statement _type is "https://in-toto.io/Statement/v0.1", expected "https://in-toto.io/Statement/v1"'])
    fixture.resign(edited((s) => ((s as Record<string, unknown>).predicateType = 'https://slsa.dev/provenance/v0.2')))
    expect(reasons(await verify())).toEqual(['provenance.intoto.jsonl: predicateType is "https://slsa.dev/provenance/v0.2", expected "https://slsa.dev/provenance/v1"'])
  })

  it('fails another buildType, another builder.id and another source when they are asked for', async () => {
    fixture = makeSignedArtifacts()
    fixture.resign(edited((s) => (s.predicate.buildDefinition.buildType = 'https://example.com/other/v1')))
    const result = reasons(await verify({builderId: 'https://danube.dev/builders/kubernetes-pod/v1', sourceUri: 'https://git.example.com/acme/other'}))
    expect(result).toEqual([
      'provenance.intoto.jsonl: buildType is "https://example.com/other/v1", expected "https://danube.dev/buildtypes/job/v1"',
      'provenance.intoto.jsonl: builder.id is "https://danube.dev/builders/local-bubblewrap/v1", expected "https://danube.dev/builders/kubernetes-pod/v1"',
      'provenance.intoto.jsonl: source uri is "https://git.example.com/acme/app", expected "https://git.example.com/acme/other"',
    ])
  })

  it('fails a duplicate JSON key in the signed payload (JSON.parse alone would keep the last)', async () => {
    fixture = makeSignedArtifacts()
    const text = JSON.stringify(fixture.statement).replace('"subject":', '"subject":[],"subject":')
    const key = (await import('../../../../src/lib/provenance/keys.js')).loadSigningKey(fixture.keys.dir)!
    const payload = Buffer.from(text)
    const sig = sign(null, preAuthEncoding(PAYLOAD_TYPE, payload), key.privateKey).toString('base64')
    fixture.writeEnvelope({payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{keyid: key.keyId, sig}]})
    expect(reasons(await verify())).toEqual(['provenance.intoto.jsonl: payload duplicate key "subject" in the top-level object'])
  })

  it('fails a duplicate JSON key in the envelope', async () => {
    fixture = makeSignedArtifacts()
    const line = JSON.stringify(fixture.envelope()).replace('"payloadType":', '"payloadType":"application/json","payloadType":')
    fixture.writeEnvelope(line)
    expect(reasons(await verify())[0]).toBe('provenance.intoto.jsonl: envelope duplicate key "payloadType" in the top-level object')
  })

  it('refuses a missing or malformed key file as unreadable input (exit 2), not as a verdict', () => {
    fixture = makeSignedArtifacts()
    expect(() => readPublicKey(path.join(fixture.root, 'none.pub'))).toThrow(expect.objectContaining({code: 'PUBLIC_KEY_UNREADABLE', exitCode: 2}))
    writeFileSync(path.join(fixture.root, 'bad.pub'), '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n')
    expect(() => readPublicKey(path.join(fixture.root, 'bad.pub'))).toThrow(expect.objectContaining({code: 'PUBLIC_KEY_INVALID', exitCode: 2}))
    const rsa = generateKeyPairSync('rsa', {modulusLength: 1024}).publicKey.export({type: 'spki', format: 'pem'})
    writeFileSync(path.join(fixture.root, 'rsa.pub'), rsa)
    expect(() => readPublicKey(path.join(fixture.root, 'rsa.pub'))).toThrow(/is a rsa key; Danube provenance is signed with Ed25519/)
  })

  it('fails a directory without provenance, and still reports its links', async () => {
    fixture = makeSignedArtifacts()
    unlinkSync(path.join(fixture.dir, 'provenance.intoto.jsonl'))
    symlinkSync('/etc/passwd', path.join(fixture.dir, 'link'))
    expect(reasons(await verify())).toEqual(['provenance.intoto.jsonl: missing: the directory has no provenance', 'link: is a symbolic link (not followed)'])
  })

  it('fails a Sigstore bundle that carries another envelope than provenance.intoto.jsonl', async () => {
    fixture = makeSignedArtifacts()
    const good = fixture.envelope()
    fixture.resign(edited((s) => (s.predicate.runDetails.metadata.finishedOn = '2026-11-27T09:00:00.000Z')))
    fixture.writeEnvelope(good)
    expect(reasons(await verify())).toEqual(['provenance.sigstore.json: does not carry the same envelope as provenance.intoto.jsonl'])
  })

  it('accepts URL-safe base64, a changed keyid hint, and a valid signature after an invalid one', async () => {
    // '?' and '>' in a name put base64 digits 62 and 63 (+ and /) into the payload's encoding.
    fixture = makeSignedArtifacts({'q?>>??.txt': 'a'})
    const envelope = fixture.envelope()
    const urlSafe = envelope.payload.replaceAll('+', '-').replaceAll('/', '_')
    expect(urlSafe).not.toBe(envelope.payload)
    fixture.writeEnvelope({...envelope, payload: urlSafe, signatures: [{keyid: 'other', sig: Buffer.alloc(64).toString('base64')}, {keyid: 'nonsense', sig: envelope.signatures[0]!.sig}]})
    rmSync(path.join(fixture.dir, 'provenance.sigstore.json'))
    expect(reasons(await verify())).toEqual([])
  })

  it('refuses an envelope larger than 256 MiB before reading it', async () => {
    fixture = makeSignedArtifacts()
    truncateSync(path.join(fixture.dir, 'provenance.intoto.jsonl'), 256 * 1024 * 1024 + 1)
    expect(reasons(await verify())[0]).toBe('provenance.intoto.jsonl: is 268435457 bytes, more than the 268435456 a Danube envelope can be')
  })

  it('refuses an unreadable artifacts directory as unreadable input (exit 2)', async () => {
    fixture = makeSignedArtifacts()
    mkdirSync(path.join(fixture.root, 'empty'))
    await expect(verifyDirectory(path.join(fixture.root, 'nope'), {publicKey: readPublicKey(fixture.keys.publicKeyFile)})).rejects.toMatchObject({code: 'ARTIFACTS_UNREADABLE', exitCode: 2})
  })
})
