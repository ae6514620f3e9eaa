import {StringDecoder} from 'node:string_decoder'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {visibleLines} from '../../cli/render.js'
import {followLog, jobLogPath} from '../../lib/jobs/log.js'
import {isFinal} from '../../lib/jobs/model.js'
import {withStore} from '../../lib/store/index.js'
import {JobStore} from '../../lib/store/jobs.js'

export default class JobLogs extends BaseCommand<typeof JobLogs> {
  static override summary = "Print a job's log"
  static override description = `Reads the log file in the state directory; --follow keeps printing until the job ends. On a terminal, control characters in the job's output are shown as escapes (\\x1b); piped or redirected, the log is printed byte for byte.

${describeExitCodes('job logs')}`

  static override enableJsonFlag = false
  static override examples = ['<%= config.bin %> job logs 0b7c0a4e-5a8e-4d43-9d0e-0c1f5b8a2f11 --follow']

  static override args = {id: Args.string({required: true, description: 'Job id'})}
  static override flags = {follow: Flags.boolean({char: 'f', description: 'Keep printing until the job ends'})}

  async run(): Promise<void> {
    const {config} = this.loadConfig()
    const state = () => withStore(config.stateDir, (store) => new JobStore(store, {now: () => new Date()}).getJob(this.args.id).state)
    state()
    const stream = followLog(jobLogPath(config.stateDir, this.args.id), {isFinished: () => !this.flags.follow || isFinal(state()), pollMs: 500})
    // On a terminal, a job's output cannot drive it (escapes shown as \x1b); piped or redirected, the exact bytes.
    const decoder = process.stdout.isTTY ? new StringDecoder('utf8') : undefined
    for await (const chunk of stream) process.stdout.write(decoder ? visibleLines(decoder.write(chunk)) : chunk)
    if (decoder) process.stdout.write(visibleLines(decoder.end()))
  }
}
