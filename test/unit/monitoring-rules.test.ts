// install/monitoring with the real promtool: the rules load, their unit tests (every alert firing and not firing)
// pass, and the dashboard's queries name only metrics the agent exports.

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../support/agent-process.js'
import {runTool} from '../support/telemetry.js'

const MONITORING = path.join(REPO_ROOT, 'install/monitoring')

describe('install/monitoring', () => {
  it('passes promtool check rules', async () => {
    const result = await runTool('promtool', ['check', 'rules', path.join(MONITORING, 'danube-rules.yml')])
    expect(result.stdout + result.stderr).toContain('SUCCESS: 9 rules found')
    expect(result.code).toBe(0)
  })

  it('passes promtool test rules: every alert fires where it must and nowhere else', async () => {
    const tests = readFileSync(path.join(MONITORING, 'danube-rules.test.yml'), 'utf8')
    const rules = readFileSync(path.join(MONITORING, 'danube-rules.yml'), 'utf8')
    for (const alert of rules.matchAll(/- alert: (\w+)/g)) expect(tests, alert[1]).toContain(`alertname: ${alert[1]}`)
    const result = await runTool('promtool', ['test', 'rules', path.join(MONITORING, 'danube-rules.test.yml')])
    expect(result.stdout + result.stderr).toContain('SUCCESS')
    expect(result.code).toBe(0)
  })

  it('has a dashboard whose every query names metrics the agent exports', () => {
    const dashboard = JSON.parse(readFileSync(path.join(MONITORING, 'danube-dashboard.json'), 'utf8')) as {panels: Array<{targets: Array<{expr: string}>}>}
    const docs = readFileSync(path.join(REPO_ROOT, 'docs/operations.md'), 'utf8')
    const names = dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => [...target.expr.matchAll(/\b([a-z_:]+)\{/g)].map((m) => m[1]!)))
    expect(names.length).toBeGreaterThan(15)
    for (const name of new Set(names)) {
      const base = name.replace(/_(bucket|count|sum)$/, '')
      expect(name === 'up' || name.startsWith('danube:') || docs.includes(`\`${base}`), name).toBe(true)
    }
  })
})
