// Owns the agent row: who is running (pid, version, addresses), since when, and its heartbeat, which
// `danube status` and `danube health` read to judge whether the agent is up while it cannot answer.

import {type Clock, isoNow} from '../clock.js'
import type {Store} from './index.js'

export const HEARTBEAT_INTERVAL_MS = 5000
/** Three missed heartbeats and the agent counts as down. */
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS

export interface AgentRow {
  pid: number
  version: string
  httpAddr: string
  grpcAddr: string
  executor: string
  startedAt: string
  heartbeatAt: string
  stoppedAt: string | null
  /** How the local executor isolates steps (src/agent/executors/sandbox.ts `Isolation`); null for Kubernetes. */
  sandbox: AgentSandbox | null
}

/** The agent row's copy of the executor's Isolation (lib cannot import the agent's type). */
export interface AgentSandbox {
  mode: 'bubblewrap' | 'none'
  setting: string
  network: string
  reason?: string
  fix?: string
}

interface Row {
  pid: number
  version: string
  http_addr: string
  grpc_addr: string
  executor: string
  started_at: string
  heartbeat_at: string
  stopped_at: string | null
  sandbox: string | null
}

export class AgentRowStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  register(agent: Omit<AgentRow, 'startedAt' | 'heartbeatAt' | 'stoppedAt' | 'sandbox'> & {sandbox?: AgentSandbox | null}): void {
    const now = isoNow(this.clock)
    this.store.run(
      `INSERT INTO agent (id, pid, version, http_addr, grpc_addr, executor, started_at, heartbeat_at, stopped_at, sandbox)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
       ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, version = excluded.version, http_addr = excluded.http_addr,
         grpc_addr = excluded.grpc_addr, executor = excluded.executor, started_at = excluded.started_at,
         heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, sandbox = excluded.sandbox`,
      [agent.pid, agent.version, agent.httpAddr, agent.grpcAddr, agent.executor, now, now, agent.sandbox ? JSON.stringify(agent.sandbox) : null],
    )
  }

  heartbeat(pid: number): void {
    this.store.run('UPDATE agent SET heartbeat_at = ? WHERE id = 1 AND pid = ?', [isoNow(this.clock), pid])
  }

  markStopped(pid: number): void {
    this.store.run('UPDATE agent SET stopped_at = ? WHERE id = 1 AND pid = ?', [isoNow(this.clock), pid])
  }

  read(): AgentRow | undefined {
    const row = this.store.get<Row>('SELECT * FROM agent WHERE id = 1')
    if (!row) return undefined
    return {
      pid: row.pid,
      version: row.version,
      httpAddr: row.http_addr,
      grpcAddr: row.grpc_addr,
      executor: row.executor,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      stoppedAt: row.stopped_at,
      sandbox: row.sandbox ? (JSON.parse(row.sandbox) as AgentSandbox) : null,
    }
  }
}

/** Whether the row describes a live agent: not stopped cleanly and its heartbeat is fresh. */
export function agentIsRunning(row: AgentRow | undefined, now: Date): boolean {
  if (!row || row.stoppedAt) return false
  return now.getTime() - Date.parse(row.heartbeatAt) < HEARTBEAT_STALE_MS
}

/** Whether a pid exists (EPERM: it does, owned by another user). A SIGKILLed agent is noticed at once, not after its heartbeat goes stale. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
