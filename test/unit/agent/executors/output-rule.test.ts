// The one output rule both executors use: what may become an artifact, with which name, and how it is staged.

import {createHash} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'

import {ArtifactStaging, checkOutputName, collectLocalOutputs, tarEntryRefusal} from '../../../../src/agent/executors/output-rule.js'
import {JobLog} from '../../../../src/lib/jobs/log.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {recursive: true, force: true})
})

function scratch() {
  const dir = mkdtempSync(path.join(tmpdir(), 'danube-output-rule-'))
  dirs.push(dir)
  const outputs = path.join(dir, 'outputs')
  mkdirSync(outputs)
  const artifactsRoot = path.join(dir, 'artifacts')
  mkdirSync(artifactsRoot)
  const log = new JobLog(path.join(dir, 'job.log'), 1 << 20)
  return {dir, outputs, artifactsRoot, artifacts: path.join(artifactsRoot, 'job-1'), log, logText: () => readFileSync(log.file, 'utf8')}
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe('checkOutputName', () => {
  it('accepts relative names, with the leading ./ tar writes and a directory slash', () => {
    expect(checkOutputName('a/b.txt')).toEqual({path: 'a/b.txt'})
    expect(checkOutputName('./a/b.txt')).toEqual({path: 'a/b.txt'})
    expect(checkOutputName('./dir/')).toEqual({path: 'dir'})
    expect(checkOutputName('./')).toEqual({path: ''})
    expect(checkOutputName('.hidden')).toEqual({path: '.hidden'})
    expect(checkOutputName('name with spaces.txt')).toEqual({path: 'name with spaces.txt'})
  })

  it('refuses absolute, .. and . segments, backslashes, control characters and NUL', () => {
    expect(checkOutputName('/etc/passwd')).toEqual({refused: 'absolute path'})
    expect(checkOutputName('../x')).toEqual({refused: 'path contains ..'})
    expect(checkOutputName('a/../../x')).toEqual({refused: 'path contains ..'})
    expect(checkOutputName('a/./b')).toEqual({refused: 'path has an empty or "." segment'})
    expect(checkOutputName('a//b')).toEqual({refused: 'path has an empty or "." segment'})
    expect(checkOutputName('a\\b')).toEqual({refused: 'backslash in path'})
    expect(checkOutputName('a\u001b[31mb')).toEqual({refused: 'control character in path'})
    expect(checkOutputName('a\0b')).toEqual({refused: 'NUL in path'})
  })

  it('refuses the reserved provenance names at the top level only', () => {
    expect(checkOutputName('provenance.intoto.jsonl')).toEqual({refused: 'reserved artifact name'})
    expect(checkOutputName('./provenance.sigstore.json')).toEqual({refused: 'reserved artifact name'})
    expect(checkOutputName('sub/provenance.intoto.jsonl')).toEqual({path: 'sub/provenance.intoto.jsonl'})
  })
})

describe('tarEntryRefusal', () => {
  it('accepts files and directories and names every other type', () => {
    expect(tarEntryRefusal('file')).toBeNull()
    expect(tarEntryRefusal('directory')).toBeNull()
    expect(tarEntryRefusal('symlink')).toBe('symbolic link')
    expect(tarEntryRefusal('link')).toBe('hard link')
    expect(tarEntryRefusal('fifo')).toBe('not a regular file (fifo)')
    expect(tarEntryRefusal('character-device')).toBe('not a regular file (character-device)')
  })
})

describe('ArtifactStaging', () => {
  it('shows nothing in artifacts/<id>/ until commit, then all of it with the digests it computed', async () => {
    const {artifacts, log, artifactsRoot} = scratch()
    const staging = new ArtifactStaging(artifacts, log)
    await staging.addFile('b.txt', Readable.from([Buffer.from('B')]), 0o644)
    await staging.addFile('a/one.txt', Readable.from([Buffer.from('o'), Buffer.from('ne')]), 0o755)
    expect(existsSync(artifacts)).toBe(false)
    const report = staging.commit()
    expect(report.files).toEqual([
      {path: 'a/one.txt', size: 3, sha256: sha256('one')},
      {path: 'b.txt', size: 1, sha256: sha256('B')},
    ])
    expect(readFileSync(path.join(artifacts, 'a/one.txt'), 'utf8')).toBe('one')
    expect(readdirSync(artifactsRoot)).toEqual(['job-1'])
  })

  it('leaves nothing behind when discarded after a source fails mid-file', async () => {
    const {artifacts, log, artifactsRoot} = scratch()
    const staging = new ArtifactStaging(artifacts, log)
    async function* broken() {
      yield Buffer.from('part')
      throw new Error('stream dropped')
    }
    await expect(staging.addFile('big.bin', broken(), 0o644)).rejects.toThrow('stream dropped')
    staging.discard()
    expect(readdirSync(artifactsRoot)).toEqual([])
  })

  it('refuses a second entry with the same name and removes a staging a crashed agent left', async () => {
    const {artifacts, log, artifactsRoot, logText} = scratch()
    mkdirSync(path.join(artifactsRoot, '.job-1.staging-deadbeef'))
    const staging = new ArtifactStaging(artifacts, log)
    expect(readdirSync(artifactsRoot)).toEqual([])
    await staging.addFile('x', Readable.from([Buffer.from('1')]), 0o644)
    await staging.addFile('./x', Readable.from([Buffer.from('2')]), 0o644)
    const report = staging.commit()
    expect(report.files.map((file) => file.sha256)).toEqual([sha256('1')])
    expect(report.refused).toEqual([{path: './x', reason: 'duplicate entry'}])
    expect(logText()).toContain('refused output ./x: duplicate entry')
  })
})

describe('collectLocalOutputs', () => {
  it('copies regular files, hidden ones and nested directories, sorted, with their digests', async () => {
    const {outputs, artifacts, log} = scratch()
    mkdirSync(path.join(outputs, 'reports/deep'), {recursive: true})
    writeFileSync(path.join(outputs, 'z.txt'), 'zed')
    writeFileSync(path.join(outputs, '.hidden'), 'h')
    writeFileSync(path.join(outputs, 'reports/deep/junit.xml'), '<testsuite/>')
    const report = await collectLocalOutputs(outputs, artifacts, log)
    expect(report.refused).toEqual([])
    expect(report.files.map((file) => file.path)).toEqual(['.hidden', 'reports/deep/junit.xml', 'z.txt'])
    expect(report.files[2]).toEqual({path: 'z.txt', size: 3, sha256: sha256('zed')})
    expect(readFileSync(path.join(artifacts, 'reports/deep/junit.xml'), 'utf8')).toBe('<testsuite/>')
  })

  it('refuses symlinks (to files and to directories), hard links, FIFOs and the reserved names, and logs each', async () => {
    const {dir, outputs, artifacts, log, logText} = scratch()
    writeFileSync(path.join(dir, 'secret'), 'outside the outputs')
    writeFileSync(path.join(outputs, 'ok.txt'), 'fine')
    symlinkSync('/etc/passwd', path.join(outputs, 'passwd'))
    symlinkSync(dir, path.join(outputs, 'dirlink'))
    linkSync(path.join(dir, 'secret'), path.join(outputs, 'hard'))
    execFileSync('mkfifo', [path.join(outputs, 'pipe')])
    writeFileSync(path.join(outputs, 'provenance.intoto.jsonl'), 'forged')
    const report = await collectLocalOutputs(outputs, artifacts, log)
    expect(report.files.map((file) => file.path)).toEqual(['ok.txt'])
    expect(Object.fromEntries(report.refused.map((entry) => [entry.path, entry.reason]))).toEqual({
      dirlink: 'symbolic link',
      hard: 'hard link',
      passwd: 'symbolic link',
      pipe: 'not a regular file (fifo)',
      'provenance.intoto.jsonl': 'reserved artifact name',
    })
    expect(readdirSync(artifacts)).toEqual(['ok.txt'])
    expect(logText()).toContain('refused output hard: hard link')
  })

  it('gives an empty artifacts directory when the outputs directory is empty or missing', async () => {
    const {dir, artifacts, log} = scratch()
    const report = await collectLocalOutputs(path.join(dir, 'missing'), artifacts, log)
    expect(report).toEqual({files: [], refused: []})
    expect(readdirSync(artifacts)).toEqual([])
  })
})
