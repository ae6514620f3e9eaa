// The agent's WAL is checkpointed by a thread of its own, so that no commit on the event loop pays for it; if the
// thread fails, commits checkpoint by themselves again. Real SQLite files, a real worker thread.

import {rmSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {Checkpointer, type CheckpointResult} from '../../../../src/lib/store/checkpointer.js'
import {Store} from '../../../../src/lib/store/index.js'
import {waitFor} from '../../../support/agent-process.js'
import {tempDir} from '../../../support/temp.js'

const autoCheckpoint = (store: Store) => store.db.pragma('wal_autocheckpoint', {simple: true})

describe('Checkpointer', () => {
  it('copies the WAL into the database from its own thread, with the connection left not checkpointing', async () => {
    const store = Store.openInStateDir(tempDir('danube-checkpoint-'), {create: true})
    const results: CheckpointResult[] = []
    const checkpointer = new Checkpointer(store, {intervalMs: 20, onCheckpoint: (result) => results.push(result)})
    checkpointer.start()
    expect(autoCheckpoint(store)).toBe(0)
    // More than wal_autocheckpoint's 1000 pages of frames, one commit at a time, as admissions write them.
    for (let i = 0; i < 1500; i++) store.run(`UPDATE drain_state SET updated_at = ? WHERE id = 1`, [`t${i}`])
    const done = await waitFor(() => results.find((result) => result.log >= 1500 && result.checkpointed === result.log), {what: 'a checkpoint of the whole WAL'})
    expect(done.checkpointed).toBeGreaterThanOrEqual(1500)
    await checkpointer.stop()
    expect(autoCheckpoint(store)).toBe(1000)
    store.close()
  })

  it('hands checkpoints back to the connection and says why when its thread fails', async () => {
    const dir = tempDir('danube-checkpoint-')
    const store = Store.openInStateDir(dir, {create: true})
    // The open connection keeps its file; the thread's own open of the path fails.
    rmSync(path.join(dir, 'danube.db'))
    const errors: Error[] = []
    const checkpointer = new Checkpointer(store, {onError: (error) => errors.push(error)})
    checkpointer.start()
    await waitFor(() => errors.length > 0 || undefined, {what: 'the thread to fail'})
    expect(errors[0]!.message).toMatch(/^the checkpoint thread failed: SQLITE_CANTOPEN: /)
    expect(autoCheckpoint(store)).toBe(1000)
    await checkpointer.stop()
    store.close()
  })
})
