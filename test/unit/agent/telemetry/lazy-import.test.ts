// Only `danube agent` loads OpenTelemetry, and only through import() after the loader hook is registered: no command
// and no agent module reaches an @opentelemetry module through static imports, except the SDK module itself.

import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {staticImportGraph, valueImports} from '../../../support/imports.js'

const src = path.resolve(import.meta.dirname, '../../../../src')
const otel = (entry: string) => entry.startsWith('@opentelemetry/') || entry.endsWith(`telemetry${path.sep}sdk.ts`)

describe('lazy loading of OpenTelemetry', () => {
  it('no command and not the agent composition root reach it through static imports', () => {
    const roots = [path.join(src, 'agent/agent.ts'), ...readdirSync(path.join(src, 'commands'), {recursive: true, encoding: 'utf8'})
      .filter((file) => file.endsWith('.ts')).map((file) => path.join(src, 'commands', file))]
    expect(roots.length).toBeGreaterThan(5)
    for (const root of roots) expect([...staticImportGraph(root)].filter(otel), root).toEqual([])
  })

  it('load.ts registers the hook before it imports the SDK, and the agent command loads telemetry before the agent', () => {
    const load = readFileSync(path.join(src, 'agent/telemetry/load.ts'), 'utf8')
    expect(valueImports(load).filter((specifier) => specifier.startsWith('@opentelemetry/'))).toEqual([])
    expect(load.indexOf("register('@opentelemetry/instrumentation/hook.mjs'")).toBeGreaterThan(0)
    expect(load.indexOf("register('@opentelemetry/instrumentation/hook.mjs'")).toBeLessThan(load.indexOf("await import('./sdk.js')"))
    const command = readFileSync(path.join(src, 'commands/agent.ts'), 'utf8')
    expect(command.indexOf("await import('../agent/telemetry/load.js')")).toBeGreaterThan(0)
    expect(command.indexOf("await import('../agent/telemetry/load.js')")).toBeLessThan(command.indexOf("await import('../agent/agent.js')"))
  })

  it('the scanner does see OpenTelemetry where it is: the checks above are not vacuous', () => {
    expect([...staticImportGraph(path.join(src, 'agent/telemetry/sdk.ts'))].filter(otel)).toContain('@opentelemetry/sdk-metrics')
  })
})
