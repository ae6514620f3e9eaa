// --json is a public API: every command with --json has a schema under schemas/, and the command snapshot
// (flags, arguments, types, --json fields) only ever grows. Regenerate it after adding: npm run snapshot.
import {existsSync, readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {readManifest} from '../../support/hints.js'
import {REPO_ROOT} from '../../support/agent-process.js'
import {schemaErrors} from '../../support/schemas.js'
// @ts-expect-error: a plain ES module script, typed by use
import {breakingChanges, currentSnapshot, schemaFileOf, SNAPSHOT_FILE} from '../../../scripts/command-snapshot.js'

type Snapshot = {command: string; flags: {name: string; type: string; char?: string; options?: string[]}[]; args: {name: string; required: boolean}[]; json: boolean; fields?: string[] | null}[]

describe('the --json contract', () => {
  it('every command with --json has a schema of its result under schemas/', () => {
    const missing = Object.values(readManifest(REPO_ROOT)).filter((c) => c.enableJsonFlag !== false && !existsSync(schemaFileOf(c.id))).map((c) => c.id)
    expect(missing).toEqual([])
  })

  it('the error envelope schema accepts what BaseCommand prints and refuses a renamed field', () => {
    expect(schemaErrors('error', {error: {code: 'USAGE', message: 'missing argument ID', hint: 'usage: danube job show ID', exitCode: 2}})).toEqual([])
    expect(schemaErrors('error', {error: {code: 'USAGE', msg: 'missing argument ID', exitCode: 2}})).not.toEqual([])
  })

  it('the committed command snapshot has nothing that the commands lost or changed', () => {
    const committed = JSON.parse(readFileSync(SNAPSHOT_FILE, 'utf8')) as Snapshot
    expect(breakingChanges(committed, currentSnapshot() as Snapshot)).toEqual([])
  })

  it('the snapshot check fails on a renamed flag, a removed --json field or a changed type, and accepts additions', () => {
    const committed = currentSnapshot() as Snapshot
    const clone = () => JSON.parse(JSON.stringify(committed)) as Snapshot
    const renamed = clone()
    const list = renamed.find((c) => c.command === 'job:list')!
    list.flags.find((f) => f.name === 'limit')!.name = 'max'
    expect(breakingChanges(committed, renamed)).toContain('job list: flag --limit was removed or renamed')
    const fieldless = clone()
    const status = fieldless.find((c) => c.command === 'status')!
    status.fields = status.fields!.filter((f) => f !== 'agent.state')
    expect(breakingChanges(committed, fieldless)).toEqual(['status: --json field agent.state was removed or renamed'])
    const retyped = clone()
    retyped.find((c) => c.command === 'job:list')!.flags.find((f) => f.name === 'limit')!.type = 'boolean'
    expect(breakingChanges(committed, retyped)).toEqual(['job list: flag --limit changed type from option to boolean'])
    const added = clone()
    added.find((c) => c.command === 'status')!.flags.push({name: 'watch', type: 'boolean'})
    added.find((c) => c.command === 'status')!.fields!.push('agent.hostname')
    added.push({command: 'example:added', flags: [], args: [], json: true, fields: []})
    expect(breakingChanges(committed, added)).toEqual([])
  })
})
