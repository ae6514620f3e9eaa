// Owns the identity of a state directory: the id created with its database (migration 4), which the
// agent sends with every answer (HTTP header Danube-State-Id, field stateId, gRPC metadata
// danube-state-id) and which the CLI compares with its own database's before it trusts an answer.

import {existsSync, statSync} from 'node:fs'
import path from 'node:path'

import {DanubeError} from '../errors.js'
import {DATABASE_FILE, Store} from './index.js'

/** The HTTP response header (and, lower-cased, the gRPC metadata key) that carries the state id. */
export const STATE_ID_HEADER = 'Danube-State-Id'
export const STATE_ID_METADATA = 'danube-state-id'

export interface StateIdentity {
  stateId: string
  createdAt: string
}

export function readStateIdentity(store: Store): StateIdentity {
  const row = store.get<{state_id: string; created_at: string}>('SELECT state_id, created_at FROM state_identity WHERE id = 1')
  if (!row) throw new DanubeError('DATABASE_INVALID', `${store.file} has no state_identity row`, {httpStatus: 503, hint: 'restore a backup of the state directory'})
  return {stateId: row.state_id, createdAt: row.created_at}
}

/**
 * The identity of the state directory this CLI serves, read from its database. Throws, naming the path and
 * the fix, when the directory or the database is missing, unreadable or not SQLite: then no answering agent
 * can be vouched for.
 */
export function localStateIdentity(stateDir: string): StateIdentity {
  const file = path.join(stateDir, DATABASE_FILE)
  checkStateDir(stateDir)
  if (!existsSync(file)) {
    throw new DanubeError('NO_DATABASE', `no danube database at ${file}`, {hint: 'start the agent once (danube agent), or point DANUBE_HOME at its state directory'})
  }
  let store: Store
  try {
    store = Store.open(file, {readonly: true, busyTimeoutMs: 250})
  } catch (error) {
    // A read-only open of a WAL database needs its -shm file; the read-write open creates it.
    if (!(error instanceof DanubeError) || error.code === 'DATABASE_INVALID' || error.code.startsWith('SCHEMA_')) throw error
    store = Store.open(file, {busyTimeoutMs: 250})
  }
  try {
    return readStateIdentity(store)
  } finally {
    store.close()
  }
}

/** Throws, naming the path and the fix, unless stateDir is a directory this user can look into. */
export function checkStateDir(stateDir: string): void {
  let isDir = false
  try {
    isDir = statSync(stateDir).isDirectory()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const what = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'cannot exist: a part of its path is a file' : `cannot be read (${code})`
    throw new DanubeError('STATE_DIR_MISSING', `state directory ${stateDir} ${what}`, {
      hint: "point DANUBE_HOME (or stateDir in the config file) at the agent's state directory, or start the agent once (danube agent) to create it",
    })
  }
  if (!isDir) {
    throw new DanubeError('STATE_DIR_MISSING', `state directory ${stateDir} is not a directory`, {
      hint: "point DANUBE_HOME (or stateDir in the config file) at the agent's state directory",
    })
  }
}

/** Why an answer that carries `answered` (or no state id at all) is not from this state directory's agent, or undefined when it is. */
export function identityMismatch(expected: {stateId: string; stateDir: string}, answered: string | undefined, addr: string): DanubeError | undefined {
  if (answered === expected.stateId) return undefined
  const who = answered ? `the agent of another state directory (state id ${answered})` : 'something that is not a danube agent of this version (no state id)'
  return new DanubeError('AGENT_MISMATCH', `${who} answered at ${addr}, not the agent of ${expected.stateDir} (state id ${expected.stateId})`, {
    hint: `this state directory's agent is not running there: start it (danube agent, or systemctl start danube), or point DANUBE_HOME at the state directory of the agent that answers`,
  })
}
