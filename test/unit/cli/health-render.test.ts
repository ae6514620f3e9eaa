// How `danube health` prints the drain: each word once, whatever the state.

import {describe, expect, it} from 'vitest'

import {drainCheck} from '../../../src/agent/health/checks/drain.js'
import type {HealthDocument} from '../../../src/agent/health/types.js'
import {renderHealth} from '../../../src/cli/health-render.js'
import {DrainStore} from '../../../src/lib/store/drain.js'
import {Store} from '../../../src/lib/store/index.js'
import {tempDir} from '../../support/temp.js'

const clock = {now: () => new Date('2026-11-27T08:00:00.000Z')}

async function drainLine(setUp: (drains: DrainStore) => void): Promise<string> {
  const dir = tempDir('danube-render-')
  const store = Store.openInStateDir(dir, {create: true})
  try {
    setUp(new DrainStore(store, clock))
    const outcome = await drainCheck(() => store).run(new AbortController().signal)
    const document: HealthDocument = {status: outcome.status, version: 'x', releaseId: 'x', serviceId: 'x', description: 'x', time: clock.now().toISOString(),
      checks: {'drain:state': [{componentType: 'component', time: clock.now().toISOString(), ...outcome}]}}
    return renderHealth(document, outcome.status === 'pass' ? 0 : 1, {source: 'agent', agentAddr: '127.0.0.1:1'}).split('\n')[1]!
  } finally {
    store.close()
  }
}

describe('drain:state in danube health', () => {
  it.each([
    ['not draining', () => {}, '[OK] drain:state active: not draining; admitting jobs'],
    ['draining', (d: DrainStore) => d.request({timeoutMs: 60_000, force: false, gracePeriodMs: null, message: null, requestedBy: 'op'}), '[WARNING] drain:state draining: not admitting new jobs; running jobs finish since 2026-11-27T08:00:00.000Z, deadline 2026-11-27T08:01:00.000Z'],
    ['drained', (d: DrainStore) => d.complete(d.request({timeoutMs: 60_000, force: false, gracePeriodMs: null, message: null, requestedBy: 'op'}).drain.historyId!), '[WARNING] drain:state drained: not admitting new jobs; no job is running since 2026-11-27T08:00:00.000Z, deadline 2026-11-27T08:01:00.000Z'],
  ])('%s: the state once, then what it means', async (_name, setUp, expected) => {
    const line = await drainLine(setUp)
    expect(line).toBe(expected)
    expect(line).not.toMatch(/\b(\w+): \1\b/)
  })
})
