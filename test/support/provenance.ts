// Builds signed artifacts directories for provenance tests with the real signing code: a key pair in a temporary
// keys directory, files on disk, a Statement over their real digests, and the two provenance files.

import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {signStatement, type Envelope} from '../../src/lib/provenance/dsse.js'
import {writeProvenanceFiles} from '../../src/lib/provenance/files.js'
import {generateKeyPair, type KeyPairFiles, loadSigningKey} from '../../src/lib/provenance/keys.js'
import {buildStatement, ENVELOPE_FILE, type Statement} from '../../src/lib/provenance/statement.js'

export interface SignedFixture {
  root: string
  dir: string
  keys: KeyPairFiles
  statement: Statement
  /** Signs a (changed) statement with the fixture's key and rewrites both provenance files. */
  resign(statement: unknown): void
  /** The envelope as written. */
  envelope(): Envelope
  writeEnvelope(envelope: unknown): void
  cleanup(): void
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex')
}

export function makeSignedArtifacts(files: Record<string, string> = {'app.tar.gz': 'binary', 'reports/junit.xml': '<testsuite/>', '.hidden': 'dot'}): SignedFixture {
  const root = mkdtempSync(path.join(tmpdir(), 'danube-prov-'))
  const dir = path.join(root, 'artifacts')
  const keys = generateKeyPair(path.join(root, 'keys'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    writeFileSync(path.join(dir, name), content)
  }
  const key = loadSigningKey(keys.dir)!
  const statement = buildStatement({
    jobId: '6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10',
    spec: {name: 'build', steps: [{name: 'build', run: 'make'}], env: {A: '1', TOKEN: 's3cret'}, secrets: ['TOKEN'], timeout: '1h', source: {uri: 'https://git.example.com/acme/app', ref: 'refs/heads/main', commit: '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d'}},
    files: Object.entries(files).map(([name, content]) => ({path: name, sha256: sha256(content)})),
    steps: [{name: 'build', exitCode: 0, startedAt: '2026-11-27T08:00:00.000Z', finishedAt: '2026-11-27T08:00:01.500Z', imageDigest: null}],
    builderId: 'https://danube.dev/builders/local-bubblewrap/v1',
    builderVersion: {danube: '0.1.0'},
    internalParameters: {executor: 'local', isolation: 'bubblewrap'},
    startedOn: '2026-11-27T08:00:00.000Z',
    finishedOn: '2026-11-27T08:00:02.000Z',
  })
  mkdirSync(dir, {recursive: true})
  const resign = (changed: unknown) => writeProvenanceFiles(dir, signStatement(changed as Statement, key))
  resign(statement)
  return {
    root,
    dir,
    keys,
    statement,
    resign,
    envelope: () => JSON.parse(readFileSync(path.join(dir, ENVELOPE_FILE), 'utf8')) as Envelope,
    writeEnvelope: (envelope) => writeFileSync(path.join(dir, ENVELOPE_FILE), `${typeof envelope === 'string' ? envelope : JSON.stringify(envelope)}\n`),
    cleanup: () => rmSync(root, {recursive: true, force: true}),
  }
}
