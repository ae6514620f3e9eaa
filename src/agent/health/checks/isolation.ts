// executor:isolation (degrading): how the local executor isolates job steps. Pass when steps run in the
// bubblewrap sandbox; warn when they run unsandboxed (jobs.local.sandbox none, or auto without a working
// bubblewrap), naming why and the fix, so an unsandboxed agent is never silent. Omitted for the Kubernetes
// executor. The agent reports what it probed at start; the CLI (agent down) reports what the last agent
// recorded, and warns when none did: it never passes on a mode it has not seen.

import {AgentRowStore, type AgentSandbox} from '../../../lib/store/agent-row.js'
import type {Store} from '../../../lib/store/index.js'
import type {CheckOutcome, HealthCheck} from '../types.js'

export interface IsolationCheckOptions {
  /** The running executor's isolation (the agent); absent: read the agent row (the CLI). */
  isolation?: () => AgentSandbox
  store: () => Store
}

export function isolationCheck(options: IsolationCheckOptions): HealthCheck {
  return {
    key: 'executor:isolation',
    componentType: 'component',
    componentId: 'local',
    importance: 'degrading',
    observedUnit: 'mode',
    run: async () => {
      if (options.isolation) return evaluateIsolation(options.isolation(), '')
      const row = new AgentRowStore(options.store(), {now: () => new Date()}).read()
      if (!row?.sandbox) return {status: 'warn', observedValue: null, observedUnit: 'mode', output: 'unknown: no agent has recorded how it isolates job steps (start the agent)'}
      return evaluateIsolation(row.sandbox, ` (as the agent recorded at ${row.startedAt})`)
    },
  }
}

function evaluateIsolation(isolation: AgentSandbox, recorded: string): CheckOutcome {
  if (isolation.mode === 'bubblewrap') {
    return {status: 'pass', observedValue: 'bubblewrap', observedUnit: 'mode', output: `job steps run in a bubblewrap sandbox, network ${isolation.network}${recorded}`}
  }
  const why = isolation.reason ? `: ${isolation.reason}` : ''
  const fix = isolation.fix ? `; to sandbox them, ${isolation.fix}` : ''
  return {
    status: 'warn',
    observedValue: 'none',
    observedUnit: 'mode',
    output: `job steps run unsandboxed as the agent's own user (jobs.local.sandbox ${isolation.setting})${why}${fix}${recorded}`,
  }
}
