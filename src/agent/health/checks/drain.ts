// drain:state (degrading): pass while active, warn while draining or drained. An operator drain is not an
// outage: readiness stays 200 and the drain shows as a warning. It never fails.

import {readDrainState} from '../../../lib/store/drain.js'
import type {Store} from '../../../lib/store/index.js'
import type {HealthCheck} from '../types.js'

export function drainCheck(store: () => Store): HealthCheck {
  return {
    key: 'drain:state',
    componentType: 'component',
    importance: 'degrading',
    observedUnit: 'state',
    run: async () => {
      const drain = readDrainState(store())
      if (drain.state === 'active') return {status: 'pass', observedValue: 'active', observedUnit: 'state', output: 'not draining; admitting jobs'}
      const since = drain.requestedAt ? ` since ${drain.requestedAt}` : ''
      const deadline = drain.deadlineAt ? `, deadline ${drain.deadlineAt}` : ''
      // The state is the observed value, printed just before this text: not repeated here.
      const what = drain.state === 'draining' ? 'not admitting new jobs; running jobs finish' : 'not admitting new jobs; no job is running'
      return {status: 'warn', observedValue: drain.state, observedUnit: 'state', output: `${what}${since}${deadline}`}
    },
  }
}
