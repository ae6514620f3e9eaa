// Issue 12's figures: what the bubblewrap sandbox costs a local step. In one run, alternating: a one-step
// `true` job, trigger to finished, on an agent with jobs.local.sandbox bubblewrap and on one with none (the
// difference is the sandbox's per-step overhead); bwrap itself with the agent's exact arguments against
// plain `sh -c true`; and admission throughput on both agents (the sandbox must not change it).
// Usage: npm run build && node bench/sandbox.js   (one JSON line per figure)
import {execFile} from 'node:child_process'
import {mkdirSync, rmSync} from 'node:fs'
import path from 'node:path'

import {prepareSandbox} from '../dist/agent/executors/sandbox.js'
import {measureAdmission, median, report, startAgent, stateDir} from './support.js'

const round = (n) => Math.round(n * 10) / 10
const JOBS = 60
const WARMUP = 10

const dirs = [stateDir(), stateDir()]
try {
  await stepOverhead()
  await bwrapItself()
  await admission()
} finally {
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
}

async function stepOverhead() {
  const sandboxed = await startAgent(dirs[0], {DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'})
  const plain = await startAgent(dirs[1], {DANUBE_JOBS_LOCAL_SANDBOX: 'none'})
  try {
    const times = {bubblewrap: [], none: []}
    const once = async (agent) => {
      const began = performance.now()
      const created = await agent.trigger({name: 'overhead', steps: [{run: 'true'}]})
      // The log stream with ?follow=1 ends when the job does: no polling in the measurement.
      await (await agent.api(`/api/v1/jobs/${created.id}/logs?follow=1`)).text()
      return performance.now() - began
    }
    for (let i = 0; i < JOBS + WARMUP; i++) {
      const a = await once(sandboxed)
      const b = await once(plain)
      if (i >= WARMUP) {
        times.bubblewrap.push(a)
        times.none.push(b)
      }
    }
    const withSandbox = median(times.bubblewrap)
    const without = median(times.none)
    report({figure: 'one-step `true` job, trigger to finished, sandbox bubblewrap vs none', bubblewrapMs: round(withSandbox), noneMs: round(without), overheadMs: round(withSandbox - without), jobs: JOBS, target: 'overhead < 10 ms'})
  } finally {
    await Promise.all([sandboxed.stop(), plain.stop()])
  }
}

/** bwrap with the arguments a step gets (masks of the bench's state dir included) against `sh -c true`. */
async function bwrapItself() {
  const work = path.join(dirs[0], 'work', 'bench')
  mkdirSync(work, {recursive: true})
  const {sandbox} = await prepareSandbox({setting: 'bubblewrap', network: 'host', hidden: [dirs[0], '/etc/danube'], probeDir: work})
  const run = (file, args) =>
    new Promise((resolve, reject) => {
      const began = performance.now()
      execFile(file, args, (error) => (error ? reject(error) : resolve(performance.now() - began)))
    })
  const plain = []
  const wrapped = []
  const wrappedNoNet = []
  const {Sandbox} = await import('../dist/agent/executors/sandbox.js')
  const noNet = new Sandbox({...sandbox.options, network: 'none'})
  for (let i = 0; i < 40; i++) {
    plain.push(await run('/bin/sh', ['-c', 'true']))
    wrapped.push(await run(sandbox.options.bwrap, [...sandbox.args(work, work), '/bin/sh', '-c', 'true']))
    wrappedNoNet.push(await run(sandbox.options.bwrap, [...noNet.args(work, work), '/bin/sh', '-c', 'true']))
  }
  report({figure: '`sh -c true` plain vs in the sandbox (bwrap with the agent\'s arguments)', plainMs: round(median(plain)), bubblewrapMs: round(median(wrapped)), bubblewrapNetworkNoneMs: round(median(wrappedNoNet)), runs: 40, privileged: sandbox.options.privileged})
}

/** POST /api/v1/jobs from 16 clients while one long job holds the only slot, on each agent in turn. */
async function admission() {
  for (const [index, mode] of ['bubblewrap', 'none'].entries()) {
    const dir = stateDir()
    dirs.push(dir)
    const agent = await startAgent(dir, {DANUBE_JOBS_LOCAL_SANDBOX: mode, DANUBE_JOBS_MAX_CONCURRENT: '1'})
    try {
      await agent.trigger({name: 'holder', steps: [{run: 'sleep 300'}]})
      const figures = await measureAdmission(agent, {total: 3000})
      report({figure: `admission throughput (POST /api/v1/jobs, 16 clients), sandbox ${mode}`, ...figures, order: index + 1})
    } finally {
      await agent.stop()
    }
  }
}
