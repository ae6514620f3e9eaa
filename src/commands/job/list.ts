import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {ago, table, visible} from '../../cli/render.js'
import {JOB_STATES, type JobSummary, parseListQuery} from '../../lib/jobs/model.js'
import {withStore} from '../../lib/store/index.js'
import {JobStore} from '../../lib/store/jobs.js'

export default class JobList extends BaseCommand<typeof JobList> {
  static override summary = 'List jobs, newest first'
  static override description = `Reads the state directory directly, so it works while the agent is down.

${describeExitCodes('job list')}`

  static override examples = ['<%= config.bin %> job list', '<%= config.bin %> job list --state running --json']

  static override flags = {
    state: Flags.string({description: 'Only jobs in this state', options: [...JOB_STATES]}),
    limit: Flags.integer({description: 'At most this many jobs (1-1000)', default: 100}),
  }

  async run(): Promise<{jobs: JobSummary[]}> {
    const {config} = this.loadConfig()
    const query = parseListQuery({state: this.flags.state, limit: this.flags.limit})
    const jobs = withStore(config.stateDir, (store) => new JobStore(store, {now: () => new Date()}).listJobs(query))
    if (!this.jsonEnabled()) {
      this.log(jobs.length === 0 ? 'no jobs' : table([['ID', 'NAME', 'STATE', 'REASON', 'CREATED'], ...jobs.map((j) => [j.id, visible(j.name), j.state, visible(j.reason ?? '-'), ago(j.createdAt)])]))
    }
    return {jobs}
  }
}
