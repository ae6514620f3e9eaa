// Owns `danube status`: what an operator needs at a glance, read from SQLite so it works while the
// agent is down (agent liveness judged by heartbeat age).

import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Clock} from '../lib/clock.js'
import type {DanubeConfig} from '../lib/config/index.js'
import type {JobState} from '../lib/jobs/model.js'
import {AgentRowStore, agentIsRunning} from '../lib/store/agent-row.js'
import {DATABASE_FILE, Store} from '../lib/store/index.js'
import {JobStore} from '../lib/store/jobs.js'
import {type KubeOrphan, KubeOrphanStore} from '../lib/store/kube-orphans.js'

export interface AgentStatus {
  agent: {
    state: 'running' | 'down'
    pid: number | null
    version: string | null
    httpAddr: string | null
    grpcAddr: string | null
    startedAt: string | null
    uptimeSeconds: number | null
    heartbeatAt: string | null
    heartbeatAgeSeconds: number | null
  }
  drain: {state: string}
  jobs: Record<JobState, number>
  executor: string
  stateDir: string
  /** Kubernetes Jobs labelled as Danube's without a job row, as the agent last saw them (never deleted by Danube). */
  orphans: KubeOrphan[]
}

export function collectStatus(config: DanubeConfig, clock: Clock): AgentStatus {
  const empty: AgentStatus = {
    agent: {state: 'down', pid: null, version: null, httpAddr: null, grpcAddr: null, startedAt: null, uptimeSeconds: null, heartbeatAt: null, heartbeatAgeSeconds: null},
    drain: {state: 'active'},
    jobs: {queued: 0, deferred: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0},
    executor: config.jobs.executor,
    stateDir: config.stateDir,
    orphans: [],
  }
  // No database yet: the agent has never run here. That is a status, not an error.
  if (!existsSync(path.join(config.stateDir, DATABASE_FILE))) return empty
  const store = Store.openInStateDir(config.stateDir)
  try {
    const now = clock.now()
    const row = new AgentRowStore(store, clock).read()
    const running = agentIsRunning(row, now)
    const drain = store.get<{state: string}>('SELECT state FROM drain_state WHERE id = 1')
    return {
      ...empty,
      agent: {
        state: running ? 'running' : 'down',
        pid: row?.pid ?? null,
        version: row?.version ?? null,
        httpAddr: row?.httpAddr ?? null,
        grpcAddr: row?.grpcAddr ?? null,
        startedAt: row?.startedAt ?? null,
        uptimeSeconds: running && row ? Math.round((now.getTime() - Date.parse(row.startedAt)) / 1000) : null,
        heartbeatAt: row?.heartbeatAt ?? null,
        heartbeatAgeSeconds: row ? Math.round((now.getTime() - Date.parse(row.heartbeatAt)) / 100) / 10 : null,
      },
      drain: {state: drain?.state ?? 'active'},
      jobs: new JobStore(store, clock).countByState(),
      executor: running && row ? row.executor : config.jobs.executor,
      orphans: new KubeOrphanStore(store, clock).list(),
    }
  } finally {
    store.close()
  }
}
