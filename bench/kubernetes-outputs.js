// Issue 13's figures: a Kubernetes job's outputs copied home through pods/exec, against the Kubernetes test API
// server in this process (its kubelet runs the real `tar` in a bubblewrap view of the pod's volumes) and a real
// agent from the built CLI:
//   - throughput of a 200 MiB copy (100 files of 2 MiB, random), from the final container starting to the agent's
//     release of it (exec, tar through tee/sha256sum/wc in the container, WebSocket frames over TLS, tar-stream,
//     hashing, staged writes, checks, commit), beside `tar -cf - . | tar -xf -` of the same files on this machine in
//     the same run (the local limit);
//   - the agent's resident memory during the copy, sampled every 10 ms from /proc, above its idle figure just before.
// Runs RUNS copies and RUNS local pipes, alternating; reports medians. Needs tsx's loader (bench/run.js adds it).
import {execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {KubeApiServer} from '../test/support/kube-api-server.ts'
import {outputsDir, released} from '../test/support/kube-outputs.ts'
import {median, report, rssKiB, startAgent, stateDir} from './support.js'

const RUNS = 3
const FILES = 100
const FILE_BYTES = 2 << 20
const MIB = FILES * FILE_BYTES / 2 ** 20
const NS = 'bench-outputs'

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
const source = mkdtempSync(path.join(tmpdir(), 'danube-bench-outputs-'))
for (let i = 0; i < FILES; i++) writeFileSync(path.join(source, `part ${i}.bin`), randomBytes(FILE_BYTES))

const rss = (pid) => rssKiB(pid) * 1024

async function until(predicate, what) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const value = await predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** One job whose /outputs hold the source files; returns the copy's seconds and the agent's RSS figures. */
async function copyOnce() {
  const {id} = await agent.trigger({name: 'outputs', steps: [{run: 'make'}]})
  const name = `danube-${id}`
  const pod = await until(() => server.jobPods(NS, name).length > 0 && server.jobPodName(NS, name), 'pod')
  server.runInitContainer(pod, 'step-1')
  server.finishInitContainer(pod, 'step-1', 0)
  execFileSync('cp', ['-r', `${source}/.`, outputsDir(server, pod)])
  await until(async () => (await (await agent.api(`/api/v1/jobs/${id}`)).json()).steps[0].state === 'succeeded', 'step recorded')
  // Let the step's events settle so that the idle figure is the agent at rest.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const idle = rss(agent.child.pid)
  let peak = idle
  const sampler = setInterval(() => (peak = Math.max(peak, rss(agent.child.pid))), 10)
  const started = performance.now()
  server.startPod(pod)
  await released(server, pod)
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  server.succeedPod(pod)
  await until(async () => (await (await agent.api(`/api/v1/jobs/${id}`)).json()).state === 'succeeded', 'job succeeded')
  rmSync(path.join(dir, 'artifacts', id), {recursive: true, force: true})
  return {seconds, idle, peak}
}

/** `tar -cf - . | tar -xf -` of the same files into a fresh directory: what this machine's disk and CPU allow. */
function localPipe() {
  const target = mkdtempSync(path.join(tmpdir(), 'danube-bench-untar-'))
  const started = performance.now()
  const result = spawnSync('sh', ['-c', `tar -C "${source}" -cf - . | tar -C "${target}" -xf -`])
  const seconds = (performance.now() - started) / 1000
  rmSync(target, {recursive: true, force: true})
  if (result.status !== 0) throw new Error(`local tar pipe failed: ${result.stderr}`)
  return seconds
}

try {
  const copies = []
  const pipes = []
  for (let run = 0; run < RUNS; run++) {
    copies.push(await copyOnce())
    pipes.push(localPipe())
  }
  const copySeconds = median(copies.map((copy) => copy.seconds))
  const pipeSeconds = median(pipes)
  report({
    figure: `outputs copy through pods/exec, ${MIB} MiB in ${FILES} files (kubernetes executor)`,
    mibPerSecond: round(MIB / copySeconds),
    localTarPipeMibPerSecond: round(MIB / pipeSeconds),
    ratioToLocal: round(pipeSeconds / copySeconds),
    runs: RUNS,
  })
  const above = copies.map((copy) => (copy.peak - copy.idle) / 2 ** 20)
  report({
    figure: `agent resident memory during a ${MIB} MiB outputs copy`,
    idleMiB: round(median(copies.map((copy) => copy.idle / 2 ** 20))),
    peakAboveIdleMiB: round(median(above)),
    maxAboveIdleMiB: round(Math.max(...above)),
    target: '< 50 MiB above idle',
  })
} finally {
  await agent.stop()
  await server.stop()
  rmSync(source, {recursive: true, force: true})
  rmSync(dir, {recursive: true, force: true})
}

function round(value) {
  return Math.round(value * 10) / 10
}

