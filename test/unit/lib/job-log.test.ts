import {appendFileSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {followLog, JobLog} from '../../../src/lib/jobs/log.js'
import {waitFor} from '../../support/agent-process.js'
import {tempDir} from '../../support/temp.js'

const dir = () => tempDir('danube-log-')

describe('JobLog', () => {
  it('is created 0600 and stops job output before its cap, saying so once', () => {
    const file = path.join(dir(), 'logs', 'job.log')
    const log = new JobLog(file, 1024)
    for (let n = 0; n < 100; n++) log.write('x'.repeat(100))
    log.close()
    const text = readFileSync(file, 'utf8')
    // A quarter of a 1 KiB cap is kept for danube's own lines.
    expect(text.startsWith(`${'x'.repeat(768)}\n[danube] log truncated`)).toBe(true)
    expect(text.match(/log truncated/g)).toHaveLength(1)
    expect(statSync(file).size).toBeLessThanOrEqual(1024)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it("keeps room for danube's final lines when job output and step lines fill the log", () => {
    const file = path.join(dir(), 'job.log')
    const maxBytes = 256 * 1024
    const log = new JobLog(file, maxBytes)
    for (let n = 0; n < 5000; n++) log.write(`${'y'.repeat(99)}\n`)
    for (let step = 0; step < 1000; step++) log.note(`step ${step + 1}/1000 a-step-with-a-rather-long-name-${step}`)
    log.note('collected 3 artifact(s)', {final: true})
    log.note('job succeeded', {final: true})
    log.close()
    const text = readFileSync(file, 'utf8')
    expect(statSync(file).size).toBeLessThanOrEqual(maxBytes)
    expect(text).toContain('[danube] log truncated')
    expect(text.endsWith('[danube] collected 3 artifact(s)\n[danube] job succeeded\n')).toBe(true)
  })
})

describe('followLog', () => {
  it('streams appended bytes until the job is finished, losing none written just before the end', async () => {
    const file = path.join(dir(), 'job.log')
    appendFileSync(file, 'one\n')
    let finished = false
    const chunks: string[] = []
    const reading = (async () => {
      for await (const chunk of followLog(file, {isFinished: () => finished, pollMs: 20})) chunks.push(chunk.toString())
    })()
    // Each append is streamed while the job still runs, before the next one is written.
    await waitFor(() => chunks.join('') === 'one\n', {what: 'the first line'})
    appendFileSync(file, 'two\n')
    await waitFor(() => chunks.join('') === 'one\ntwo\n', {what: 'the appended line'})
    appendFileSync(file, 'three\n')
    finished = true
    await reading
    expect(chunks.join('')).toBe('one\ntwo\nthree\n')
  })

  it('waits for a log that does not exist yet', async () => {
    const file = path.join(dir(), 'later.log')
    let finished = false
    let polls = 0
    let text = ''
    const reading = (async () => {
      for await (const chunk of followLog(file, {isFinished: () => (polls++, finished), pollMs: 20})) text += chunk.toString()
    })()
    // The reader has found no file and asked whether the job ended: it is waiting for the log to appear.
    await waitFor(() => polls > 0, {what: 'the reader to look for the log'})
    appendFileSync(file, 'hello\n')
    await waitFor(() => text === 'hello\n', {what: 'the new log to be read'})
    finished = true
    await reading
    expect(text).toBe('hello\n')
  })
})
