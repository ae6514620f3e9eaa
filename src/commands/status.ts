import type {ChalkInstance} from 'chalk'

import {BaseCommand} from '../cli/base-command.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {ago, colors, table, visible} from '../cli/render.js'
import type {AgentStatus} from '../agent/status.js'
import {shortTime} from '../lib/store/drain.js'

export default class StatusCommand extends BaseCommand<typeof StatusCommand> {
  static override summary = 'Show the agent, drain state and job counts'
  static override description = `Reads the state directory directly, so it works while the agent is down. The agent counts as running while its heartbeat is under 15 s old.

${describeExitCodes('status')}`

  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']

  async run(): Promise<AgentStatus> {
    const {config} = this.loadConfig()
    const {collectStatus} = await import('../agent/status.js')
    const status = collectStatus(config, {now: () => new Date()})
    if (!this.jsonEnabled()) this.log(render(status, await colors()))
    return status
  }
}

function render(status: AgentStatus, c: ChalkInstance): string {
  const {agent} = status
  const state = agent.state === 'running' ? c.green('running') : c.red('down')
  const rows = [
    ['Agent', agent.state === 'running' ? `${state} (pid ${agent.pid}, version ${agent.version}, up ${agent.uptimeSeconds}s)` : `${state}${agent.heartbeatAt ? ` (last heartbeat ${ago(agent.heartbeatAt)})` : ''}`],
    ['HTTP', agent.httpAddr ?? '-'],
    ['gRPC', agent.grpcAddr ?? '-'],
    ['Executor', status.executor],
    ['Sandbox', sandboxLine(status, c)],
    ['Drain', drainLine(status)],
    ['Last drain', lastDrainLine(status)],
    ['Jobs', Object.entries(status.jobs).map(([name, n]) => `${name} ${n}`).join(', ')],
    ['State dir', status.stateDir],
  ]
  // Shown only when there are some: they need an operator's decision (Danube never deletes them).
  for (const orphan of status.orphans) {
    rows.push(['Orphan', `${c.yellow(visible(`${orphan.namespace}/${orphan.name}`))} (${orphan.state}, job id ${orphan.jobId ?? 'none'}, no such danube job; inspect and delete it with kubectl)`])
  }
  return table(rows)
}

/** "bubblewrap (network host)", or "none: UNSANDBOXED …" in yellow with why and the fix. */
function sandboxLine(status: AgentStatus, c: ChalkInstance): string {
  const {sandbox} = status
  if (!sandbox) return status.executor === 'local' ? `- (agent down; jobs.local.sandbox ${status.sandboxSetting})` : '- (steps run in Kubernetes pods)'
  if (sandbox.mode === 'bubblewrap') return `bubblewrap (network ${sandbox.network})`
  return c.yellow(`none: steps run UNSANDBOXED as the agent's user (jobs.local.sandbox ${sandbox.setting}${sandbox.reason ? `: ${sandbox.reason}` : ''})${sandbox.fix ? `; ${sandbox.fix}` : ''}`)
}

/** "draining since 11:58:10Z by alice ("upgrade to 0.9"); deadline 12:08:10Z (force); 2 running, 2 queued, 1 deferred" */
function drainLine({drain}: AgentStatus): string {
  if (drain.state === 'active') return 'active (accepting jobs)'
  const by = drain.requestedBy ? ` by ${visible(drain.requestedBy)}` : ''
  const why = drain.message ? ` ("${visible(drain.message)}")` : ''
  const deadline = drain.deadlineAt ? `deadline ${shortTime(drain.deadlineAt)} (${drain.force ? 'force' : 'no force'})` : 'no deadline'
  const since = drain.state === 'drained' ? `drained since ${shortTime(drain.updatedAt)} (requested ${drain.since ? shortTime(drain.since) : '?'}` : `draining since ${drain.since ? shortTime(drain.since) : '?'}`
  return `${since}${by}${why}${drain.state === 'drained' ? ')' : ''}; ${deadline}; ${drain.running} running, ${drain.queued} queued, ${drain.deferred} deferred`
}

function lastDrainLine({drain}: AgentStatus): string {
  const last = drain.lastDrain
  if (!last) return '-'
  if (!last.endedAt) return `in progress since ${shortTime(last.startedAt)}${last.outcome ? ` (${last.outcome})` : ''}`
  return `${last.outcome} ${ago(last.endedAt)}${last.jobsKilled.length > 0 ? `, ${last.jobsKilled.length} job(s) killed` : ''}`
}
