// Owns the SQLite database: opening it (WAL, busy_timeout, foreign keys), migrating it, and every query.
// All reads and writes pass through Store.run/get/all/immediate so one place can time them.

import {existsSync, mkdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

import {DanubeError} from '../errors.js'
import {MIGRATIONS, SCHEMA_VERSION} from './migrations.js'

export {SCHEMA_VERSION} from './migrations.js'

export const DATABASE_FILE = 'danube.db'

export interface QueryTiming {
  sql: string
  durationMs: number
  ok: boolean
  /** SQLite's error code of a failed query (SQLITE_BUSY, SQLITE_CONSTRAINT_PRIMARYKEY, …). */
  errorCode?: string
}

export interface OpenStoreOptions {
  /** Create the file (and the state directory) when missing; only the agent does this. */
  create?: boolean
  readonly?: boolean
  busyTimeoutMs?: number
  /** Called after every query; the telemetry layer records these. */
  onQuery?: (timing: QueryTiming) => void
}

type Params = readonly unknown[] | Record<string, unknown>

const require = createRequire(import.meta.url)

export class Store {
  readonly file: string
  readonly db: BetterSqlite3.Database
  private readonly statements = new Map<string, BetterSqlite3.Statement>()
  private readonly onQuery?: (timing: QueryTiming) => void

  private constructor(file: string, db: BetterSqlite3.Database, onQuery?: (timing: QueryTiming) => void) {
    this.file = file
    this.db = db
    this.onQuery = onQuery
  }

  /** Opens `<stateDir>/danube.db`. */
  static openInStateDir(stateDir: string, options: OpenStoreOptions = {}): Store {
    if (options.create) ensureStateDir(stateDir)
    return Store.open(path.join(stateDir, DATABASE_FILE), options)
  }

  static open(file: string, options: OpenStoreOptions = {}): Store {
    if (!options.create && !existsSync(file)) {
      throw new DanubeError('NO_DATABASE', `no danube database at ${file}`, {
        hint: 'start the agent once (danube agent), or point DANUBE_HOME at its state directory',
        httpStatus: 503,
      })
    }
    const Database = require('better-sqlite3') as typeof BetterSqlite3
    let db: BetterSqlite3.Database
    try {
      db = new Database(file, {fileMustExist: !options.create, readonly: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 5000})
    } catch (error) {
      throw openError(file, error)
    }
    const store = new Store(file, db, options.onQuery)
    try {
      const version = db.pragma('user_version', {simple: true}) as number
      if (version > SCHEMA_VERSION) {
        throw new DanubeError('SCHEMA_TOO_NEW', `database ${file} has schema version ${version}, newer than this danube knows (${SCHEMA_VERSION})`, {
          hint: 'run the danube version that wrote it, or restore a backup; danube never downgrades a schema',
          httpStatus: 503,
        })
      }
      if (!options.readonly) {
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = NORMAL')
      }
      db.pragma('foreign_keys = ON')
      if (version < SCHEMA_VERSION) {
        if (!options.create) {
          throw new DanubeError('SCHEMA_TOO_OLD', `database ${file} has schema version ${version}; this danube needs ${SCHEMA_VERSION}`, {
            hint: 'start the agent once (danube agent) so that it migrates the database',
            httpStatus: 503,
          })
        }
        store.migrate(version)
      }
    } catch (error) {
      db.close()
      throw openError(file, error)
    }
    return store
  }

  private migrate(from: number): void {
    for (let version = from + 1; version <= SCHEMA_VERSION; version++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[version - 1]!)
        this.db.pragma(`user_version = ${version}`)
      }).immediate()
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', {simple: true}) as number
  }

  run(sql: string, params: Params = []): BetterSqlite3.RunResult {
    return this.timed(sql, (statement) => statement.run(params))
  }

  get<T>(sql: string, params: Params = []): T | undefined {
    return this.timed(sql, (statement) => statement.get(params) as T | undefined)
  }

  all<T>(sql: string, params: Params = []): T[] {
    return this.timed(sql, (statement) => statement.all(params) as T[])
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction: the write lock is taken before the first read. */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  private timed<T>(sql: string, use: (statement: BetterSqlite3.Statement) => T): T {
    const started = performance.now()
    let ok = false
    let errorCode: string | undefined
    try {
      let statement = this.statements.get(sql)
      if (!statement) {
        statement = this.db.prepare(sql)
        this.statements.set(sql, statement)
      }
      const result = use(statement)
      ok = true
      return result
    } catch (error) {
      errorCode = (error as {code?: string}).code ?? 'error'
      throw queryError(this.file, error)
    } finally {
      this.onQuery?.({sql, durationMs: performance.now() - started, ok, ...(errorCode ? {errorCode} : {})})
    }
  }
}

export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, {recursive: true, mode: 0o700})
  } catch (error) {
    throw new DanubeError('STATE_DIR_UNWRITABLE', `cannot create state directory ${stateDir}: ${(error as NodeJS.ErrnoException).code}`, {
      hint: 'set DANUBE_HOME (or stateDir in the config file) to a directory this user can write',
      cause: error,
    })
  }
}

function openError(file: string, error: unknown): Error {
  if (error instanceof DanubeError) return error
  const code = (error as {code?: string}).code
  if (code === 'SQLITE_NOTADB') {
    return new DanubeError('DATABASE_INVALID', `${file} is not a SQLite database`, {
      hint: 'move the file aside (or restore a backup) and start the agent again',
      httpStatus: 503,
      cause: error,
    })
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM') {
    return new DanubeError('STATE_DIR_UNWRITABLE', `cannot open ${file} for writing (${code})`, {
      hint: 'set DANUBE_HOME (or stateDir) to a directory this user can write',
      httpStatus: 503,
      cause: error,
    })
  }
  return queryError(file, error)
}

function queryError(file: string, error: unknown): Error {
  if (error instanceof DanubeError) return error
  const code = (error as {code?: string}).code
  if (code === 'SQLITE_BUSY') {
    return new DanubeError('DATABASE_BUSY', `database ${file} is locked by another process`, {httpStatus: 503, cause: error})
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new DanubeError('DATABASE_INVALID', `${file} is not a SQLite database (${code})`, {httpStatus: 503, cause: error})
  }
  if (code === 'SQLITE_READONLY') {
    return new DanubeError('DATABASE_READONLY', `database ${file} is read-only`, {httpStatus: 503, cause: error})
  }
  return error as Error
}

/** Opens the existing database of a state directory for a short read (CLI commands), then closes it. */
export function withStore<T>(stateDir: string, use: (store: Store) => T): T {
  const store = Store.openInStateDir(stateDir)
  try {
    return use(store)
  } finally {
    store.close()
  }
}
