// Shared by the benchmark scripts: start a real agent from the built CLI, time commands, print figures.
import {spawn} from 'node:child_process'
import http from 'node:http'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = path.join(ROOT, 'bin/run.js')

export function stateDir() {
  return mkdtempSync(path.join(tmpdir(), 'danube-bench-'))
}

export function benchEnv(dir, extra = {}) {
  return {...process.env, DANUBE_HOME: dir, DANUBE_CONFIG: '', DANUBE_KUBERNETES_ENABLED: 'false', NO_COLOR: '1', NODE_ENV: 'production', ...extra}
}

/**
 * Median wall time of `node args…` over runs (after one warm-up), with that run's exit code. Spawned
 * asynchronously: a bench that hosts the Kubernetes test API server in its own process must keep it
 * answering while the command runs.
 */
export async function timeCommand(args, env, runs = 15) {
  const once = () =>
    new Promise((resolve) => {
      const started = performance.now()
      const child = spawn(process.execPath, args, {env, stdio: 'ignore'})
      child.once('exit', (code) => resolve({ms: performance.now() - started, code}))
    })
  await once()
  const results = []
  for (let i = 0; i < runs; i++) results.push(await once())
  results.sort((a, b) => a.ms - b.ms)
  return results[Math.floor(results.length / 2)]
}

/**
 * A real agent from the built CLI on ephemeral loopback ports, its state in `dir`. stop() sends SIGTERM
 * (jobs get a 1 s shutdown grace) and waits for the process to exit.
 */
export async function startAgent(dir, env = {}) {
  const child = spawn(process.execPath, [BIN, 'agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'], {
    env: benchEnv(dir, {DANUBE_SHUTDOWN_GRACE_PERIOD: '1s', ...env}),
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  let stderr = ''
  const addrs = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start:\n${stderr}`)), 20_000)
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      const line = stderr.split('\n').find((l) => l.includes('"agent started"'))
      if (line) {
        clearTimeout(timer)
        resolve(JSON.parse(line))
      }
    })
    child.once('exit', (code) => reject(new Error(`agent exited ${code}: ${stderr}`)))
  })
  const token = readFileSync(path.join(dir, 'agent.token'), 'utf8').trim()
  const api = (pathname, init = {}) =>
    fetch(`http://${addrs.httpAddr}${pathname}`, {...init, headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers}})
  return {
    child,
    stateDir: dir,
    ...addrs,
    token,
    api,
    async trigger(spec) {
      const response = await api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
      if (response.status >= 300) throw new Error(`trigger: HTTP ${response.status} ${await response.text()}`)
      return response.json()
    },
    async waitRunning(ids) {
      for (;;) {
        const states = await Promise.all(ids.map(async (id) => (await (await api(`/api/v1/jobs/${id}`)).json()).state))
        if (states.every((state) => state === 'running')) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async stop() {
      child.kill('SIGTERM')
      await exited
    },
  }
}

export function report(figure) {
  console.log(JSON.stringify(figure))
}

/**
 * Admission throughput: `total` POST /api/v1/jobs from `clients` concurrent keep-alive connections.
 * node:http rather than fetch: the client shares the machine's two cores with the agent, and undici's
 * per-request cost would be measured as the agent's. Start the agent with one slot held by a long job so
 * that this measures admission, not execution.
 */
export async function measureAdmission({httpAddr, token}, {total = 4000, clients = 16} = {}) {
  const body = JSON.stringify({name: 'bench', steps: [{run: 'true'}]})
  const keepAlive = new http.Agent({keepAlive: true, maxSockets: clients})
  const [host, port] = httpAddr.split(':')
  const headers = {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)}
  const post = () =>
    new Promise((resolve, reject) => {
      const request = http.request({host, port, path: '/api/v1/jobs', method: 'POST', agent: keepAlive, headers}, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode))
      })
      request.on('error', reject)
      request.end(body)
    })
  const latencies = []
  let sent = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(
    Array.from({length: clients}, async () => {
      while (sent < total) {
        sent++
        const t = performance.now()
        if ((await post()) !== 201) failed++
        latencies.push(performance.now() - t)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  keepAlive.destroy()
  latencies.sort((a, b) => a - b)
  const at = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] * 10) / 10
  return {jobsPerSecond: Math.round(total / seconds), failed, p50Ms: at(50), p99Ms: at(99)}
}

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat; clock ticks of 10 ms). */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Resident memory of a process now, in KiB (/proc/<pid>/status). */
export function rssKiB(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? 0)
}

/**
 * Median wall times of several commands measured in turn: `rounds` rounds of `runs` runs each (see timeCommand),
 * the median of the rounds. A start-up ratio to `node -e 0` is only as good as both figures' moment: measured one
 * after the other, the same build's ratio moved between 2.4x and 3.2x within minutes on this machine.
 */
export async function timeInTurn(commands, {rounds = 5, runs = 7} = {}) {
  const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const [name, {args, env}] of Object.entries(commands)) times[name].push((await timeCommand(args, env, runs)).ms)
  }
  return Object.fromEntries(Object.entries(times).map(([name, values]) => [name, median(values)]))
}

/** The middle value (the upper one of an even count); the input is left as it was. */
export function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
}
