// The import rules of the guide: no import cycles in src/ (value imports, static or lazy; `import type`
// is erased and loads nothing), one formatDuration per rendering.
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import * as engine from '../../src/agent/health/engine.js'
import {formatDuration, formatDurationExact, parseDuration} from '../../src/lib/duration.js'
import {REPO_ROOT} from '../support/agent-process.js'
import {valueImports} from '../support/imports.js'

function graph(): Map<string, string[]> {
  const src = path.join(REPO_ROOT, 'src')
  const files = readdirSync(src, {recursive: true, withFileTypes: true}).filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name))
  const edges = new Map<string, string[]>()
  for (const file of files) {
    const source = readFileSync(file, 'utf8')
    const lazy = [...source.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1]!)
    const targets = [...valueImports(source), ...lazy].filter((s) => s.startsWith('.')).map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts'))
    edges.set(path.relative(REPO_ROOT, file), targets.map((t) => path.relative(REPO_ROOT, t)))
  }
  return edges
}

function cycles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (node: string) => {
    if (state.get(node) === 'done') return
    if (state.get(node) === 'open') {
      found.push([...stack.slice(stack.indexOf(node)), node])
      return
    }
    state.set(node, 'open')
    stack.push(node)
    for (const next of edges.get(node) ?? []) visit(next)
    stack.pop()
    state.set(node, 'done')
  }
  for (const node of edges.keys()) visit(node)
  return found
}

describe('structure', () => {
  it('src/ has no import cycles (src/lib/kube/client.ts and index.ts included)', () => {
    const edges = graph()
    expect(edges.get('src/lib/kube/client.ts')).not.toContain('src/lib/kube/index.ts')
    expect(cycles(edges)).toEqual([])
  })

  it('has one formatDuration, and formatDurationExact for settings: each named for what it renders', () => {
    expect(Object.keys(engine)).not.toContain('formatDuration')
    expect(formatDuration(1500)).toBe('2s')
    expect(formatDuration(5_400_000)).toBe('1h30m')
    expect([1500, 2000, 250, 5_400_000, 90_500, 0].map(formatDurationExact)).toEqual(['1500ms', '2s', '250ms', '1h30m', '1m30s500ms', '0s'])
    for (const ms of [1500, 2000, 90_500, 3_605_000, 1]) expect(parseDuration(formatDurationExact(ms))).toBe(ms)
  })
})
