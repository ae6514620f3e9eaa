// Issue 8's figures: what the OpenTelemetry SDK costs the agent (telemetry on vs OTEL_SDK_DISABLED=true, measured
// alternately in one run): /health/ready requests per second, admission throughput, start time, idle memory;
// and the time of a /metrics scrape with 100,000 finished jobs in the database.
import http from 'node:http'
import {createRequire} from 'node:module'
import {readFileSync, rmSync} from 'node:fs'
import path from 'node:path'

import {ROOT, measureAdmission, report, startAgent, stateDir} from './support.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const modes = {on: {}, off: {OTEL_SDK_DISABLED: 'true'}}
const results = {on: [], off: []}

for (let round = 0; round < ROUNDS; round++) {
  for (const [mode, env] of Object.entries(modes)) {
    const dir = stateDir()
    const started = performance.now()
    const agent = await startAgent(dir, {DANUBE_JOBS_MAX_CONCURRENT: '1', ...env})
    const startMs = performance.now() - started
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const idleMiB = rssKiB(agent.child.pid) / 1024
      let cpu = cpuMs(agent.child.pid)
      const ready = await measureReady(agent.httpAddr, {seconds: 5, clients: 16})
      const readyCpuMs = (cpuMs(agent.child.pid) - cpu) / ready.count
      await agent.trigger({name: 'holder', steps: [{run: 'sleep 300'}]})
      cpu = cpuMs(agent.child.pid)
      const admission = await measureAdmission(agent, {total: 2000, clients: 16})
      const admissionCpuMs = (cpuMs(agent.child.pid) - cpu) / 2000
      results[mode].push({
        startMs, idleMiB, readyPerSecond: ready.perSecond, readyFailed: ready.failed, readyCpuMs,
        admission: admission.jobsPerSecond, admissionFailed: admission.failed, admissionCpuMs,
      })
    } finally {
      await agent.stop()
      rmSync(dir, {recursive: true, force: true})
    }
  }
}

const mean = (mode, key) => results[mode].reduce((sum, r) => sum + r[key], 0) / results[mode].length
for (const [key, label] of [
  ['readyPerSecond', '/health/ready requests per second (16 clients, 5 s)'],
  ['readyCpuMs', 'agent CPU time per /health/ready request (ms)'],
  ['admissionCpuMs', 'agent CPU time per admission (ms)'],
  ['admission', 'admission throughput (POST /api/v1/jobs, 16 clients, 2,000 jobs)'],
  ['startMs', 'agent start time (spawn to "agent started")'],
  ['idleMiB', 'agent idle resident memory (2 s after start)'],
]) {
  const on = mean('on', key)
  const off = mean('off', key)
  report({figure: label, telemetryOn: round(on), sdkDisabled: round(off), change: `${round(((on - off) / off) * 100)}%`, rounds: ROUNDS})
}
report({figure: 'failed requests', ready: results.on.concat(results.off).reduce((s, r) => s + r.readyFailed, 0), admission: results.on.concat(results.off).reduce((s, r) => s + r.admissionFailed, 0)})

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
  return {perSecond: done / ((performance.now() - started) / 1000), failed, count: done}
}

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat; clock ticks of 10 ms). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function rssKiB(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? 0)
}

function round(n) {
  return Math.round(n * 100) / 100
}
