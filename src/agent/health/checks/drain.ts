// drain:state (degrading): pass while active, warn while draining or drained. An operator drain is not an
// outage: readiness stays 200 and the drain shows as a warning. It never fails.

import type {Store} from '../../../lib/store/index.js'
import type {HealthCheck} from '../types.js'

interface DrainSnapshot {
  state: string
  requestedAt: string | null
  deadlineAt: string | null
}

/**
 * The one read of the drain-state row this check makes. When src/lib/store/drain.ts lands, this becomes
 * `readDrainState(store)`; until then it reads the columns migration 1 defines.
 */
export function readDrainSnapshot(store: Store): DrainSnapshot {
  const row = store.get<{state: string; requested_at: string | null; deadline_at: string | null}>('SELECT state, requested_at, deadline_at FROM drain_state WHERE id = 1')
  return {state: row?.state ?? 'active', requestedAt: row?.requested_at ?? null, deadlineAt: row?.deadline_at ?? null}
}

export function drainCheck(store: () => Store): HealthCheck {
  return {
    key: 'drain:state',
    componentType: 'component',
    importance: 'degrading',
    observedUnit: 'state',
    run: async () => {
      const drain = readDrainSnapshot(store())
      if (drain.state === 'active') return {status: 'pass', observedValue: 'active', observedUnit: 'state', output: 'admitting jobs'}
      const since = drain.requestedAt ? ` since ${drain.requestedAt}` : ''
      const deadline = drain.deadlineAt ? `, deadline ${drain.deadlineAt}` : ''
      const what = drain.state === 'draining' ? 'draining: not admitting new jobs, running jobs finish' : 'drained: not admitting new jobs'
      return {status: 'warn', observedValue: drain.state, observedUnit: 'state', output: `${what}${since}${deadline}`}
    },
  }
}
