import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'

import type {Clock} from '../../../../src/lib/clock.js'
import {localStateIdentity, readStateIdentity} from '../../../../src/lib/store/identity.js'
import {Store, SCHEMA_VERSION} from '../../../../src/lib/store/index.js'
import {MIGRATIONS} from '../../../../src/lib/store/migrations.js'
import {JobStore} from '../../../../src/lib/store/jobs.js'
import {validateJobSpec} from '../../../../src/lib/jobs/spec.js'
import {tempDir} from '../../../support/temp.js'

const fixedClock: Clock = {now: () => new Date('2026-11-27T08:00:00.000Z')}
const spec = validateJobSpec({name: 'build', steps: [{run: 'make'}, {name: 'test', run: 'make test'}]})

function stateDir(): string {
  return tempDir('danube-store-')
}

describe('Store', () => {
  it('creates and migrates a new database in WAL mode with foreign keys on', () => {
    const store = Store.openInStateDir(path.join(stateDir(), 'nested', 'state'), {create: true})
    expect(store.schemaVersion).toBe(SCHEMA_VERSION)
    expect(store.db.pragma('journal_mode', {simple: true})).toBe('wal')
    expect(store.db.pragma('foreign_keys', {simple: true})).toBe(1)
    expect(store.get<{state: string}>('SELECT state FROM drain_state WHERE id = 1')?.state).toBe('active')
    store.close()
  })

  it('does not create a database when asked only to read', () => {
    const dir = stateDir()
    expect(() => Store.openInStateDir(dir)).toThrow(/no danube database at .*danube.db/)
  })

  it('refuses a schema newer than the code knows, and leaves it as it was', () => {
    const dir = stateDir()
    Store.openInStateDir(dir, {create: true}).close()
    const raw = new Database(path.join(dir, 'danube.db'))
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    raw.close()
    expect(() => Store.openInStateDir(dir, {create: true})).toThrow(/schema version \d+, newer than this danube knows/)
    const check = new Database(path.join(dir, 'danube.db'))
    expect(check.pragma('user_version', {simple: true})).toBe(SCHEMA_VERSION + 1)
    check.close()
  })

  it('refuses a file that is not SQLite with a clear error and does not change it', () => {
    const dir = stateDir()
    const file = path.join(dir, 'danube.db')
    const content = 'this is not a database, it is a shopping list\n'.repeat(200)
    writeFileSync(file, content)
    expect(() => Store.openInStateDir(dir, {create: true})).toThrow(`${file} is not a SQLite database`)
    expect(readFileSync(file, 'utf8')).toBe(content)
  })

  it('gives a new database a state id, and keeps it across opens', () => {
    const dir = stateDir()
    const store = Store.openInStateDir(dir, {create: true})
    const {stateId} = readStateIdentity(store)
    store.close()
    expect(stateId).toMatch(/^[0-9a-f]{32}$/)
    expect(localStateIdentity(dir).stateId).toBe(stateId)
    expect(readStateIdentity(Store.openInStateDir(dir, {create: true})).stateId).toBe(stateId)
    const other = Store.openInStateDir(stateDir(), {create: true})
    expect(readStateIdentity(other).stateId).not.toBe(stateId)
    other.close()
  })

  it('gives a database made before state ids one when it migrates', () => {
    const dir = stateDir()
    const file = path.join(dir, 'danube.db')
    const raw = new Database(file)
    const before = MIGRATIONS.findIndex((sql) => sql.includes('CREATE TABLE state_identity'))
    expect(before).toBeGreaterThan(0)
    for (const [index, sql] of MIGRATIONS.slice(0, before).entries()) {
      raw.exec(sql)
      raw.pragma(`user_version = ${index + 1}`)
    }
    raw.close()
    expect(() => localStateIdentity(dir)).toThrow(/schema version/)
    Store.openInStateDir(dir, {create: true}).close()
    expect(localStateIdentity(dir).stateId).toMatch(/^[0-9a-f]{32}$/)
  })

  it('names the path and the fix when the state directory or its database is missing', () => {
    const dir = stateDir()
    expect(() => localStateIdentity(path.join(dir, 'nope'))).toThrow(`state directory ${path.join(dir, 'nope')} does not exist`)
    writeFileSync(path.join(dir, 'file'), '')
    expect(() => localStateIdentity(path.join(dir, 'file', 'state'))).toThrow(/a part of its path is a file/)
    expect(() => localStateIdentity(dir)).toThrow(`no danube database at ${path.join(dir, 'danube.db')}`)
  })

  it('reports a state directory it cannot create', () => {
    const dir = stateDir()
    const blocker = path.join(dir, 'file')
    writeFileSync(blocker, '')
    expect(() => Store.openInStateDir(path.join(blocker, 'state'), {create: true})).toThrow(/cannot create state directory .*ENOTDIR/)
  })

  it('passes every query through one timing hook', () => {
    const seen: string[] = []
    const store = Store.openInStateDir(stateDir(), {create: true, onQuery: (timing) => seen.push(timing.sql)})
    new JobStore(store, fixedClock).admitJob(spec, 'local')
    expect(seen.some((sql) => sql.startsWith('INSERT INTO jobs'))).toBe(true)
    store.close()
  })
})

describe('JobStore', () => {
  it('admits a job with its steps as queued', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    const job = jobs.admitJob(spec, 'local')
    expect(job).toMatchObject({name: 'build', state: 'queued', createdAt: '2026-11-27T08:00:00.000Z', executor: 'local'})
    expect(job.steps.map((s) => [s.name, s.state])).toEqual([['step-1', 'pending'], ['test', 'pending']])
    store.close()
  })

  it('refuses admission while draining, inside the same transaction, and writes nothing', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    store.run(`UPDATE drain_state SET state = 'draining'`)
    expect(() => jobs.admitJob(spec, 'local')).toThrow(/draining/)
    expect(store.get<{n: number}>('SELECT COUNT(*) AS n FROM jobs')?.n).toBe(0)
    expect(store.get<{n: number}>('SELECT COUNT(*) AS n FROM job_steps')?.n).toBe(0)
    store.close()
  })

  it('makes every transition conditional: a finished job cannot be restarted or finished again', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    const {id} = jobs.admitJob(spec, 'local')
    expect(jobs.markRunning(id)).toBe(true)
    expect(jobs.markRunning(id)).toBe(false)
    expect(jobs.finishJob(id, {state: 'succeeded', reason: null, exitCode: 0})).toBe(true)
    expect(jobs.finishJob(id, {state: 'failed', reason: 'agent-restart'})).toBe(false)
    expect(jobs.getJob(id).state).toBe('succeeded')
    expect(jobs.getJob(id).steps.every((s) => s.state === 'skipped')).toBe(true)
    store.close()
  })

  it('does not start a queued job once a drain has begun', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    const {id} = jobs.admitJob(spec, 'local')
    store.run(`UPDATE drain_state SET state = 'draining'`)
    expect(jobs.markRunning(id)).toBe(false)
    expect(jobs.getJob(id).state).toBe('queued')
    store.close()
  })

  it('lists newest first, filters by state and counts by state', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    const first = jobs.admitJob(spec, 'local')
    const second = jobs.admitJob(spec, 'local')
    jobs.markRunning(first.id)
    expect(jobs.listJobs().map((j) => j.id)).toEqual([second.id, first.id])
    expect(jobs.listJobs({state: 'running'}).map((j) => j.id)).toEqual([first.id])
    expect(jobs.jobIdsInState('queued')).toEqual([second.id])
    expect(jobs.countByState()).toMatchObject({queued: 1, running: 1, succeeded: 0})
    expect(() => jobs.getJob('missing')).toThrow('no job with id missing')
    store.close()
  })

  it('keeps the per-state counts through every transition and delete, as counting the rows would', () => {
    const store = Store.openInStateDir(stateDir(), {create: true})
    const jobs = new JobStore(store, fixedClock)
    const counted = () => {
      const rows = store.all<{state: string; n: number}>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')
      return {...{queued: 0, deferred: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0}, ...Object.fromEntries(rows.map((r) => [r.state, r.n]))}
    }
    const [a, b, c] = [jobs.admitJob(spec, 'local'), jobs.admitJob(spec, 'local'), jobs.admitJob(spec, 'local')]
    expect(jobs.countByState()).toEqual({...counted(), queued: 3})
    jobs.markRunning(a.id)
    jobs.finishJob(a.id, {state: 'succeeded', reason: null, exitCode: 0})
    expect(jobs.finishJob(a.id, {state: 'failed', reason: 'exit-code', exitCode: 1})).toBe(false)
    jobs.markRunning(b.id)
    jobs.finishJob(b.id, {state: 'failed', reason: 'exit-code', exitCode: 2})
    store.run(`UPDATE jobs SET updated_at = updated_at WHERE id = ?`, [c.id])
    expect(jobs.countByState()).toEqual({...counted(), queued: 1, succeeded: 1, failed: 1})
    store.run(`DELETE FROM job_steps WHERE job_id = ?`, [b.id])
    store.run(`DELETE FROM jobs WHERE id = ?`, [b.id])
    expect(jobs.countByState()).toEqual({...counted(), failed: 0})
    store.close()
  })

  it('starts the per-state counts of an older database from its rows when it migrates', () => {
    const dir = stateDir()
    const raw = new Database(path.join(dir, 'danube.db'))
    const before = MIGRATIONS.findIndex((sql) => sql.includes('CREATE TABLE job_state_counts'))
    expect(before).toBeGreaterThan(0)
    for (const [index, sql] of MIGRATIONS.slice(0, before).entries()) {
      raw.exec(sql)
      raw.pragma(`user_version = ${index + 1}`)
    }
    const insert = raw.prepare(`INSERT INTO jobs (id, name, spec, state, executor, created_at, updated_at) VALUES (?, 'old', '{}', ?, 'local', 'x', 'x')`)
    for (const [i, state] of ['succeeded', 'succeeded', 'failed', 'queued'].entries()) insert.run(`old-${i}`, state)
    raw.close()
    const store = Store.openInStateDir(dir, {create: true})
    expect(new JobStore(store, fixedClock).countByState()).toEqual({queued: 1, deferred: 0, running: 0, succeeded: 2, failed: 1, cancelled: 0})
    store.close()
  })
})
