// Issue 4's figures: `danube health --json` start-up against bare node (agent up and down), /health/ready
// throughput with 32 clients and the Kubernetes API calls it caused, worst-case answer time while the
// Kubernetes API server hangs. Needs the build (dist/) and the Kubernetes test API server, run through tsx.
// Usage: node bench/health.js   (prints one JSON line per figure)
import http from 'node:http'
import path from 'node:path'

import {BIN, ROOT, benchEnv, report, startAgent, stateDir, timeCommand} from './support.js'

const {tsImport} = await import('tsx/esm/api')
const {KubeApiServer} = await tsImport(path.join(ROOT, 'test/support/kube-api-server.ts'), import.meta.url)
const {runningPod} = await tsImport(path.join(ROOT, 'test/support/kube/pods.ts'), import.meta.url)

const round = (n) => Math.round(n * 100) / 100

const CACHE_TTL_MS = 5000

const kube = new KubeApiServer()
await kube.start()
kube.createPod('danube-system', runningPod({name: 'dex-1', labels: {'app.kubernetes.io/name': 'dex'}}))
kube.createPod('danube-system', runningPod({name: 'registry-1', labels: {'app.kubernetes.io/name': 'registry'}}))
const dir = stateDir()
const env = benchEnv(dir, {DANUBE_KUBERNETES_ENABLED: 'true', DANUBE_KUBERNETES_KUBECONFIG: kube.writeKubeconfig()})

let nodeMs = 0
const agent = await startAgent(dir, {DANUBE_KUBERNETES_ENABLED: 'true', DANUBE_KUBERNETES_KUBECONFIG: env.DANUBE_KUBERNETES_KUBECONFIG})
try {
  await new Promise((resolve) => setTimeout(resolve, 1500))
  nodeMs = (await timeCommand(['-e', '0'], env)).ms
  const up = await timeCommand([BIN, 'health', '--json'], env)
  const statusMs = (await timeCommand([BIN, 'status', '--json'], env)).ms
  report({figure: 'node -e 0', ms: round(nodeMs)})
  report({figure: 'danube health --json, agent up', ms: round(up.ms), ratioToNode: round(up.ms / nodeMs), exitCode: up.code, target: '<= 3.5x'})
  report({figure: 'danube status --json (same run, for comparison)', ms: round(statusMs), ratioToNode: round(statusMs / nodeMs)})

  // 32 clients with keep-alive for 10 s (two cache intervals) against /health/ready.
  const [host, port] = agent.httpAddr.split(':')
  const keepAlive = new http.Agent({keepAlive: true, maxSockets: 32})
  const get = () =>
    new Promise((resolve, reject) => {
      http.get({host, port, path: '/health/ready', agent: keepAlive}, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode))
      }).on('error', reject)
    })
  kube.clearRequests()
  const durationMs = 10_000
  let requests = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(Array.from({length: 32}, async () => {
    while (performance.now() - started < durationMs) {
      requests++
      if ((await get()) !== 200) failed++
    }
  }))
  const seconds = (performance.now() - started) / 1000
  keepAlive.destroy()
  const intervals = Math.ceil((seconds * 1000) / CACHE_TTL_MS)
  const calls = {readyz: kube.countRequests({path: '/readyz'}), version: kube.countRequests({path: '/version'}), pods: kube.countRequests({path: '/api/v1/namespaces/danube-system/pods'})}
  report({figure: '/health/ready throughput, 32 clients', requestsPerSecond: Math.round(requests / seconds), failed, seconds: round(seconds)})
  report({figure: 'Kubernetes API calls during that run', ...calls, cacheIntervals: intervals, perCheckPerInterval: round(Math.max(calls.readyz + calls.version, calls.pods / 2) / intervals), target: '<= 1 per check per cache interval'})

  // The API server accepts and never answers: every answer must still come within the bound.
  kube.fault({path: /./, hang: true})
  let worst = 0
  const probeStart = performance.now()
  while (performance.now() - probeStart < 12_000) {
    const t = performance.now()
    await fetch(`http://${agent.httpAddr}/health/ready`).then((r) => r.text())
    worst = Math.max(worst, performance.now() - t)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  report({figure: 'worst /health/ready time, Kubernetes hanging (12 s of probes)', ms: round(worst), target: '< 1500 ms'})
  kube.clearFaults()
} finally {
  await agent.stop()
}

// Agent down: the CLI runs the checks itself (loading the Kubernetes client) and reports agent:heartbeat.
const down = await timeCommand([BIN, 'health', '--json'], env, 7)
report({figure: 'danube health --json, agent down (in-process checks, Kubernetes enabled)', ms: round(down.ms), exitCode: down.code})
const downPlain = await timeCommand([BIN, 'health', '--json'], benchEnv(dir), 7)
report({figure: 'danube health --json, agent down, Kubernetes disabled', ms: round(downPlain.ms), ratioToNode: round(downPlain.ms / nodeMs), exitCode: downPlain.code})
await kube.stop()
