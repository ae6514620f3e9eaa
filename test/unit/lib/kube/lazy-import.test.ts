// @kubernetes/client-node costs ~0.4 s to load, so commands that never touch Kubernetes must not load it:
// src/lib/kube/index.ts and what it imports statically may only `import type` from it; ./client.js (which loads the
// client) may only be reached through a dynamic import().

import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {staticImportGraph, valueImports} from '../../../support/imports.js'

const dir = path.resolve(import.meta.dirname, '../../../../src/lib/kube')

describe('lazy loading of @kubernetes/client-node', () => {
  it('the static import graph of src/lib/kube/index.ts does not contain the client', () => {
    const graph = staticImportGraph(path.join(dir, 'index.ts'))
    expect([...graph].filter((entry) => entry.includes('@kubernetes/client-node') || entry.endsWith('client.ts'))).toEqual([])
    expect(graph.has(path.join(dir, 'errors.ts'))).toBe(true)
  })

  it('only client.ts imports @kubernetes/client-node as a value, and index.ts reaches it through import()', () => {
    const loaders = readdirSync(dir).filter((file) => file.endsWith('.ts') && valueImports(readFileSync(path.join(dir, file), 'utf8')).includes('@kubernetes/client-node'))
    expect(loaders).toEqual(['client.ts'])
    expect(readFileSync(path.join(dir, 'index.ts'), 'utf8')).toMatch(/await import\('\.\/client\.js'\)/)
  })

  it('the scanner sees a value import when there is one', () => {
    expect(valueImports("import {KubeConfig} from '@kubernetes/client-node'")).toEqual(['@kubernetes/client-node'])
    expect(valueImports("import type {V1Job} from '@kubernetes/client-node'")).toEqual([])
    expect(valueImports("import {type V1Job, KubeConfig} from '@kubernetes/client-node'")).toEqual(['@kubernetes/client-node'])
  })
})
