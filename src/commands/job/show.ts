import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {table, visible} from '../../cli/render.js'
import type {Job} from '../../lib/jobs/model.js'
import {withStore} from '../../lib/store/index.js'
import {JobStore} from '../../lib/store/jobs.js'

export default class JobShow extends BaseCommand<typeof JobShow> {
  static override summary = 'Show one job and its steps'
  static override description = `Reads the state directory directly, so it works while the agent is down.

${describeExitCodes('job show')}`

  static override examples = ['<%= config.bin %> job show 0b7c0a4e-5a8e-4d43-9d0e-0c1f5b8a2f11 --json']

  static override args = {id: Args.string({required: true, description: 'Job id'})}

  async run(): Promise<Job> {
    const {config} = this.loadConfig()
    const job = withStore(config.stateDir, (store) => new JobStore(store, {now: () => new Date()}).getJob(this.args.id))
    if (!this.jsonEnabled()) {
      this.log(table([
        ['ID', job.id], ['Name', visible(job.name)], ['State', visible(`${job.state}${job.reason ? ` (${job.reason})` : ''}`)], ['Executor', job.executor],
        ['Created', job.createdAt], ['Started', job.startedAt ?? '-'], ['Finished', job.finishedAt ?? '-'],
      ]))
      this.log('')
      this.log(table([['STEP', 'NAME', 'STATE', 'EXIT'], ...job.steps.map((s) => [String(s.index + 1), visible(s.name), s.state, s.exitCode === null ? '-' : String(s.exitCode)])]))
    }
    return job
  }
}
