import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {agentClientFor} from '../../lib/agent-client.js'
import type {Job} from '../../lib/jobs/model.js'

export default class JobCancel extends BaseCommand<typeof JobCancel> {
  static override summary = 'Cancel a queued or running job'
  static override description = `A queued job is cancelled at once; a running one gets SIGTERM, then SIGKILL after jobs.killGracePeriod.

${describeExitCodes('job cancel')}`

  static override examples = ['<%= config.bin %> job cancel 0b7c0a4e-5a8e-4d43-9d0e-0c1f5b8a2f11']

  static override args = {id: Args.string({required: true, description: 'Job id'})}

  async run(): Promise<Job> {
    const {config} = this.loadConfig()
    const job = await (await agentClientFor(config)).cancelJob(this.args.id)
    if (!this.jsonEnabled()) this.log(`job ${job.id} ${job.state === 'cancelled' ? 'cancelled' : 'cancelling'}`)
    return job
  }
}
