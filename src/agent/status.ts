// Owns `danube status`: what an operator needs at a glance, read from SQLite so it works while the
// agent is down (agent liveness judged by heartbeat age).

import {existsSync} from 'node:fs'
import path from 'node:path'

import type {Clock} from '../lib/clock.js'
import type {DanubeConfig} from '../lib/config/index.js'
import type {JobState} from '../lib/jobs/model.js'
import {AgentRowStore, type AgentSandbox, agentIsRunning} from '../lib/store/agent-row.js'
import {type DrainOutcome, DrainStore, type DrainStateName} from '../lib/store/drain.js'
import {DATABASE_FILE, Store} from '../lib/store/index.js'
import {JobStore} from '../lib/store/jobs.js'
import {type KubeOrphan, KubeOrphanStore} from '../lib/store/kube-orphans.js'

export interface DrainStatus {
  state: DrainStateName
  /** When the drain was requested (null while active). */
  since: string | null
  /** When the drain row last changed: for drained, when the last job was gone. */
  updatedAt: string
  requestedBy: string | null
  message: string | null
  deadlineAt: string | null
  force: boolean
  gracePeriodSeconds: number | null
  running: number
  queued: number
  deferred: number
  lastDrain: {startedAt: string; endedAt: string | null; outcome: DrainOutcome | null; requestedBy: string | null; jobsKilled: string[]} | null
}

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
  drain: DrainStatus
  jobs: Record<JobState, number>
  executor: string
  /**
   * How the running agent isolates local job steps (mode bubblewrap or none, with why and the fix when none);
   * null while the agent is down or for the Kubernetes executor. `sandboxSetting` is jobs.local.sandbox.
   */
  sandbox: AgentSandbox | null
  sandboxSetting: string
  stateDir: string
  /** Kubernetes Jobs labelled as Danube's without a job row, as the agent last saw them (never deleted by Danube). */
  orphans: KubeOrphan[]
}

export function collectStatus(config: DanubeConfig, clock: Clock): AgentStatus {
  const empty: AgentStatus = {
    agent: {state: 'down', pid: null, version: null, httpAddr: null, grpcAddr: null, startedAt: null, uptimeSeconds: null, heartbeatAt: null, heartbeatAgeSeconds: null},
    drain: {state: 'active', since: null, updatedAt: '', requestedBy: null, message: null, deadlineAt: null, force: false, gracePeriodSeconds: null, running: 0, queued: 0, deferred: 0, lastDrain: null},
    jobs: {queued: 0, deferred: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0},
    executor: config.jobs.executor,
    sandbox: null,
    sandboxSetting: config.jobs.local.sandbox,
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
    const drains = new DrainStore(store, clock)
    const drain = drains.read()
    const last = drains.last()
    const jobs = new JobStore(store, clock).countByState()
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
      drain: {
        state: drain.state,
        since: drain.requestedAt,
        updatedAt: drain.updatedAt,
        requestedBy: drain.requestedBy,
        message: drain.message,
        deadlineAt: drain.deadlineAt,
        force: drain.force,
        gracePeriodSeconds: drain.gracePeriodMs === null ? null : drain.gracePeriodMs / 1000,
        running: jobs.running,
        queued: jobs.queued,
        deferred: jobs.deferred,
        lastDrain: last ? {startedAt: last.startedAt, endedAt: last.endedAt, outcome: last.outcome, requestedBy: last.requestedBy, jobsKilled: last.jobsKilled} : null,
      },
      jobs,
      executor: running && row ? row.executor : config.jobs.executor,
      sandbox: running && row ? row.sandbox : null,
      orphans: new KubeOrphanStore(store, clock).list(),
    }
  } finally {
    store.close()
  }
}
