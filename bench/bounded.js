// Issue 14's figures: agent resident memory and GET /health p99 while 4 clients send 1 MiB invalid job specs
// in a loop for 10 s; agent resident memory while 16 slow readers stream one 64 MiB job log.
// Usage: npm run build && node bench/bounded.js [--control]   (prints one JSON line per figure)
import {spawn} from 'node:child_process'
import http from 'node:http'
import {rmSync} from 'node:fs'

import {report, rssKiB, startAgent, stateDir} from './support.js'

const MiB = 1024 * 1024
const rss = (pid) => rssKiB(pid) * 1024
const mib = (bytes) => Math.round((bytes / MiB) * 10) / 10
const percentile = (sorted, p) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 10) / 10

const dirs = [stateDir(), stateDir()]
let agent = await startAgent(dirs[0], {DANUBE_JOBS_LOG_MAX_BYTES: String(80 * MiB)})
let [host, port] = agent.httpAddr.split(':')
let pid = agent.child.pid

function request(options, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request({host, port, ...options}, (response) => {
      let bytes = 0
      response.on('data', (chunk) => (bytes += chunk.length))
      response.on('end', () => resolve({status: response.statusCode, bytes, ms: performance.now() - started}))
    })
    req.on('error', reject)
    req.end(body)
  })
}

try {
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idle = rss(pid)

  // 1. Four clients, 1 MiB invalid specs (an array of 524,270 numbers as steps), for 10 s.
  // --control: the same load with a 12-byte invalid spec, to tell the body's cost from the machine's.
  const control = process.argv.includes('--control')
  const body = control ? '{"name":"x"}' : `{"name":"x","steps":[${Array.from({length: 524_270}, () => '1').join(',')}]}`
  const keepAlive = new http.Agent({keepAlive: true, maxSockets: 4})
  const headers = {Authorization: `Bearer ${agent.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)}
  const until = performance.now() + 10_000
  let peak = idle
  let sent = 0
  let largestAnswer = 0
  const statuses = new Set()
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 100)
  // The prober runs in its own process: in this one, its timings would include this loop's own delay
  // from writing four 1 MiB bodies.
  const prober = new Promise((resolve, reject) => {
    const script = `
      const http = require('node:http')
      const until = performance.now() + 10000
      const out = {ms: []}
      const once = () => new Promise((resolve) => {
        const started = performance.now()
        http.get({host: ${JSON.stringify(host)}, port: ${port}, path: '/health'}, (response) => {
          response.resume()
          response.on('end', () => {
            out.ms.push(performance.now() - started)
            resolve()
          })
        })
      })
      ;(async () => {
        while (performance.now() < until) {
          await once()
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        process.stdout.write(JSON.stringify(out))
      })()`
    const child = spawn(process.execPath, ['-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    let text = ''
    child.stdout.on('data', (chunk) => (text += chunk))
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`prober exited ${code}`))))
  })
  await Promise.all(
    Array.from({length: 4}, async () => {
      while (performance.now() < until) {
        const answer = await request({path: '/api/v1/jobs', method: 'POST', headers, agent: keepAlive}, body)
        sent++
        statuses.add(answer.status)
        largestAnswer = Math.max(largestAnswer, answer.bytes)
      }
    }),
  )
  const probed = await prober
  clearInterval(sampler)
  keepAlive.destroy()
  const health = probed.ms.sort((a, b) => a - b)
  report({figure: 'agent RSS, idle', mib: mib(idle)})
  report({figure: `agent RSS peak, 4 clients x ${control ? '12-byte' : '1 MiB'} invalid specs for 10 s`, mib: mib(peak), requests: sent, statuses: [...statuses], largestAnswerBytes: largestAnswer, target: '< 200 MiB'})
  report({figure: 'GET /health during those 10 s', samples: health.length, p50Ms: percentile(health, 50), p99Ms: percentile(health, 99), maxMs: percentile(health, 100), target: 'p99 < 50 ms'})

  await agent.stop()
  // 2. Sixteen slow readers of a 64 MiB log, in a fresh agent.
  agent = await startAgent(dirs[1], {DANUBE_JOBS_LOG_MAX_BYTES: String(80 * MiB)})
  pid = agent.child.pid
  ;[host, port] = agent.httpAddr.split(':')
  const job = await agent.trigger({name: 'big-log', steps: [{run: `head -c ${64 * MiB} /dev/zero | tr '\\0' 'x'`}]})
  for (;;) {
    const state = (await (await agent.api(`/api/v1/jobs/${job.id}`)).json()).state
    if (state === 'succeeded') break
    if (state === 'failed' || state === 'cancelled') throw new Error(`log job ${state}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await new Promise((resolve) => setTimeout(resolve, 500))
  const before = rss(pid)
  let readersPeak = before
  const readerSampler = setInterval(() => (readersPeak = Math.max(readersPeak, rss(pid))), 50)
  const started = performance.now()
  // Slow: each reader takes 256 KiB, then pauses 20 ms, until the end (about 5 s per reader at best).
  const totals = await Promise.all(
    Array.from({length: 16}, () =>
      new Promise((resolve, reject) => {
        http.get({host, port, path: `/api/v1/jobs/${job.id}/logs`, headers: {Authorization: `Bearer ${agent.token}`}}, (response) => {
          let bytes = 0
          let sinceBreak = 0
          response.on('data', (chunk) => {
            bytes += chunk.length
            sinceBreak += chunk.length
            if (sinceBreak >= 256 * 1024) {
              sinceBreak = 0
              response.pause()
              setTimeout(() => response.resume(), 20)
            }
          })
          response.on('end', () => resolve(bytes))
        }).on('error', reject)
      }),
    ),
  )
  clearInterval(readerSampler)
  report({
    figure: 'agent RSS, 16 concurrent slow readers of a 64 MiB log',
    beforeMib: mib(before),
    peakMib: mib(readersPeak),
    growthMib: mib(readersPeak - before),
    bytesPerReader: totals[0],
    seconds: Math.round((performance.now() - started) / 100) / 10,
    target: '< 150 MiB',
  })
} finally {
  await agent.stop()
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
}
