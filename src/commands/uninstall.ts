import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {viewMode} from '../cli/drain-render.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {createInstallView} from '../cli/install-render.js'
import {parseDuration} from '../lib/duration.js'
import {usageError} from '../lib/errors.js'
import type {PlanResult} from '../lib/install/index.js'

export default class UninstallCommand extends BaseCommand<typeof UninstallCommand> {
  static override summary = 'Remove what danube install created, keeping the keys and the database unless --purge'
  static override description = `Stops and disables danube.service (running jobs get shutdownGracePeriod), removes its unit, deletes Cilium's interfaces and iptables rules before running K3s's own k3s-uninstall.sh (in the other order the host can lose its network), removes the cilium CLI, /etc/danube/config.yaml and the other files install wrote, and /usr/local/bin/danube with /usr/local/lib/danube. The keys (/etc/danube/keys), the agent token and the database (/var/lib/danube) and the danube user stay unless --purge. Each step prints ok, changed, skipped or failed; re-running continues after a failure.

${describeExitCodes('uninstall')}`

  static override examples = ['<%= config.bin %> uninstall --dry-run', '<%= config.bin %> uninstall --yes', '<%= config.bin %> uninstall --yes --purge']

  static override flags = {
    root: Flags.string({description: 'Remove files under this directory instead of /', default: '/'}),
    'dry-run': Flags.boolean({default: false, description: 'Print what would be removed and change nothing'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation (required without a terminal)'}),
    purge: Flags.boolean({description: 'Also remove the keys, the agent token, the database and the danube user'}),
    'k3s-timeout': Flags.string({description: 'Bound on k3s-uninstall.sh', default: '5m'}),
  }

  async run(): Promise<PlanResult> {
    const {flags} = this
    const k3sTimeoutMs = parseDuration(flags['k3s-timeout'], '--k3s-timeout')
    if (!flags['dry-run'] && !flags.yes) {
      if (!process.stdin.isTTY) throw usageError('danube uninstall changes this machine and needs confirmation', 'pass --yes for unattended runs, or --dry-run to see what would go')
      const {createInterface} = await import('node:readline/promises')
      const prompt = createInterface({input: process.stdin, output: process.stderr})
      const answer = await prompt.question(`Remove K3s, Cilium and the Danube agent${flags.purge ? ', with its keys and database,' : ''}? [y/N] `).finally(() => prompt.close())
      if (!/^y(es)?$/i.test(answer.trim())) throw usageError('not confirmed; nothing changed', 'pass --yes to skip the question')
    }
    const {runUninstall} = await import('../lib/install/uninstall.js')
    const view = await createInstallView(viewMode(this.jsonEnabled()))
    try {
      const result = await runUninstall({root: flags.root, dryRun: flags['dry-run'], purge: flags.purge, k3sTimeoutMs}, view)
      this.setExitCode(result.ok ? 0 : 1)
      return result
    } finally {
      view.stop()
    }
  }
}
