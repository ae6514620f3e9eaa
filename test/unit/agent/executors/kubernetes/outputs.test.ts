// Copying a Kubernetes job's outputs home: the marker/checksum protocol of the final container's log and the tar
// rules (regular files and directories only; absolute paths, .., links and special files refused).

import {existsSync, lstatSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {extractOutputs, parseOutputsLog} from '../../../../../src/agent/executors/kubernetes/outputs.js'
import {JobLog} from '../../../../../src/lib/jobs/log.js'
import {outputsLog, tarOf} from '../../../../support/kube-outputs.js'
import {tempDir} from '../../../../support/temp.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {recursive: true, force: true})
})

function scratch(): {artifacts: string; log: JobLog; logText: () => string} {
  const dir = tempDir('danube-outputs-')
  dirs.push(dir)
  const log = new JobLog(path.join(dir, 'job.log'), 1 << 20)
  return {artifacts: path.join(dir, 'artifacts'), log, logText: () => readFileSync(log.file, 'utf8')}
}

describe('parseOutputsLog', () => {
  it('decodes the archive between the markers and keeps other lines', async () => {
    const archive = await tarOf([{name: 'a.txt', content: 'A'}])
    const parsed = parseOutputsLog(`tar: removing leading /\n${outputsLog(archive)}`)
    expect(parsed.archive?.equals(archive)).toBe(true)
    expect(parsed.other).toEqual(['tar: removing leading /'])
  })

  it('refuses a truncated log, a size mismatch and a checksum mismatch', async () => {
    const text = outputsLog(await tarOf([{name: 'a.txt', content: 'A'.repeat(500)}]))
    expect(parseOutputsLog(text.split('\n').slice(0, 3).join('\n')).problem).toMatch(/no end marker/)
    expect(parseOutputsLog(text.replace(/\n[^\n]+\ndanube-outputs-end/, '\ndanube-outputs-end')).problem).toMatch(/expected \d+/)
    const flipped = text.replace(/^(danube-outputs-begin size=\d+ sha256=)(.)/m, (_m, head: string, c: string) => `${head}${c === 'a' ? 'b' : 'a'}`)
    expect(parseOutputsLog(flipped).problem).toMatch(/sha256/)
    expect(parseOutputsLog('nothing here\n').problem).toMatch(/no archive/)
  })
})

describe('extractOutputs', () => {
  it('copies regular files and directories with their relative paths', async () => {
    const {artifacts, log} = scratch()
    const archive = await tarOf([
      {name: './', type: 'directory'},
      {name: './reports/', type: 'directory'},
      {name: './reports/junit.xml', content: '<testsuite/>'},
      {name: './bin/tool', content: '#!/bin/sh\n', mode: 0o755},
      {name: './' + 'd/'.repeat(60) + 'deep.txt', content: 'long name'},
    ])
    const result = await extractOutputs(archive, artifacts, log)
    expect(result.refused).toEqual([])
    expect(result.files).toHaveLength(3)
    expect(readFileSync(path.join(artifacts, 'reports/junit.xml'), 'utf8')).toBe('<testsuite/>')
    expect(lstatSync(path.join(artifacts, 'bin/tool')).mode & 0o111).not.toBe(0)
    expect(readFileSync(path.join(artifacts, 'd/'.repeat(60) + 'deep.txt'), 'utf8')).toBe('long name')
  })

  it('refuses absolute paths, .., symlinks, hard links, special files and reserved names, and logs each', async () => {
    const {artifacts, log, logText} = scratch()
    const archive = await tarOf([
      {name: 'ok.txt', content: 'fine'},
      {name: '/etc/evil', content: 'x'},
      {name: '../escape.txt', content: 'x'},
      {name: 'a/../../escape2.txt', content: 'x'},
      {name: 'link', type: 'symlink', linkname: '/etc/passwd'},
      {name: 'hard', type: 'link', linkname: 'ok.txt'},
      {name: 'pipe', type: 'fifo'},
      {name: 'provenance.intoto.jsonl', content: 'forged'},
      {name: 'after.txt', content: 'still read'},
    ])
    const result = await extractOutputs(archive, artifacts, log)
    expect(result.files.map((file) => file.path)).toEqual(['after.txt', 'ok.txt'])
    expect(result.refused).toHaveLength(7)
    expect(readdirSync(artifacts).sort()).toEqual(['after.txt', 'ok.txt'])
    expect(existsSync(path.join(path.dirname(artifacts), 'escape.txt'))).toBe(false)
    const text = logText()
    expect(text).toContain('refused output /etc/evil: absolute path')
    expect(text).toContain('refused output ../escape.txt: path contains ..')
    expect(text).toContain('refused output link: symbolic link')
    expect(text).toContain('refused output hard: hard link')
    expect(text).toContain('refused output pipe: not a regular file (fifo)')
    expect(text).toContain('refused output provenance.intoto.jsonl: reserved artifact name')
  })

  it('rejects an archive that is not a tar', async () => {
    const {artifacts, log} = scratch()
    await expect(extractOutputs(Buffer.from('x'.repeat(1024)), artifacts, log)).rejects.toThrow()
  })
})
