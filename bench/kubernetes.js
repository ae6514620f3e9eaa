// Issue 3's figures for the kubernetes executor, against the Kubernetes test API server in this process (which plays
// the kubelet) and a real agent from the built CLI:
//   - latency from a Job's pod reaching Succeeded on the server (after the agent copied /outputs and released the
//     final container) to the Danube job being `succeeded` in SQLite;
//   - Kubernetes API calls per job (counted by the server), and calls while idle (none: no polling).
// The test server is TypeScript, so this script needs tsx's loader: `node --import tsx bench/kubernetes.js`
// (bench/run.js adds the flag for it; `npm run bench -- kubernetes` runs only this one).
import {createRequire} from 'node:module'
import path from 'node:path'

import {KubeApiServer} from '../test/support/kube-api-server.ts'
import {fillOutputs, released} from '../test/support/kube-outputs.ts'
import {report, startAgent, stateDir} from './support.js'

const Database = createRequire(import.meta.url)('better-sqlite3')
const JOBS = 30
const NS = 'bench'

const server = new KubeApiServer()
await server.start()
const kubeconfig = server.writeKubeconfig()
const dir = stateDir()
const agent = await startAgent(dir, {
  DANUBE_KUBERNETES_ENABLED: 'true',
  KUBECONFIG: kubeconfig,
  DANUBE_JOBS_EXECUTOR: 'kubernetes',
  DANUBE_KUBERNETES_JOB_NAMESPACE: NS,
  DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '0',
})
const db = new Database(path.join(dir, 'danube.db'), {readonly: true, fileMustExist: true})
const stateOf = db.prepare('SELECT state FROM jobs WHERE id = ?').pluck()

async function until(predicate, what, intervalMs = 1) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const value = predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Runs one two-step job to success; returns ms from succeedPod to `succeeded` in SQLite and the API calls it made. */
async function oneJob() {
  server.clearRequests()
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'bench', steps: [{run: 'make'}, {run: 'make test'}]})})
  const {id} = await response.json()
  const name = `danube-${id}`
  const pod = await until(() => server.jobPods(NS, name).length > 0 && server.jobPodName(NS, name), 'pod')
  for (const step of ['step-1', 'step-2']) {
    server.runInitContainer(pod, step)
    server.appendLog(pod, step, `${step} done\n`)
    server.finishInitContainer(pod, step, 0)
  }
  fillOutputs(server, pod, {'result.txt': 'ok\n'})
  server.startPod(pod)
  // The agent copies /outputs (pods/exec) and releases the final container; the figure is the reaction to Succeeded.
  await released(server, pod)
  const started = performance.now()
  server.succeedPod(pod)
  await until(() => stateOf.get(id) === 'succeeded', 'job succeeded in SQLite', 0.5)
  const ms = performance.now() - started
  const calls = server.requests().filter((request) => !request.watch)
  return {ms, calls}
}

try {
  await oneJob()
  const latencies = []
  const perJob = []
  for (let i = 0; i < JOBS; i++) {
    const {ms, calls} = await oneJob()
    latencies.push(ms)
    perJob.push(calls)
  }
  latencies.sort((a, b) => a - b)
  report({
    figure: 'pod Succeeded -> job succeeded in SQLite (kubernetes executor)',
    medianMs: round(latencies[Math.floor(JOBS / 2)]),
    p95Ms: round(latencies[Math.floor(JOBS * 0.95)]),
    maxMs: round(latencies.at(-1)),
    jobs: JOBS,
    target: '< 200 ms',
  })
  const breakdown = {}
  for (const calls of perJob) for (const call of calls) {
    const key = `${call.method} ${call.path.replace(/danube-[0-9a-f-]{36}(-[a-z0-9]{5})?/, '<job>')}`
    breakdown[key] = (breakdown[key] ?? 0) + 1 / JOBS
  }
  for (const key of Object.keys(breakdown)) breakdown[key] = round(breakdown[key])
  report({figure: 'Kubernetes API calls per job (2 steps, outputs)', calls: round(perJob.reduce((sum, calls) => sum + calls.length, 0) / JOBS), breakdown})

  server.clearRequests()
  await new Promise((resolve) => setTimeout(resolve, 5000))
  report({figure: 'Kubernetes API calls while idle for 5 s (no polling)', calls: server.countRequests(), openWatches: server.openWatches})
} finally {
  db.close()
  await agent.stop()
  await server.stop()
}

function round(value) {
  return Math.round(value * 10) / 10
}
