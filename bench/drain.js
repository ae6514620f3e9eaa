#!/usr/bin/env node
// Drain benchmarks against the built CLI (bin/run.js, dist/): real agent processes on 127.0.0.1 with
// ephemeral ports and temporary state directories, real sh jobs. Prints one JSON line per figure:
//   drain-return-after-last-job   last running job's process ends → `danube drain` has returned (target < 500 ms)
//   force-kill-recorded-20-jobs   forced deadline → all 20 killed jobs recorded (target grace + 1 s)
//   admission-throughput          POST /api/v1/jobs, 16 concurrent clients, jobs queued not run, not draining
// Usage: npm run build && node bench/drain.js [--runs 5] [--jobs 2000]

import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {BIN, benchEnv, measureAdmission, median, ROOT, startAgent as startBenchAgent} from './support.js'

const DIST_STORE = path.join(ROOT, 'dist/lib/store/index.js')
if (!existsSync(DIST_STORE)) {
  console.error('bench/drain.js: dist/ is missing; run `npm run build` first')
  process.exit(1)
}
const {Store} = await import(pathToFileURL(DIST_STORE).href)

const argv = process.argv.slice(2)
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}
const RUNS = option('runs', 5)
const ADMISSIONS = option('jobs', 2000)
const TMP = path.join(ROOT, '.bench-tmp')
mkdirSync(TMP, {recursive: true})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function startAgent(extraEnv = {}) {
  const agent = await startBenchAgent(mkdtempSync(path.join(TMP, 'drain-')), extraEnv)
  return {
    ...agent,
    query(sql, params = []) {
      const store = Store.openInStateDir(agent.stateDir)
      try {
        return store.all(sql, params)
      } finally {
        store.close()
      }
    },
    async stop() {
      await agent.stop()
      rmSync(agent.stateDir, {recursive: true, force: true})
    },
  }
}

function cli(args, stateDir) {
  const child = spawn(process.execPath, [BIN, ...args], {env: benchEnv(stateDir), stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const result = new Promise((resolve) => child.once('exit', (code) => resolve({code, stdout, stderr, exitedAt: Date.now()})))
  return {result, stdout: () => stdout}
}

async function until(condition, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const report = (figure) => console.log(JSON.stringify({bench: 'drain', ...figure}))

/** The last running job's process ends → `danube drain` has returned (drained, exit 0). */
async function drainReturn() {
  const agent = await startAgent()
  const fromProcessEnd = []
  const fromRecorded = []
  try {
    for (let run = 0; run < RUNS; run++) {
      const gate = path.join(agent.stateDir, `release-${run}`)
      const ended = path.join(agent.stateDir, `ended-${run}`)
      // The job's last act is to write the time it ends, in ms since the epoch.
      const job = await agent.trigger({name: `last-${run}`, steps: [{run: `while [ ! -e '${gate}' ]; do sleep 0.02; done; date +%s%3N > '${ended}'`}]})
      await agent.waitRunning([job.id])
      const drain = cli(['drain', '--timeout', '1m'], agent.stateDir)
      await until(() => drain.stdout().includes('Ctrl-C stops watching'), 'drain watching')
      writeFileSync(gate, '')
      const {code, exitedAt, stderr} = await drain.result
      if (code !== 0) throw new Error(`danube drain exited ${code}: ${stderr}`)
      fromProcessEnd.push(exitedAt - Number(readFileSync(ended, 'utf8')))
      const [{finished_at: finishedAt}] = agent.query('SELECT finished_at FROM jobs WHERE id = ?', [job.id])
      fromRecorded.push(exitedAt - Date.parse(finishedAt))
      const cancel = await cli(['drain', '--cancel'], agent.stateDir).result
      if (cancel.code !== 0) throw new Error(`danube drain --cancel exited ${cancel.code}`)
    }
  } finally {
    await agent.stop()
  }
  report({figure: 'drain-return-after-last-job', unit: 'ms', runs: RUNS, median: median(fromProcessEnd), max: Math.max(...fromProcessEnd), medianFromRecordedEnd: median(fromRecorded), target: 500, ok: Math.max(...fromProcessEnd) < 500})
}

/** 20 running jobs (half ignore SIGTERM, so the full grace period is used): forced deadline → all recorded killed. */
async function forceKill() {
  const graceMs = 1000
  const agent = await startAgent({DANUBE_JOBS_MAX_CONCURRENT: '20'})
  try {
    const jobs = await Promise.all(
      Array.from({length: 20}, (_, i) => agent.trigger({name: `victim-${i}`, steps: [{run: i % 2 ? `trap '' TERM; sleep 300` : 'sleep 300'}]})),
    )
    await agent.waitRunning(jobs.map((j) => j.id))
    const drain = await cli(['drain', '--timeout', '2s', '--force', '--grace-period', `${graceMs}ms`, '--json'], agent.stateDir).result
    if (drain.code !== 0) throw new Error(`danube drain exited ${drain.code}: ${drain.stderr}${drain.stdout}`)
    const document = JSON.parse(drain.stdout)
    const deadline = Date.parse(document.deadlineAt)
    const rows = agent.query(`SELECT finished_at, state, reason FROM jobs WHERE reason = 'drain-timeout'`)
    if (rows.length !== 20 || document.jobsKilled.length !== 20) throw new Error(`expected 20 killed jobs, got ${rows.length} (${document.jobsKilled.length} in the report)`)
    const recorded = Math.max(...rows.map((r) => Date.parse(r.finished_at))) - deadline
    report({
      figure: 'force-kill-recorded-20-jobs',
      unit: 'ms',
      jobs: 20,
      gracePeriodMs: graceMs,
      deadlineToAllRecorded: recorded,
      deadlineToDrainReturned: drain.exitedAt - deadline,
      target: graceMs + 1000,
      ok: recorded < graceMs + 1000,
    })
  } finally {
    await agent.stop()
  }
}

/** POST /api/v1/jobs from 16 concurrent clients while one long job holds the only slot: admission cost only. */
async function admissionThroughput() {
  const agent = await startAgent({DANUBE_JOBS_MAX_CONCURRENT: '1'})
  try {
    const blocker = await agent.trigger({name: 'blocker', steps: [{run: 'sleep 300'}]})
    await agent.waitRunning([blocker.id])
    const admission = await measureAdmission({httpAddr: agent.httpAddr, token: agent.token}, {total: ADMISSIONS})
    const [{n: queued}] = agent.query(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'`)
    report({figure: 'admission-throughput', unit: 'jobs/s', clients: 16, jobs: ADMISSIONS, queued, value: admission.jobsPerSecond, p50Ms: admission.p50Ms, p99Ms: admission.p99Ms})
  } finally {
    await agent.stop()
  }
}

await drainReturn()
await forceKill()
await admissionThroughput()
