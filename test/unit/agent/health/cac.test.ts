// The config-as-code sync with the real git binary against a real repository in a temp dir, and
// cac:freshness over the attempts it recorded: fresh, stale, very stale, never synced, clock skew.
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {CacSync} from '../../../../src/agent/cac/sync.js'
import {cacCheck} from '../../../../src/agent/health/checks/cac.js'
import {silentLogger} from '../../../../src/agent/logger.js'
import {Store} from '../../../../src/lib/store/index.js'
import {tempDir} from '../../../support/temp.js'

const MINUTE = 60_000
let dir: string
let repo: string
let store: Store
const clock = {ms: Date.parse('2026-11-27T08:00:00Z'), now: () => new Date(clock.ms)}

function git(...args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], {encoding: 'utf8', env: {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid'}}).trim()
}

function sync(repoPath = repo, timeoutMs = 20_000): CacSync {
  return new CacSync({repo: repoPath, branch: 'main', stateDir: dir, intervalMs: 5 * MINUTE, timeoutMs, store, clock, logger: silentLogger})
}

async function freshness(repoPath = repo) {
  return cacCheck({repo: repoPath, intervalMs: 5 * MINUTE, timeoutMs: MINUTE, store: () => store, clock}).run(new AbortController().signal)
}

beforeEach(() => {
  clock.ms = Date.parse('2026-11-27T08:00:00Z')
  dir = tempDir('danube-cac-')
  store = Store.openInStateDir(dir, {create: true})
  repo = path.join(dir, 'upstream')
  execFileSync('git', ['init', '--quiet', '--initial-branch', 'main', repo])
  writeFileSync(path.join(repo, 'pipeline.yaml'), 'name: one\n')
  git('add', '.')
  git('commit', '--quiet', '-m', 'one')
})
afterEach(() => {
  store.close()
  rmSync(dir, {recursive: true, force: true})
})

describe('config-as-code sync', () => {
  it('fetches the branch into <stateDir>/cac, records the revision, and follows new commits', async () => {
    const first = await sync().syncNow()
    expect(first).toEqual({ok: true, revision: git('rev-parse', 'HEAD')})
    expect(readFileSync(path.join(dir, 'cac', 'pipeline.yaml'), 'utf8')).toBe('name: one\n')
    writeFileSync(path.join(repo, 'pipeline.yaml'), 'name: two\n')
    git('commit', '--quiet', '-am', 'two')
    const second = await sync().syncNow()
    expect(second).toEqual({ok: true, revision: git('rev-parse', 'HEAD')})
    expect(readFileSync(path.join(dir, 'cac', 'pipeline.yaml'), 'utf8')).toBe('name: two\n')
    const rows = store.all<{ok: number; revision: string; finished_at: string}>('SELECT ok, revision, finished_at FROM cac_syncs ORDER BY id')
    expect(rows.map((r) => [r.ok, r.revision])).toEqual([[1, first.ok && first.revision], [1, second.ok && second.revision]])
    expect(await freshness()).toMatchObject({status: 'pass', observedValue: 0, observedUnit: 's'})
  })

  it('records a missing repository or branch as a failed attempt with git\'s reason', async () => {
    const missing = await sync(path.join(dir, 'nowhere')).syncNow()
    expect(missing.ok).toBe(false)
    expect(!missing.ok && missing.error).toMatch(/git fetch failed: .*(does not appear to be a git repository|not found|No such)/i)
    const row = store.get<{ok: number; error: string; finished_at: string}>('SELECT ok, error, finished_at FROM cac_syncs')
    expect(row).toMatchObject({ok: 0})
    expect(row!.finished_at).toBeTruthy()
    expect(await freshness(path.join(dir, 'nowhere'))).toMatchObject({status: 'fail', output: expect.stringContaining('never synced successfully (expected every 5m); last attempt failed: git fetch failed')})
  })

  it('records an unreachable remote (refused connection) within cac.timeout', async () => {
    const result = await sync('http://127.0.0.1:9/repo.git', 10_000).syncNow()
    expect(result.ok).toBe(false)
  })

  it('warns above 2x the interval, fails above 6x, and keeps the reason of the last failed attempt', async () => {
    await sync().syncNow()
    clock.ms += 11 * MINUTE
    expect(await freshness()).toMatchObject({status: 'warn', observedValue: 660, output: expect.stringMatching(/11m ago .*warn above 10m/)})
    await sync(path.join(dir, 'gone')).syncNow()
    clock.ms += 20 * MINUTE
    const stale = await freshness()
    expect(stale).toMatchObject({status: 'fail', observedValue: 1860})
    expect(stale.output).toMatch(/31m ago .*last attempt failed: git fetch failed.*fail above 30m/)
  })

  it('never synced while configured is fail; a first sync still running is warn', async () => {
    expect(await freshness()).toMatchObject({status: 'fail', output: 'never synced successfully (expected every 5m)'})
    store.run('INSERT INTO cac_syncs (started_at) VALUES (?)', [clock.now().toISOString()])
    expect(await freshness()).toMatchObject({status: 'warn', output: expect.stringContaining('first sync in progress')})
  })

  it('a last sync in the future (clock skew) is warn, not pass', async () => {
    await sync().syncNow()
    clock.ms -= 10 * MINUTE
    expect(await freshness()).toMatchObject({status: 'warn', output: expect.stringContaining('in the future')})
  })

  it('stop() kills a running git and records the attempt as failed', async () => {
    const s = sync('http://127.0.0.1:9/never.git')
    const running = s.syncNow()
    await s.stop()
    expect((await running).ok).toBe(false)
    expect(existsSync(path.join(dir, 'cac'))).toBe(true)
  })
})
