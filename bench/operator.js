// Issue 11's figures, the ones an operator of a CI system cares about: trigger → first step running (p50, p99),
// per-job overhead over `sh -c true`, CLI start-up with and without a config file, and scale: the commands and
// admission with 100,000 finished jobs in the database against an empty one, plus the database size per 1,000 jobs.
// Usage: npm run build && node bench/operator.js   (one JSON line per figure)
import {execFileSync, spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'

import {BIN, ROOT, benchEnv, cpuMs, measureAdmission, median, report, startAgent, stateDir, timeCommand, timeInTurn} from './support.js'

const round = (n) => Math.round(n * 10) / 10
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const cleanup = []

try {
  await latencyFigures()
  await startupFigures()
  await scaleFigures()
} finally {
  for (const dir of cleanup) rmSync(dir, {recursive: true, force: true})
}

/** POST answered → the step's process started, and the whole-job overhead of a one-step `true` job. */
async function latencyFigures() {
  const dir = tracked(stateDir())
  // Outside /tmp: a sandboxed step has a private /tmp, but sees the host's other paths (read-only), FIFOs included.
  mkdirSync(path.join(ROOT, '.bench-tmp'), {recursive: true})
  const fifoDir = tracked(mkdtempSync(path.join(ROOT, '.bench-tmp', 'fifo-')))
  const agent = await startAgent(dir)
  try {
    const starts = []
    const fromSend = []
    for (let i = 0; i < 60; i++) {
      const fifo = path.join(fifoDir, `start-${i}`)
      execFileSync('mkfifo', [fifo])
      // The step opens the FIFO for writing as its first act; opening it for reading returns at that moment.
      const opened = openFifo(fifo)
      const sentAt = performance.now()
      const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'latency', steps: [{run: `echo > ${fifo}`}]})})
      const answeredAt = performance.now()
      await response.json()
      const startedAt = await opened
      if (i >= 10) {
        starts.push(startedAt - answeredAt)
        fromSend.push(startedAt - sentAt)
      }
    }
    starts.sort((a, b) => a - b)
    fromSend.sort((a, b) => a - b)
    // The runner dispatches in the same tick as the insert, so the step often starts before the answer reaches the
    // client (a negative figure); from the request being sent is the latency a triggering system sees.
    report({figure: 'trigger answered → first step running (local executor)', p50Ms: round(percentile(starts, 50)), p99Ms: round(percentile(starts, 99)), jobs: starts.length, target: 'p50 < 20 ms'})
    report({figure: 'trigger sent → first step running (local executor)', p50Ms: round(percentile(fromSend, 50)), p99Ms: round(percentile(fromSend, 99)), jobs: fromSend.length})

    const shTrue = await timeProcess('/bin/sh', ['-c', 'true'])
    const jobs = []
    for (let i = 0; i < 40; i++) {
      const began = performance.now()
      const created = await (await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'overhead', steps: [{run: 'true'}]})})).json()
      // The log stream with ?follow=1 ends when the job does: no polling in the measurement.
      await (await agent.api(`/api/v1/jobs/${created.id}/logs?follow=1`)).text()
      if (i >= 10) jobs.push(performance.now() - began)
    }
    jobs.sort((a, b) => a - b)
    const jobMs = percentile(jobs, 50)
    report({figure: 'one-step `true` job, trigger to finished', medianMs: round(jobMs), shTrueMs: round(shTrue), overheadMs: round(jobMs - shTrue), target: 'overhead < 30 ms'})
  } finally {
    await agent.stop()
  }
}

/** `status --json` start-up against bare node, without and with a config file as every install has. */
async function startupFigures() {
  const dir = tracked(stateDir())
  const config = path.join(dir, 'config.yaml')
  writeFileSync(config, `jobs:\n  maxConcurrent: 2\n`)
  const env = benchEnv(dir)
  const agent = await startAgent(dir)
  try {
    const {nodeMs, bare, withConfig} = await timeInTurn({
      nodeMs: {args: ['-e', '0'], env},
      bare: {args: [BIN, 'status', '--json'], env},
      withConfig: {args: [BIN, 'status', '--json'], env: {...env, DANUBE_CONFIG: config}},
    })
    report({figure: 'node -e 0', ms: round(nodeMs)})
    report({figure: 'danube status --json, no config file', ms: round(bare), ratioToNode: round(bare / nodeMs), target: '<= 3x'})
    report({figure: 'danube status --json, two-line config file', ms: round(withConfig), ratioToNode: round(withConfig / nodeMs), target: '<= 3x'})
  } finally {
    await agent.stop()
  }
}

/**
 * The same figures on an empty database and on one with 100,000 finished jobs. Both agents run at once and the
 * two sides are measured in turn, nine rounds, so that a shared machine's drift (and the page cache warmed by the
 * fill) falls on both alike: measured one side after the other, the same build differed by ±20% between runs.
 */
async function scaleFigures() {
  const sides = []
  for (const jobs of [0, 100_000]) {
    const dir = tracked(stateDir())
    // Let the agent create and migrate the database, then fill it the way years of use would.
    const first = await startAgent(dir)
    await first.stop()
    if (jobs > 0) fill(path.join(dir, 'danube.db'), jobs)
    const agent = await startAgent(dir, {DANUBE_JOBS_MAX_CONCURRENT: '1'})
    await agent.trigger({name: 'holder', steps: [{run: 'sleep 600'}]})
    // Warm-up: the agent's CPU per admission still falls by half over its first few thousand (the JIT at work).
    await measureAdmission(agent, {total: 3000})
    sides.push({jobs, dir, agent, env: benchEnv(dir), status: [], list: [], health: [], admission: [], admissionCpu: []})
  }
  try {
    for (let round = 0; round < 9; round++) {
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        side.status.push((await timeCommand([BIN, 'status', '--json'], side.env, 7)).ms)
        side.list.push((await timeCommand([BIN, 'job', 'list'], side.env, 7)).ms)
        side.health.push((await timeCommand([BIN, 'health', '--json'], side.env, 7)).ms)
        const cpu = cpuMs(side.agent.child.pid)
        side.admission.push((await measureAdmission(side.agent, {total: 1000})).jobsPerSecond)
        side.admissionCpu.push((cpuMs(side.agent.child.pid) - cpu) / 1000)
      }
    }
  } finally {
    for (const side of sides) await side.agent.stop()
  }
  const full = sides[1]
  report({figure: 'database size per 1,000 finished jobs (one step each)', KiB: round(statSync(path.join(full.dir, 'danube.db')).size / 1024 / (full.jobs / 1000))})
  const [empty, filled] = sides.map((side) => ({
    status: median(side.status),
    list: median(side.list),
    health: median(side.health),
    jobsPerSecond: median(side.admission),
    cpuMs: median(side.admissionCpu),
  }))
  const change = (a, b) => `${b >= a ? '+' : ''}${round(((b - a) / a) * 100)}%`
  report({figure: 'danube status --json, 100,000 jobs vs empty', emptyMs: round(empty.status), fullMs: round(filled.status), change: change(empty.status, filled.status), target: 'within 10%'})
  report({figure: 'danube job list, 100,000 jobs vs empty', emptyMs: round(empty.list), fullMs: round(filled.list), change: change(empty.list, filled.list), target: 'within 10%'})
  report({figure: 'danube health --json, 100,000 jobs vs empty', emptyMs: round(empty.health), fullMs: round(filled.health), change: change(empty.health, filled.health), target: 'within 10%'})
  report({figure: 'admission, 100,000 jobs vs empty', empty: empty.jobsPerSecond, full: filled.jobsPerSecond, change: change(empty.jobsPerSecond, filled.jobsPerSecond), target: 'within 10%'})
  report({figure: 'agent CPU per admission (ms), 100,000 jobs vs empty', empty: round(empty.cpuMs * 1000) / 1000, full: round(filled.cpuMs * 1000) / 1000, change: change(empty.cpuMs, filled.cpuMs)})
}

/** Finished jobs as the agent writes them: a row per job and per step, spread over a year. */
function fill(file, count) {
  const db = new Database(file)
  const insertJob = db.prepare(
    `INSERT INTO jobs (id, name, spec, state, reason, executor, exit_code, created_at, started_at, finished_at, updated_at) VALUES (?, ?, ?, ?, ?, 'local', ?, ?, ?, ?, ?)`,
  )
  const insertStep = db.prepare(`INSERT INTO job_steps (job_id, step_index, name, state, exit_code, started_at, finished_at) VALUES (?, 0, 'build', ?, ?, ?, ?)`)
  const start = Date.parse('2025-12-01T00:00:00Z')
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = randomUUID()
      const failed = i % 10 === 0
      const at = new Date(start + i * 300_000).toISOString()
      const spec = JSON.stringify({name: `pipeline-${i % 50}`, steps: [{name: 'build', run: 'make build && make test'}], timeout: '1h'})
      insertJob.run(id, `pipeline-${i % 50}`, spec, failed ? 'failed' : 'succeeded', failed ? 'exit-code' : null, failed ? 1 : 0, at, at, at, at)
      insertStep.run(id, failed ? 'failed' : 'succeeded', failed ? 1 : 0, at, at)
    }
  })()
  db.close()
}

function openFifo(fifo) {
  // A child blocks in open(2) until the step opens the FIFO for writing; its exit is the moment.
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `exec cat "${fifo}" >/dev/null`], {stdio: 'ignore'})
    child.once('exit', () => resolve(performance.now()))
    child.once('error', reject)
  })
}

async function timeProcess(file, args, runs = 30) {
  const times = []
  for (let i = 0; i < runs; i++) {
    const began = performance.now()
    await new Promise((resolve) => spawn(file, args, {stdio: 'ignore'}).once('exit', resolve))
    times.push(performance.now() - began)
  }
  times.sort((a, b) => a - b)
  return percentile(times, 50)
}

function tracked(dir) {
  cleanup.push(dir)
  return dir
}
