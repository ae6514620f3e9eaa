import {Flags} from '@oclif/core'

import type {DrainRunEnd} from '../agent/drain/run.js'
import type {DrainReport} from '../agent/drain/session.js'
import {BaseCommand} from '../cli/base-command.js'
import {createDrainView, renderEnd, viewMode} from '../cli/drain-render.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {parseDuration} from '../lib/duration.js'

/** Exit status per ending; every value is in the `drain` row of src/cli/exit-codes.ts. */
const EXIT_BY_END: Record<DrainRunEnd, number> = {
  drained: 0, detached: 0, 'agent-not-running': 0, 'cancel-done': 0, 'not-draining': 0,
  stuck: 1, 'agent-down': 1, 'timed-out': 3, cancelled: 4, interrupted: 130,
}

export default class Drain extends BaseCommand<typeof Drain> {
  static override summary = 'Stop starting jobs, let running ones finish, and watch until none runs'
  static override description = `From the moment the drain is recorded (in the state directory's SQLite database, also while the agent is down) no new job starts: triggers get 503 DRAINING (or are stored deferred when they ask to be), queued jobs stay queued. The agent enforces the drain: at the deadline with --force it kills what still runs (recorded cancelled, reason drain-timeout). Ctrl-C stops watching only. Running it again while draining updates the deadline and force flag. Without --timeout or --no-timeout the deadline is 1h.

${describeExitCodes('drain')}`

  static override examples = [
    '<%= config.bin %> drain --timeout 10m --force -m "upgrade to 0.9" && systemctl stop danube',
    '<%= config.bin %> drain --timeout 30m --detach',
    '<%= config.bin %> drain --monitor',
    '<%= config.bin %> drain --cancel -m "upgrade done"',
  ]

  static override flags = {
    timeout: Flags.string({description: 'Time running jobs get, from now, e.g. 90s, 10m, 1h30m (default 1h); a bare number is refused'}),
    'no-timeout': Flags.boolean({description: 'No deadline: wait for running jobs however long they take (not with --force)'}),
    force: Flags.boolean({description: 'At the deadline, kill the jobs still running (SIGTERM, SIGKILL after the grace period)'}),
    'grace-period': Flags.string({description: 'With --force: time between SIGTERM and SIGKILL, e.g. 30s (default jobs.killGracePeriod)'}),
    message: Flags.string({char: 'm', description: 'Why: shown by status and in the DRAINING error (with --cancel: why it ends)'}),
    detach: Flags.boolean({description: 'Record the drain and return without watching'}),
    monitor: Flags.boolean({description: 'Watch the drain in progress without changing it'}),
    cancel: Flags.boolean({description: 'End the drain: queued and deferred jobs start again'}),
  }

  async run(): Promise<DrainReport> {
    const {config} = this.loadConfig()
    const {flags} = this
    const {drainMode, drainRequestFromFlags, currentUser} = await import('../agent/drain/session.js')
    const {runDrain} = await import('../agent/drain/run.js')
    const drainFlags = {timeout: flags.timeout, noTimeout: flags['no-timeout'], force: flags.force, gracePeriod: flags['grace-period'], message: flags.message, detach: flags.detach, monitor: flags.monitor, cancel: flags.cancel}
    const mode = drainMode(drainFlags)
    const request = mode === 'enable' ? drainRequestFromFlags(drainFlags, currentUser()) : undefined
    const view = await createDrainView(viewMode(this.jsonEnabled()))
    const interrupt = new AbortController()
    const onSigint = () => (interrupt.signal.aborted ? process.exit(130) : interrupt.abort())
    process.on('SIGINT', onSigint)
    try {
      const result = await runDrain({
        stateDir: config.stateDir, mode, request, cancel: {by: currentUser(), message: flags.message?.trim() || null}, detach: flags.detach,
        killGraceMs: parseDuration(config.jobs.killGracePeriod, 'jobs.killGracePeriod'), clock: {now: () => new Date()}, signal: interrupt.signal, listener: view,
      })
      view.stop()
      renderEnd(view, result)
      this.setExitCode(EXIT_BY_END[result.end])
      return result.report
    } finally {
      view.stop()
      process.off('SIGINT', onSigint)
    }
  }
}
