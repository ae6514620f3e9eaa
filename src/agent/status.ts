// Owns `danube status`: what an operator needs at a glance, read from SQLite so it works while the
// agent is down (agent liveness judged by heartbeat age).

import {lstatSync, readFileSync} from 'node:fs'

import type {Clock} from '../lib/clock.js'
import type {DanubeConfig} from '../lib/config/index.js'
import type {JobState} from '../lib/jobs/model.js'
import {keyFiles, keyIdOfPem, privateKeyFileProblem} from '../lib/provenance/keys.js'
import {AgentRowStore, type AgentSandbox, agentIsRunning} from '../lib/store/agent-row.js'
import {type DrainOutcome, DrainStore, type DrainStateName} from '../lib/store/drain.js'
import {checkStateDir, readStateIdentity} from '../lib/store/identity.js'
import {Store} from '../lib/store/index.js'
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

export interface ProvenanceStatus {
  /** present: a key the agent will sign with; missing: provenance is skipped (no signing key); unsafe: signing will fail. */
  signingKey: 'present' | 'missing' | 'unsafe'
  keysDir: string
  keyId: string | null
  /** Why the key is missing or unsafe, with the fix. */
  problem: string | null
  signed: number
  skipped: number
  failed: number
  lastFailure: {jobId: string; reason: string | null; finishedAt: string | null} | null
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
  /** The identity of the state directory (the id the agent sends as Danube-State-Id). */
  stateId: string
  /** Kubernetes Jobs labelled as Danube's without a job row, as the agent last saw them (never deleted by Danube). */
  orphans: KubeOrphan[]
  provenance: ProvenanceStatus
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
    stateId: '',
    orphans: [],
    provenance: {...signingKeyStatus(config.keys.dir, config.stateDir), signed: 0, skipped: 0, failed: 0, lastFailure: null},
  }
  // No state directory or no database: nothing here to report on, and saying "down, 0 jobs" would hide that
  // the CLI looks in the wrong place. An error naming the path (exit 1; --json: error.code NO_DATABASE or STATE_DIR_MISSING).
  checkStateDir(config.stateDir)
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
      stateId: readStateIdentity(store).stateId,
      sandbox: running && row ? row.sandbox : null,
      orphans: new KubeOrphanStore(store, clock).list(),
      provenance: {...empty.provenance, ...new JobStore(store, clock).provenanceSummary()},
    }
  } finally {
    store.close()
  }
}

/**
 * The signing key as far as it can be judged without reading it (status may run as another user than the agent):
 * its presence, its mode and owner (checked against the state directory's owner, the agent's user), the public key id.
 */
function signingKeyStatus(keysDir: string, stateDir: string): Pick<ProvenanceStatus, 'signingKey' | 'keysDir' | 'keyId' | 'problem'> {
  const {privateKeyFile, publicKeyFile} = keyFiles(keysDir)
  let stat
  try {
    stat = lstatSync(privateKeyFile)
  } catch {
    return {signingKey: 'missing', keysDir, keyId: null, problem: `no signing key at ${privateKeyFile}: provenance is skipped; create one with \`danube keys generate\``}
  }
  let agentUid: number | undefined
  try {
    agentUid = lstatSync(stateDir).uid
  } catch {
    agentUid = undefined
  }
  const problem = stat.isFile() ? privateKeyFileProblem(privateKeyFile, stat, agentUid) : `${privateKeyFile} is not a regular file`
  return {signingKey: problem ? 'unsafe' : 'present', keysDir, keyId: publicKeyId(publicKeyFile), problem: problem ?? null}
}

function publicKeyId(file: string): string | null {
  try {
    return keyIdOfPem(readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}
