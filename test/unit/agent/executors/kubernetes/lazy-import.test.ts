// The kubernetes executor brings @kubernetes/client-node (~0.4 s to load) and tar-stream: the agent must reach it only
// through import() when jobs.executor is kubernetes, and no command may load it statically.

import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {staticImportGraph} from '../../../../support/imports.js'

const src = path.resolve(import.meta.dirname, '../../../../../src')

const heavy = (entry: string) => entry.includes('@kubernetes/client-node') || entry === 'tar-stream' || entry.includes(`executors${path.sep}kubernetes`)

describe('lazy loading of the kubernetes executor', () => {
  it('the agent and every command reach it only through import()', () => {
    const roots = [path.join(src, 'agent/agent.ts'), ...readdirSync(path.join(src, 'commands'), {recursive: true, encoding: 'utf8'})
      .filter((file) => file.endsWith('.ts')).map((file) => path.join(src, 'commands', file))]
    for (const root of roots) expect([...staticImportGraph(root)].filter(heavy), root).toEqual([])
    expect(readFileSync(path.join(src, 'agent/agent.ts'), 'utf8')).toContain("await import('./executors/kubernetes/index.js')")
    // The scanner does see the heavy modules where they are: the check above is not vacuous.
    expect([...staticImportGraph(path.join(src, 'agent/executors/kubernetes/index.ts'))].filter(heavy)).toContain('tar-stream')
  })
})
