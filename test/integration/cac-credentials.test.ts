// Config-as-code over HTTP with credentials in cac.repo: the real git binary against a real HTTP server on
// 127.0.0.1 that serves a repository (git's dumb HTTP protocol) behind Basic authentication. The
// credentials must reach the server, and never git's command line, its environment, the logs or the
// database; cac.timeout bounds the whole sync.

import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CacSync} from '../../src/agent/cac/sync.js'
import type {Logger} from '../../src/agent/logger.js'
import {Store} from '../../src/lib/store/index.js'

const USER = 'deploy-bot'
const PASSWORD = 's3cret-p4ss-9d2e'
let dir: string
let server: Server
let baseUrl: string
let revision: string
/** Every git invocation the wrapper saw: its argv and its environment, as NUL-separated text. */
const invocations = () => readFileSync(path.join(dir, 'invocations'), 'utf8')

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'danube-cac-http-'))
  const work = path.join(dir, 'work')
  const env = {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid'}
  execFileSync('git', ['init', '--quiet', '--initial-branch', 'main', work])
  writeFileSync(path.join(work, 'pipeline.yaml'), 'name: one\n')
  execFileSync('git', ['-C', work, 'add', '.'], {env})
  execFileSync('git', ['-C', work, 'commit', '--quiet', '-m', 'one'], {env})
  revision = execFileSync('git', ['-C', work, 'rev-parse', 'HEAD'], {encoding: 'utf8'}).trim()
  const bare = path.join(dir, 'served', 'ops.git')
  execFileSync('git', ['clone', '--quiet', '--bare', work, bare])
  execFileSync('git', ['-C', bare, 'update-server-info'])
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
  server = createServer((request, response) => {
    if (request.url?.startsWith('/hang/')) return // never answers: for the timeout
    if (request.headers.authorization !== expected) {
      response.writeHead(401, {'WWW-Authenticate': 'Basic realm="ops"'}).end()
      return
    }
    const file = path.join(dir, 'served', decodeURIComponent(new URL(request.url!, 'http://x').pathname))
    if (!file.startsWith(path.join(dir, 'served')) || !existsSync(file)) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, {'Content-Type': 'application/octet-stream'}).end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // A stand-in on the way to the real git that records what every local user could read of it.
  writeFileSync(
    path.join(dir, 'git'),
    `#!/bin/sh\n{ printf '%s\\0' "$@"; printf '\\n--env--\\n'; cat /proc/$$/environ; printf '\\n--end--\\n'; } >> '${path.join(dir, 'invocations')}'\n[ -n "$SLOW_GIT" ] && sleep "$SLOW_GIT"\nexec git "$@"\n`,
    {mode: 0o755},
  )
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, {recursive: true, force: true})
})

function recordingLogger(lines: string[]): Logger {
  const record = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`)
  return {debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error')} as unknown as Logger
}

function cacSync(repo: string, stateDir: string, lines: string[], timeoutMs = 20_000): {sync: CacSync; store: Store} {
  const store = Store.openInStateDir(stateDir, {create: true})
  const sync = new CacSync({repo, branch: 'main', stateDir, intervalMs: 300_000, timeoutMs, store, clock: {now: () => new Date()}, logger: recordingLogger(lines), git: path.join(dir, 'git')})
  return {sync, store}
}

describe('config-as-code credentials', () => {
  it('hands the URL credentials to git through GIT_ASKPASS, never its command line or environment, and removes them after the sync', async () => {
    const stateDir = mkdtempSync(path.join(dir, 'state-'))
    const lines: string[] = []
    const {sync, store} = cacSync(`${baseUrl.replace('//', `//${USER}:${PASSWORD}@`)}/ops.git`, stateDir, lines)
    try {
      expect(await sync.syncNow()).toEqual({ok: true, revision})
    } finally {
      store.close()
    }
    expect(readFileSync(path.join(stateDir, 'cac', 'pipeline.yaml'), 'utf8')).toBe('name: one\n')
    const seen = invocations()
    expect(seen).toContain(`${baseUrl}/ops.git`)
    expect(seen).not.toContain(PASSWORD)
    expect(seen).toContain('GIT_ASKPASS=')
    // Nothing of the credentials is left: not the askpass files, not FETCH_HEAD, not the logs.
    expect(readdirSync(stateDir).filter((name) => name.startsWith('.cac-askpass-'))).toEqual([])
    expect(readFileSync(path.join(stateDir, 'cac', '.git', 'FETCH_HEAD'), 'utf8')).not.toContain(PASSWORD)
    expect(lines.join('\n')).not.toContain(PASSWORD)
  })

  it('redacts the credentials from the error and the log when the server refuses them', async () => {
    const stateDir = mkdtempSync(path.join(dir, 'state-'))
    const lines: string[] = []
    const wrong = 'wrong-p4ss-7c1a'
    const {sync, store} = cacSync(`${baseUrl.replace('//', `//${USER}:${wrong}@`)}/ops.git`, stateDir, lines)
    let result
    try {
      result = await sync.syncNow()
      const recorded = store.all<{error: string}>('SELECT error FROM cac_syncs')
      expect(recorded.map((row) => row.error).join('\n')).not.toContain(wrong)
    } finally {
      store.close()
    }
    expect(result.ok).toBe(false)
    expect(!result.ok && result.error).toMatch(/git fetch failed: .*(Authentication failed|401)/)
    expect(!result.ok && result.error).not.toContain(wrong)
    expect(lines.join('\n')).toContain('config-as-code sync failed')
    expect(lines.join('\n')).not.toContain(wrong)
    expect(invocations()).not.toContain(wrong)
  })

  it('cac.timeout bounds the whole sync, not each git command', async () => {
    const stateDir = mkdtempSync(path.join(dir, 'state-'))
    const lines: string[] = []
    // Each of the sync's five git commands takes 0.6 s, under the 2 s timeout; together they take 3 s.
    process.env.SLOW_GIT = '0.6'
    const {sync, store} = cacSync(`${baseUrl.replace('//', `//${USER}:${PASSWORD}@`)}/ops.git`, stateDir, lines, 2000)
    const started = Date.now()
    let result
    try {
      result = await sync.syncNow()
    } finally {
      delete process.env.SLOW_GIT
      store.close()
    }
    expect(result).toEqual({ok: false, error: expect.stringMatching(/timed out: the sync took longer than cac\.timeout \(2s\)/)})
    expect(Date.now() - started).toBeLessThan(3000)
    expect(readdirSync(stateDir).filter((name) => name.startsWith('.cac-askpass-'))).toEqual([])
  })

  it('cac.timeout kills a fetch from a server that never answers', async () => {
    const stateDir = mkdtempSync(path.join(dir, 'state-'))
    const {sync, store} = cacSync(`${baseUrl}/hang/ops.git`, stateDir, [], 1000)
    try {
      expect(await sync.syncNow()).toEqual({ok: false, error: expect.stringMatching(/^git fetch timed out/)})
    } finally {
      store.close()
    }
  })
})
