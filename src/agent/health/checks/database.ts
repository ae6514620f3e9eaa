// database:responseTime (required): a read and a rolled-back write transaction on the real database,
// through a connection of its own with a short busy_timeout (better-sqlite3 is synchronous: a long wait
// here would stall the event loop). It never creates the database, and a schema version other than the
// one this code was built for is a failure.

import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

import {DATABASE_FILE, SCHEMA_VERSION} from '../../../lib/store/index.js'
import type {CheckOutcome, HealthCheck} from '../types.js'

const require = createRequire(import.meta.url)

export interface DatabaseCheckOptions {
  stateDir: string
  busyTimeoutMs: number
  warnAfterMs: number
}

export function databaseCheck(options: DatabaseCheckOptions): HealthCheck {
  const file = path.join(options.stateDir, DATABASE_FILE)
  return {
    key: 'database:responseTime',
    componentType: 'datastore',
    componentId: file,
    importance: 'required',
    observedUnit: 'ms',
    run: async () => probeDatabase(file, options),
  }
}

export function probeDatabase(file: string, options: {busyTimeoutMs: number; warnAfterMs: number}): CheckOutcome {
  const started = performance.now()
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10
  const Database = require('better-sqlite3') as typeof BetterSqlite3
  let db: BetterSqlite3.Database | undefined
  try {
    // Never create it: a probe that creates an empty database hides the real problem.
    if (!existsSync(file)) return {status: 'fail', observedValue: elapsed(), observedUnit: 'ms', output: `no database at ${file} (start the agent once to create it)`}
    db = new Database(file, {fileMustExist: true, timeout: options.busyTimeoutMs})
    const version = db.pragma('user_version', {simple: true}) as number
    if (version !== SCHEMA_VERSION) {
      return {status: 'fail', observedValue: elapsed(), observedUnit: 'ms', output: `schema version ${version}, this danube expects ${SCHEMA_VERSION}${version < SCHEMA_VERSION ? ' (start the agent once to migrate)' : ' (written by a newer danube)'}`}
    }
    db.prepare('SELECT state FROM drain_state WHERE id = 1').get()
    // A write that changes nothing, rolled back: proves the write lock can be taken and the file is writable.
    db.exec('BEGIN IMMEDIATE')
    try {
      db.prepare('UPDATE drain_state SET updated_at = updated_at WHERE id = 1').run()
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK')
    }
    const ms = elapsed()
    if (ms > options.warnAfterMs) return {status: 'warn', observedValue: ms, observedUnit: 'ms', output: `read and write took ${ms} ms (warn above ${options.warnAfterMs} ms)`}
    return {status: 'pass', observedValue: ms, observedUnit: 'ms', output: `read and rolled-back write in ${ms} ms`}
  } catch (error) {
    return {status: 'fail', observedValue: elapsed(), observedUnit: 'ms', output: explain(file, error, options.busyTimeoutMs)}
  } finally {
    db?.close()
  }
}

function explain(file: string, error: unknown, busyTimeoutMs: number): string {
  const code = (error as {code?: string}).code ?? ''
  const message = (error as Error).message
  if (code === 'SQLITE_CANTOPEN' && message.includes('does not exist')) return `no database at ${file} (start the agent once to create it)`
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY')) return `database ${file} is locked by another process (waited ${busyTimeoutMs} ms)`
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return `${file} is not a SQLite database (${code})`
  if (code.startsWith('SQLITE_READONLY')) return `database ${file} is read-only (${code})`
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_IOERR')) return `cannot open ${file} for reading and writing (${code}: ${message})`
  return `${code ? `${code}: ` : ''}${message}`
}
