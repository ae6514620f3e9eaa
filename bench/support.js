// Shared by the benchmark scripts: start a real agent from the built CLI, time commands, print figures.
import {spawn, spawnSync} from 'node:child_process'
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

/** Median wall time in ms of `node args…` over runs (after one warm-up). */
export function timeCommand(args, env, runs = 15) {
  spawnSync(process.execPath, args, {env, stdio: 'ignore'})
  const times = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    spawnSync(process.execPath, args, {env, stdio: 'ignore'})
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

export async function startAgent(dir, env = {}) {
  const child = spawn(process.execPath, [BIN, 'agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'], {env: benchEnv(dir, env), stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  const addrs = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      const line = stderr.split('\n').find((l) => l.includes('"agent started"'))
      if (line) resolve(JSON.parse(line))
    })
    child.once('exit', (code) => reject(new Error(`agent exited ${code}: ${stderr}`)))
  })
  const token = readFileSync(path.join(dir, 'agent.token'), 'utf8').trim()
  return {
    child,
    ...addrs,
    token,
    api: (pathname, init = {}) => fetch(`http://${addrs.httpAddr}${pathname}`, {...init, headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers}}),
    stop: () => new Promise((resolve) => {
      child.once('exit', resolve)
      child.kill('SIGKILL')
    }),
  }
}

export function report(figure) {
  console.log(JSON.stringify(figure))
}
