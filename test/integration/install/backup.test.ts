// docs/upgrade.md's backup: SQLite's online backup (`sqlite3 danube.db ".backup FILE"`) taken while the agent
// runs gives a consistent database holding the jobs, which a restarted agent serves.
import {execFile} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'

import {makeStateDir, removeStateDir, runCli, startAgent} from '../../support/agent-process.js'

const run = promisify(execFile)
const dirs: string[] = []
afterAll(() => dirs.forEach(removeStateDir))

describe('the backup docs/upgrade.md describes', () => {
  it('is consistent while the agent runs, and an agent started on the restored copy has the jobs', async () => {
    const agent = await startAgent()
    dirs.push(agent.stateDir)
    const spec = path.join(agent.stateDir, 'job.yaml')
    writeFileSync(spec, 'name: before-backup\nsteps:\n  - run: echo hi\n')
    const job = JSON.parse((await runCli(['job', 'run', '--file', spec, '--wait', '--json'], {stateDir: agent.stateDir})).stdout) as {id: string}

    const restored = makeStateDir()
    dirs.push(restored)
    mkdirSync(restored, {recursive: true})
    await run('sqlite3', [path.join(agent.stateDir, 'danube.db'), `.backup ${path.join(restored, 'danube.db')}`])
    await agent.stop('SIGTERM')

    const db = new Database(path.join(restored, 'danube.db'), {readonly: true})
    expect(db.pragma('integrity_check', {simple: true})).toBe('ok')
    db.close()
    writeFileSync(path.join(restored, 'agent.token'), `${'a'.repeat(64)}\n`, {mode: 0o600})
    const second = await startAgent({stateDir: restored})
    try {
      const shown = await runCli(['job', 'show', job.id, '--json'], {stateDir: restored})
      expect(JSON.parse(shown.stdout)).toMatchObject({id: job.id, state: 'succeeded'})
    } finally {
      await second.stop('SIGTERM')
    }
  })
})
