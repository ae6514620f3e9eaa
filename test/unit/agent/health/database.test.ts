// database:responseTime against real SQLite files: healthy, locked by another process, missing, replaced by
// a non-SQLite file, a schema version the code does not expect.
import {spawn} from 'node:child_process'
import {existsSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {probeDatabase} from '../../../../src/agent/health/checks/database.js'
import {SCHEMA_VERSION, Store} from '../../../../src/lib/store/index.js'
import {tempDir} from '../../../support/temp.js'

const require = createRequire(import.meta.url)
const options = {busyTimeoutMs: 150, warnAfterMs: 200}
let dir: string
let file: string

beforeEach(() => {
  dir = tempDir('danube-health-db-')
  Store.openInStateDir(dir, {create: true}).close()
  file = path.join(dir, 'danube.db')
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

describe('database:responseTime', () => {
  it('passes with a read and a rolled-back write, leaving the data as it was', () => {
    const db = new (require('better-sqlite3') as typeof BetterSqlite3)(file)
    const before = db.prepare('SELECT * FROM drain_state').all()
    const outcome = probeDatabase(file, options)
    expect(outcome).toMatchObject({status: 'pass', observedUnit: 'ms'})
    expect(outcome.observedValue).toBeLessThan(200)
    expect(db.prepare('SELECT * FROM drain_state').all()).toEqual(before)
    db.close()
  })

  it('warns when slower than warnAfter', () => {
    expect(probeDatabase(file, {busyTimeoutMs: 150, warnAfterMs: -1})).toMatchObject({status: 'warn'})
  })

  it('fails, within about busy_timeout, while another process holds the write lock', async () => {
    const holder = spawn(process.execPath, ['-e', `
      const db = new (require(${JSON.stringify(require.resolve('better-sqlite3'))}))(${JSON.stringify(file)})
      db.exec('BEGIN IMMEDIATE'); db.prepare("UPDATE drain_state SET updated_at = 'x'").run()
      process.stdout.write('locked\\n'); process.stdin.resume(); process.stdin.on('end', () => { db.exec('ROLLBACK'); process.exit(0) })`], {stdio: ['pipe', 'pipe', 'inherit']})
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()))
    try {
      const started = performance.now()
      const outcome = probeDatabase(file, options)
      expect(performance.now() - started).toBeLessThan(1000)
      expect(outcome.status).toBe('fail')
      expect(outcome.output).toContain('locked by another process')
    } finally {
      holder.stdin!.end()
      await new Promise((resolve) => holder.once('exit', resolve))
    }
    expect(probeDatabase(file, options).status).toBe('pass')
  })

  it('fails when the file was deleted, and does not create it', () => {
    unlinkSync(file)
    const outcome = probeDatabase(file, options)
    expect(outcome).toMatchObject({status: 'fail'})
    expect(outcome.output).toContain('no database at')
    expect(existsSync(file)).toBe(false)
  })

  it('fails when the file was replaced by something that is not SQLite', () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, {force: true})
    writeFileSync(file, 'this is not a database, just text that is long enough to have a header '.repeat(20))
    const outcome = probeDatabase(file, options)
    expect(outcome.status).toBe('fail')
    expect(outcome.output).toContain('not a SQLite database')
  })

  it('fails on a schema version the code does not expect, older or newer', () => {
    const db = new (require('better-sqlite3') as typeof BetterSqlite3)(file)
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    expect(probeDatabase(file, options)).toMatchObject({status: 'fail', output: expect.stringContaining('newer danube')})
    db.pragma(`user_version = ${SCHEMA_VERSION - 1}`)
    expect(probeDatabase(file, options)).toMatchObject({status: 'fail', output: expect.stringContaining('migrate')})
    db.close()
  })
})
