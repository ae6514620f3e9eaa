// Issue 2's figures: CLI start-up against bare node, admission throughput, idle agent memory.

import {rmSync} from 'node:fs'

import {BIN, benchEnv, measureAdmission, report, rssKiB, startAgent, stateDir, timeInTurn} from './support.js'

const dir = stateDir()
const env = benchEnv(dir)

const {nodeMs, statusMs, helpMs} = await timeInTurn({
  nodeMs: {args: ['-e', '0'], env},
  statusMs: {args: [BIN, 'status', '--json'], env},
  helpMs: {args: [BIN, '--help'], env},
})
report({figure: 'node -e 0', ms: round(nodeMs)})
report({figure: 'danube status --json', ms: round(statusMs), ratioToNode: round(statusMs / nodeMs), target: '<= 3x'})
report({figure: 'danube --help', ms: round(helpMs), ratioToNode: round(helpMs / nodeMs), target: '<= 3x'})

const agent = await startAgent(dir, {DANUBE_JOBS_MAX_CONCURRENT: '1'})
try {
  await new Promise((resolve) => setTimeout(resolve, 2000))
  report({figure: 'agent idle resident memory', MiB: round(rssKiB(agent.child.pid) / 1024), target: '< 120 MiB'})

  // One long job holds the only slot, so every benchmark job stays queued: admission, not execution.
  await agent.trigger({name: 'holder', steps: [{run: 'sleep 300'}]})
  const admission = await measureAdmission(agent)
  report({figure: 'admission throughput (POST /api/v1/jobs, 16 clients)', ...admission, target: '>= 1000/s'})
  report({figure: 'agent resident memory after admissions', MiB: round(rssKiB(agent.child.pid) / 1024)})
} finally {
  await agent.stop()
  rmSync(dir, {recursive: true, force: true})
}

function round(n) {
  return Math.round(n * 100) / 100
}
