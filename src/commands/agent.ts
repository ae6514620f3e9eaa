import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {describeExitCodes} from '../cli/exit-codes.js'

export default class AgentCommand extends BaseCommand<typeof AgentCommand> {
  static override summary = 'Run the Danube agent in the foreground'
  static override description = `Runs jobs, serves the HTTP API and gRPC, and records a heartbeat. systemd runs it this way; SIGTERM or SIGINT stops admitting jobs, gives running jobs shutdownGracePeriod to finish, cancels the rest and exits 0.

${describeExitCodes('agent')}`

  static override enableJsonFlag = false

  static override examples = ['<%= config.bin %> agent', '<%= config.bin %> agent --http-addr 127.0.0.1:7480 --grpc-addr 127.0.0.1:7481']

  static override flags = {
    'http-addr': Flags.string({description: 'HTTP listen address (host:port) [config http.addr, env DANUBE_HTTP_ADDR]'}),
    'grpc-addr': Flags.string({description: 'gRPC listen address (host:port) [config grpc.addr, env DANUBE_GRPC_ADDR]'}),
  }

  async run(): Promise<void> {
    const {config, file} = this.loadConfig({'http.addr': this.flags['http-addr'], 'grpc.addr': this.flags['grpc-addr']})
    const {Agent} = await import('../agent/agent.js')
    const agent = new Agent({config, version: this.config.version, configFile: file})
    // Handlers go in before start(): a SIGTERM that arrives while the agent starts (it logs "agent
    // started" before start() resolves) must stop it cleanly, not kill it with the default action.
    // A second signal while stopping is only noted: dying mid-cleanup would leak jobs' process groups.
    let received: NodeJS.Signals | undefined
    let wake: (() => void) | undefined
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        process.stderr.write(`received ${signal}: already stopping\n`)
        return
      }
      received = signal
      wake?.()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    await agent.start()
    if (!received) await new Promise<void>((resolve) => (wake = resolve))
    process.stderr.write(`received ${received}: stopping (jobs get ${config.shutdownGracePeriod} to finish)\n`)
    await agent.stop()
  }
}
