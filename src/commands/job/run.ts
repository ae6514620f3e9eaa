import {readFileSync} from 'node:fs'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {visible} from '../../cli/render.js'
import {agentClientFor} from '../../lib/agent-client.js'
import {DanubeError} from '../../lib/errors.js'
import {isFinal, type Job} from '../../lib/jobs/model.js'
import {parseJobSpec} from '../../lib/jobs/spec.js'

export default class JobRun extends BaseCommand<typeof JobRun> {
  static override summary = 'Trigger a job from a YAML or JSON spec'
  static override description = `Sends the spec to the running agent, which admits it as queued. With --wait, waits until the job ends and exits 0 only if it succeeded.

${describeExitCodes('job run')}`

  static override examples = ['<%= config.bin %> job run --file job.yaml', 'cat job.json | <%= config.bin %> job run --file - --wait --json']

  static override flags = {
    file: Flags.string({char: 'f', required: true, description: 'Job spec file (YAML or JSON), or - for standard input'}),
    wait: Flags.boolean({description: 'Wait until the job ends; exit 1 unless it succeeded'}),
  }

  async run(): Promise<Job> {
    const {config} = this.loadConfig()
    const spec = parseJobSpec(readSpec(this.flags.file), this.flags.file === '-' ? 'standard input' : this.flags.file)
    const client = await agentClientFor(config)
    let job = await client.triggerJob(spec)
    if (!this.jsonEnabled()) this.log(`job ${job.id} ${job.state}`)
    if (this.flags.wait) {
      while (!isFinal(job.state)) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        job = await client.getJob(job.id)
      }
      if (!this.jsonEnabled()) this.log(visible(`job ${job.id} ${job.state}${job.reason ? ` (${job.reason})` : ''}`))
      if (job.state !== 'succeeded') this.setExitCode(1)
    }
    return job
  }
}

function readSpec(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (error) {
    throw new DanubeError('SPEC_UNREADABLE', `--file: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`, {exitCode: 2, hint: 'pass a YAML or JSON job spec, or - for standard input'})
  }
}
