// Issue 8's figures: what the OpenTelemetry SDK costs the agent, telemetry on (the default: no OTLP endpoint) and
// with traces exported over OTLP/HTTP to a loopback receiver, each against OTEL_SDK_DISABLED=true: /health/ready
// requests per second, admission throughput and the agent's CPU time per request, start time, idle memory; and the
// time of a /metrics scrape with 100,000 finished jobs in the database.
//
// Method: INSTANCES agents per mode run at once, and each figure is measured in short bursts that take the agents in
// turn (order reversed every other burst), so that the drift of a shared machine (other processes, CPU frequency)
// falls on every mode alike; measured one agent after another, the same build differed by ±15% between runs.
import http from 'node:http'
import {createRequire} from 'node:module'
import {rmSync} from 'node:fs'
import path from 'node:path'

import {ROOT, cpuMs, measureAdmission, report, rssKiB, startAgent, stateDir} from './support.js'

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2)
const BURSTS = Number(process.env.BENCH_BURSTS ?? 30)
const ADMISSIONS_PER_BURST = 250
const READY_BURST_SECONDS = 0.5

// Takes OTLP/HTTP exports and answers 200, as a collector that keeps up would.
const receiver = http.createServer((req, res) => {
  let bytes = 0
  req.on('data', (chunk) => (bytes += chunk.length))
  req.on('end', () => {
    receiver.received += bytes
    res.writeHead(200, {'Content-Type': 'application/json'})
    res.end('{}')
  })
})
receiver.received = 0
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))

const modes = {
  on: {},
  otlp: {OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.address().port}`, OTEL_BSP_SCHEDULE_DELAY: '1000'},
  off: {OTEL_SDK_DISABLED: 'true'},
}
const agents = []
try {
  for (let i = 0; i < INSTANCES; i++) {
    for (const [mode, env] of Object.entries(modes)) {
      const dir = stateDir()
      const started = performance.now()
      const agent = await startAgent(dir, {DANUBE_JOBS_MAX_CONCURRENT: '1', ...env})
      agents.push({mode, dir, agent, startMs: performance.now() - started, ready: {count: 0, failed: 0, ms: 0, cpu: 0}, admission: {count: 0, failed: 0, ms: 0, cpu: 0}})
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 2000))
  for (const a of agents) a.idleMiB = rssKiB(a.agent.child.pid) / 1024

  const inTurn = async (measure) => {
    for (let burst = 0; burst < BURSTS; burst++) {
      for (const a of burst % 2 ? [...agents].reverse() : agents) await measure(a)
    }
  }
  await inTurn(async (a) => {
    const cpu = cpuMs(a.agent.child.pid)
    const result = await measureReady(a.agent.httpAddr, {seconds: READY_BURST_SECONDS, clients: 16})
    a.ready.cpu += cpuMs(a.agent.child.pid) - cpu
    a.ready.count += result.count
    a.ready.failed += result.failed
    a.ready.ms += result.ms
  })
  // One slot, held by a long job: every admission queues, so what is measured is admission, not execution.
  for (const a of agents) {
    await a.agent.trigger({name: 'holder', steps: [{run: 'sleep 600'}]})
    await measureAdmission(a.agent, {total: 300, clients: 16})
  }
  await inTurn(async (a) => {
    const cpu = cpuMs(a.agent.child.pid)
    const started = performance.now()
    const result = await measureAdmission(a.agent, {total: ADMISSIONS_PER_BURST, clients: 16})
    a.admission.ms += performance.now() - started
    a.admission.cpu += cpuMs(a.agent.child.pid) - cpu
    a.admission.count += ADMISSIONS_PER_BURST
    a.admission.failed += result.failed
  })
} finally {
  for (const a of agents) {
    await a.agent.stop()
    rmSync(a.dir, {recursive: true, force: true})
  }
  receiver.close()
}

const figures = {
  readyPerSecond: (a) => (a.ready.count / a.ready.ms) * 1000,
  readyCpuMs: (a) => a.ready.cpu / a.ready.count,
  admission: (a) => (a.admission.count / a.admission.ms) * 1000,
  admissionCpuMs: (a) => a.admission.cpu / a.admission.count,
  startMs: (a) => a.startMs,
  idleMiB: (a) => a.idleMiB,
}
const mean = (mode, key) => {
  const of = agents.filter((a) => a.mode === mode)
  return of.reduce((sum, a) => sum + figures[key](a), 0) / of.length
}
for (const [key, label] of [
  ['readyPerSecond', '/health/ready requests per second (16 clients)'],
  ['readyCpuMs', 'agent CPU time per /health/ready request (ms)'],
  ['admission', 'admission throughput (POST /api/v1/jobs, 16 clients)'],
  ['admissionCpuMs', 'agent CPU time per admission (ms)'],
  ['startMs', 'agent start time (spawn to "agent started")'],
  ['idleMiB', 'agent idle resident memory (2 s after start)'],
]) {
  const off = mean('off', key)
  const change = (mode) => `${round(((mean(mode, key) - off) / off) * 100)}%`
  const r = key.endsWith('CpuMs') ? (n) => Math.round(n * 1000) / 1000 : round
  report({figure: label, telemetryOn: r(mean('on', key)), otlpExport: r(mean('otlp', key)), sdkDisabled: r(off), changeOn: change('on'), changeOtlp: change('otlp'), instances: INSTANCES, bursts: BURSTS})
}
report({
  figure: 'failed requests',
  ready: agents.reduce((s, a) => s + a.ready.failed, 0),
  admission: agents.reduce((s, a) => s + a.admission.failed, 0),
  otlpBytesReceived: receiver.received,
})

// /metrics with 100,000 finished jobs: the active-run gauge counts rows by state in SQLite at every scrape.
{
  const dir = stateDir()
  let agent = await startAgent(dir)
  await agent.stop()
  fillFinishedJobs(path.join(dir, 'danube.db'), 100_000)
  agent = await startAgent(dir)
  try {
    const times = []
    let bytes = 0
    for (let i = 0; i < 25; i++) {
      const t = performance.now()
      const text = await (await fetch(`http://${agent.httpAddr}/metrics`)).text()
      times.push(performance.now() - t)
      bytes = text.length
    }
    times.sort((a, b) => a - b)
    report({figure: '/metrics scrape with 100,000 finished jobs', medianMs: round(times[12]), maxMs: round(times[24]), bytes, target: '< 50 ms'})
  } finally {
    await agent.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

function fillFinishedJobs(file, count) {
  const Database = createRequire(path.join(ROOT, 'package.json'))('better-sqlite3')
  const db = new Database(file)
  const insert = db.prepare(
    `INSERT INTO jobs (id, name, spec, state, executor, created_at, updated_at) VALUES (?, ?, ?, ?, 'local', ?, ?)`,
  )
  const spec = JSON.stringify({name: 'bench', steps: [{run: 'true'}], timeout: '1h'})
  const now = new Date().toISOString()
  db.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(`bench-${i}`, `pipeline-${i % 50}`, spec, i % 10 === 0 ? 'failed' : 'succeeded', now, now)
  })()
  db.close()
}

/** GET /health/ready from `clients` keep-alive connections for `seconds`. */
async function measureReady(httpAddr, {seconds, clients}) {
  const [host, port] = httpAddr.split(':')
  const agent = new http.Agent({keepAlive: true, maxSockets: clients})
  const get = () =>
    new Promise((resolve, reject) => {
      const request = http.get({host, port, path: '/health/ready', agent}, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode))
      })
      request.on('error', reject)
    })
  let done = 0
  let failed = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({length: clients}, async () => {
      while (performance.now() < deadline) {
        if ((await get()) !== 200) failed++
        done++
      }
    }),
  )
  agent.destroy()
  const ms = performance.now() - started
  return {perSecond: done / (ms / 1000), failed, count: done, ms}
}

function round(n) {
  return Math.round(n * 100) / 100
}
