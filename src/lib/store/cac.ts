// Owns the cac_syncs table: one row per config-as-code sync attempt (started, finished, ok, revision,
// error). The sync writes it; cac:freshness and operators read it.

import {type Clock, isoNow} from '../clock.js'
import type {Store} from './index.js'

export interface CacSyncRecord {
  id: number
  startedAt: string
  finishedAt: string | null
  ok: boolean | null
  revision: string | null
  error: string | null
}

interface Row {
  id: number
  started_at: string
  finished_at: string | null
  ok: number | null
  revision: string | null
  error: string | null
}

/** Attempts kept; older rows are deleted when a sync finishes. */
export const CAC_SYNCS_KEPT = 1000

export class CacSyncStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  begin(): number {
    return Number(this.store.run('INSERT INTO cac_syncs (started_at) VALUES (?)', [isoNow(this.clock)]).lastInsertRowid)
  }

  finish(id: number, result: {ok: true; revision: string} | {ok: false; error: string}): void {
    this.store.immediate(() => {
      this.store.run('UPDATE cac_syncs SET finished_at = ?, ok = ?, revision = ?, error = ? WHERE id = ?', [
        isoNow(this.clock),
        result.ok ? 1 : 0,
        result.ok ? result.revision : null,
        result.ok ? null : result.error,
        id,
      ])
      this.store.run('DELETE FROM cac_syncs WHERE id <= ?', [id - CAC_SYNCS_KEPT])
    })
  }

  lastSuccess(): CacSyncRecord | undefined {
    return toRecord(this.store.get<Row>('SELECT * FROM cac_syncs WHERE ok = 1 ORDER BY finished_at DESC, id DESC LIMIT 1'))
  }

  lastAttempt(): CacSyncRecord | undefined {
    return toRecord(this.store.get<Row>('SELECT * FROM cac_syncs ORDER BY id DESC LIMIT 1'))
  }
}

function toRecord(row: Row | undefined): CacSyncRecord | undefined {
  if (!row) return undefined
  return {id: row.id, startedAt: row.started_at, finishedAt: row.finished_at, ok: row.ok === null ? null : row.ok === 1, revision: row.revision, error: row.error}
}
