import {BaseCommand} from '../cli/base-command.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {ago, colors, table} from '../cli/render.js'
import type {AgentStatus} from '../agent/status.js'

export default class StatusCommand extends BaseCommand<typeof StatusCommand> {
  static override summary = 'Show the agent, drain state and job counts'
  static override description = `Reads the state directory directly, so it works while the agent is down. The agent counts as running while its heartbeat is under 15 s old.

${describeExitCodes('status')}`

  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']

  async run(): Promise<AgentStatus> {
    const {config} = this.loadConfig()
    const {collectStatus} = await import('../agent/status.js')
    const status = collectStatus(config, {now: () => new Date()})
    if (!this.jsonEnabled()) this.log(render(status))
    return status
  }
}

function render(status: AgentStatus): string {
  const c = colors()
  const {agent} = status
  const state = agent.state === 'running' ? c.green('running') : c.red('down')
  const rows = [
    ['Agent', agent.state === 'running' ? `${state} (pid ${agent.pid}, version ${agent.version}, up ${agent.uptimeSeconds}s)` : `${state}${agent.heartbeatAt ? ` (last heartbeat ${ago(agent.heartbeatAt)})` : ''}`],
    ['HTTP', agent.httpAddr ?? '-'],
    ['gRPC', agent.grpcAddr ?? '-'],
    ['Executor', status.executor],
    ['Drain', status.drain.state],
    ['Jobs', Object.entries(status.jobs).map(([name, n]) => `${name} ${n}`).join(', ')],
    ['State dir', status.stateDir],
  ]
  // Shown only when there are some: they need an operator's decision (Danube never deletes them).
  for (const orphan of status.orphans) {
    rows.push(['Orphan', `${c.yellow(`${orphan.namespace}/${orphan.name}`)} (${orphan.state}, job id ${orphan.jobId ?? 'none'}, no such danube job; inspect and delete it with kubectl)`])
  }
  return table(rows)
}
