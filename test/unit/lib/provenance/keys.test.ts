// Provenance keys: written atomically with the right modes, refused when unsafe at every use, and the same formats
// as openssl's (install/gen-keys.sh): each tool reads the other's keys, and their Ed25519 signatures are identical.

import {execFileSync} from 'node:child_process'
import {createPrivateKey, createPublicKey, generateKeyPairSync, sign} from 'node:crypto'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {preAuthEncoding} from '../../../../src/lib/provenance/dsse.js'
import {generateKeyPair, keyIdOf, loadSigningKey, readPublicKey} from '../../../../src/lib/provenance/keys.js'
import {REPO_ROOT} from '../../../support/agent-process.js'

const GEN_KEYS = path.join(REPO_ROOT, 'install/gen-keys.sh')
const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, {recursive: true, force: true})
})
function tempDir(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'danube-keys-'))
  roots.push(root)
  return root
}
const openssl = (args: string[], input?: Buffer) => execFileSync('openssl', args, {input})

describe('danube keys generate (library)', () => {
  it('writes provenance.key 0600 and provenance.pub, creates the directory 0700, leaves no temporary file', () => {
    const dir = path.join(tempDir(), 'keys')
    const files = generateKeyPair(dir)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(files.privateKeyFile).mode & 0o777).toBe(0o600)
    expect(statSync(files.publicKeyFile).mode & 0o777).toBe(0o644)
    expect(readdirSync(dir).sort()).toEqual(['provenance.key', 'provenance.pub'])
    expect(readFileSync(files.privateKeyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=]+\n-----END PRIVATE KEY-----\n$/)
    expect(readFileSync(files.publicKeyFile, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]+\n-----END PUBLIC KEY-----\n$/)
    expect(files.keyId).toBe(keyIdOf(readPublicKey(files.publicKeyFile)))
  })

  it('refuses to overwrite without force, and replaces both files with it', () => {
    const dir = tempDir()
    const first = generateKeyPair(dir)
    expect(() => generateKeyPair(dir)).toThrow(expect.objectContaining({code: 'KEY_EXISTS', hint: expect.stringContaining('--force')}))
    expect(loadSigningKey(dir)!.keyId).toBe(first.keyId)
    const second = generateKeyPair(dir, {force: true})
    expect(second.keyId).not.toBe(first.keyId)
    expect(loadSigningKey(dir)!.keyId).toBe(second.keyId)
  })
})

describe('the signing key, checked at every use', () => {
  it('is absent (undefined: provenance skipped) when keys.dir has no provenance.key', () => {
    expect(loadSigningKey(path.join(tempDir(), 'none'))).toBeUndefined()
  })

  it.each([0o640, 0o604, 0o660])('refuses mode %o and says how to fix it', (mode) => {
    const dir = tempDir()
    const {privateKeyFile} = generateKeyPair(dir)
    chmodSync(privateKeyFile, mode)
    expect(() => loadSigningKey(dir)).toThrow(expect.objectContaining({code: 'SIGNING_KEY_UNSAFE', message: expect.stringContaining(`chmod 600 ${privateKeyFile}`)}))
  })

  it('refuses a key owned by another user, naming the chown that fixes it', () => {
    if (process.getuid?.() !== 0) return expect.fail('needs root to chown the key to another user (CI and this machine run as root)')
    const dir = tempDir()
    const {privateKeyFile} = generateKeyPair(dir)
    chownSync(privateKeyFile, 65534, 65534)
    expect(() => loadSigningKey(dir)).toThrow(expect.objectContaining({code: 'SIGNING_KEY_UNSAFE', message: expect.stringContaining('owned by uid 65534')}))
  })

  it('refuses a symbolic link, a key that is not Ed25519, and a public key that is not its pair', () => {
    const dir = tempDir()
    const {privateKeyFile, publicKeyFile} = generateKeyPair(path.join(dir, 'real'))
    mkdirSync(path.join(dir, 'link'))
    symlinkSync(privateKeyFile, path.join(dir, 'link', 'provenance.key'))
    expect(() => loadSigningKey(path.join(dir, 'link'))).toThrow(/cannot open signing key .*ELOOP/)

    const rsaDir = path.join(dir, 'rsa')
    mkdirSync(rsaDir)
    writeFileSync(path.join(rsaDir, 'provenance.key'), generateKeyPairSync('rsa', {modulusLength: 1024}).privateKey.export({type: 'pkcs8', format: 'pem'}), {mode: 0o600})
    expect(() => loadSigningKey(rsaDir)).toThrow(/is a rsa key; provenance needs Ed25519/)

    writeFileSync(path.join(rsaDir, 'provenance.key'), 'garbage', {mode: 0o600})
    expect(() => loadSigningKey(rsaDir)).toThrow(/is not a PEM private key/)

    writeFileSync(publicKeyFile, generateKeyPairSync('ed25519').publicKey.export({type: 'spki', format: 'pem'}))
    expect(() => loadSigningKey(path.join(dir, 'real'))).toThrow(expect.objectContaining({code: 'SIGNING_KEY_MISMATCH'}))
  })
})

describe('keys and openssl (install/gen-keys.sh)', () => {
  it('openssl reads danube\'s keys byte for byte: re-encoding each gives the same file', () => {
    const {privateKeyFile, publicKeyFile} = generateKeyPair(tempDir())
    expect(openssl(['pkey', '-in', privateKeyFile]).toString()).toBe(readFileSync(privateKeyFile, 'utf8'))
    expect(openssl(['pkey', '-in', privateKeyFile, '-pubout']).toString()).toBe(readFileSync(publicKeyFile, 'utf8'))
    expect(openssl(['pkey', '-pubin', '-in', publicKeyFile]).toString()).toBe(readFileSync(publicKeyFile, 'utf8'))
  })

  it('gen-keys.sh writes keys danube reads byte for byte, with the same modes and the same key id', () => {
    const dir = path.join(tempDir(), 'etc-keys')
    const output = execFileSync('sh', [GEN_KEYS, '--out', dir]).toString()
    const privateKeyFile = path.join(dir, 'provenance.key')
    const publicKeyFile = path.join(dir, 'provenance.pub')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(privateKeyFile).mode & 0o777).toBe(0o600)
    expect(statSync(publicKeyFile).mode & 0o777).toBe(0o644)
    expect(readdirSync(dir).sort()).toEqual(['provenance.key', 'provenance.pub'])
    const key = loadSigningKey(dir)!
    expect(key.privateKey.export({type: 'pkcs8', format: 'pem'})).toBe(readFileSync(privateKeyFile, 'utf8'))
    expect(key.publicKey.export({type: 'spki', format: 'pem'})).toBe(readFileSync(publicKeyFile, 'utf8'))
    expect(output).toContain(`key id ${key.keyId}`)
  })

  it('gen-keys.sh --owner hands the directory and both files to the agent\'s user', () => {
    if (process.getuid?.() !== 0) return expect.fail('needs root to chown (CI and this machine run as root)')
    const dir = path.join(tempDir(), 'owned')
    execFileSync('sh', [GEN_KEYS, '--out', dir, '--owner', 'nobody'])
    for (const file of [dir, path.join(dir, 'provenance.key'), path.join(dir, 'provenance.pub')]) expect(statSync(file).uid, file).toBe(65534)
    expect(statSync(path.join(dir, 'provenance.key')).mode & 0o777).toBe(0o600)
  })

  it('gen-keys.sh refuses to overwrite without --force (exit 1), replaces with it, and rejects unknown arguments (exit 2)', () => {
    const dir = tempDir()
    execFileSync('sh', [GEN_KEYS, '--out', dir])
    const before = readFileSync(path.join(dir, 'provenance.key'), 'utf8')
    const refused = spawnStatus(['--out', dir])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/already exists; not overwriting\nhint: pass --force/)
    expect(readFileSync(path.join(dir, 'provenance.key'), 'utf8')).toBe(before)
    expect(spawnStatus(['--out', dir, '--force']).status).toBe(0)
    expect(readFileSync(path.join(dir, 'provenance.key'), 'utf8')).not.toBe(before)
    const bad = spawnStatus(['--bogus'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('unknown argument: --bogus')
  })

  it('signs exactly as openssl does (Ed25519 is deterministic), and openssl pkeyutl -verify -rawin accepts the PAE signature', () => {
    const dir = tempDir()
    const {privateKeyFile, publicKeyFile} = generateKeyPair(dir)
    const pae = preAuthEncoding('application/vnd.in-toto+json', Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}'))
    writeFileSync(path.join(dir, 'pae.bin'), pae)
    const ours = sign(null, pae, createPrivateKey(readFileSync(privateKeyFile)))
    const theirs = openssl(['pkeyutl', '-sign', '-rawin', '-inkey', privateKeyFile, '-in', path.join(dir, 'pae.bin')])
    expect(theirs.equals(ours)).toBe(true)
    writeFileSync(path.join(dir, 'sig.bin'), ours)
    expect(openssl(['pkeyutl', '-verify', '-rawin', '-pubin', '-inkey', publicKeyFile, '-in', path.join(dir, 'pae.bin'), '-sigfile', path.join(dir, 'sig.bin')]).toString()).toContain('Signature Verified Successfully')
    expect(keyIdOf(createPublicKey(readFileSync(publicKeyFile)))).toBe(openssl(['dgst', '-sha256', '-r'], openssl(['pkey', '-pubin', '-in', publicKeyFile, '-outform', 'DER'])).toString().split(' ')[0])
  })

  it('signs exactly as @noble/ed25519 does, and both refuse the other\'s signature over other bytes', async () => {
    const noble = await import('@noble/ed25519')
    const {privateKeyFile} = generateKeyPair(tempDir())
    const key = createPrivateKey(readFileSync(privateKeyFile))
    // The raw 32-byte seed is the tail of the PKCS#8 DER (prefix 302e020100300506032b657004220420).
    const seed = key.export({type: 'pkcs8', format: 'der'}).subarray(16)
    const pae = preAuthEncoding('application/vnd.in-toto+json', Buffer.from('{"subject":[]}'))
    const ours = sign(null, pae, key)
    const theirs = Buffer.from(await noble.signAsync(pae, seed))
    expect(theirs.equals(ours)).toBe(true)
    const publicKey = await noble.getPublicKeyAsync(seed)
    expect(await noble.verifyAsync(ours, pae, publicKey, {zip215: false})).toBe(true)
    expect(await noble.verifyAsync(ours, Buffer.concat([pae, Buffer.from(' ')]), publicKey, {zip215: false})).toBe(false)
  })

  it('pre-authentication encoding reproduces the DSSE spec vector', () => {
    expect(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world')
  })
})

function spawnStatus(args: string[]): {status: number; stderr: string} {
  try {
    execFileSync('sh', [GEN_KEYS, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    return {status: 0, stderr: ''}
  } catch (error) {
    const failed = error as {status: number; stderr: Buffer}
    return {status: failed.status, stderr: failed.stderr.toString()}
  }
}
