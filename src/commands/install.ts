import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {createInstallView} from '../cli/install-render.js'
import {viewMode} from '../cli/drain-render.js'
import {parseDuration} from '../lib/duration.js'
import {usageError} from '../lib/errors.js'
import {ASSETS_DIR, DANUBE_BIN} from '../lib/install/assets.js'
import type {InstallResult} from '../lib/install/index.js'
import {PINNED} from '../lib/install/options.js'
import {PREFLIGHT_IDS} from '../lib/install/preflight.js'

export default class InstallCommand extends BaseCommand<typeof InstallCommand> {
  static override summary = 'Install K3s with Cilium, Dex, the registry and the agent under systemd on this machine'
  static override description = `Runs the install steps in order: preflight, the ${'danube'} user, K3s (flags in /etc/rancher/k3s/config.yaml), the Kubernetes API and node, the cilium CLI, Cilium, node Ready, namespaces, the agent token and Dex client secret, the provenance key pair, Dex and the registry, /etc/danube/config.yaml, the systemd unit, the agent, and danube health. Each step reads the current state and changes only what differs, printing ok, changed, skipped or failed: running it again changes nothing, and after a failure it resumes. Preflight reports every failed check together before anything changes. An edited /etc/danube/config.yaml is kept (the difference is shown) unless --force. Details: docs/install.md.

${describeExitCodes('install')}`

  static override examples = [
    '<%= config.bin %> install --dry-run',
    '<%= config.bin %> install --yes --cilium-cli ./cilium',
    '<%= config.bin %> install --yes --k3s-installer ./k3s-install.sh --airgap ./k3s-airgap --cilium-cli ./cilium',
    '<%= config.bin %> install --root /tmp/image --dry-run --json',
  ]

  static override flags = {
    root: Flags.string({description: 'Put every file under this directory instead of /', default: '/'}),
    'dry-run': Flags.boolean({default: false, description: 'Print the whole plan (what each step would change) and change nothing'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation (unattended runs; required without a terminal)'}),
    force: Flags.boolean({description: 'Replace an edited /etc/danube/config.yaml with what the flags describe (the difference is shown)'}),
    'force-os': Flags.boolean({description: 'Continue on an operating system other than Ubuntu 22.04 (or Debian 12, accepted for testing)'}),
    'skip-preflight': Flags.string({description: 'Leave out one preflight check; repeatable', multiple: true, options: [...PREFLIGHT_IDS]}),
    'k3s-version': Flags.string({description: 'K3s release to install (INSTALL_K3S_VERSION)', default: PINNED.k3s}),
    'k3s-installer': Flags.string({description: 'The upstream K3s install.sh (offline); default: downloaded from the release tag'}),
    airgap: Flags.string({description: 'Directory with the k3s binary and k3s-airgap-images-<arch>.tar[.zst|.gz] (INSTALL_K3S_SKIP_DOWNLOAD)'}),
    'cilium-version': Flags.string({description: 'Cilium release to install', default: PINNED.cilium}),
    'cilium-cli': Flags.string({description: 'The cilium CLI binary (offline); default: its release tarball, checked against the published .sha256sum'}),
    'cilium-cli-version': Flags.string({description: 'cilium CLI release the binary comes from', default: PINNED.ciliumCli}),
    'http-addr': Flags.string({description: 'The agent\'s HTTP address, written to the config file (http.addr)', default: '127.0.0.1:7480'}),
    'grpc-addr': Flags.string({description: 'The agent\'s gRPC address, written to the config file (grpc.addr)', default: '127.0.0.1:7481'}),
    'dex-issuer': Flags.string({description: 'Dex issuer URL (health.dex.issuer); empty leaves the discovery check off', default: 'http://127.0.0.1:30556/dex'}),
    'registry-url': Flags.string({description: 'Registry base URL (health.registry.url); empty leaves the registry check off', default: 'http://127.0.0.1:30500'}),
    'k3s-timeout': Flags.string({description: 'Bound on the K3s installer (its unit has no start timeout)', default: '5m'}),
    'api-timeout': Flags.string({description: 'Bound on waiting for the Kubernetes API and the node object', default: '3m'}),
    'cilium-timeout': Flags.string({description: 'Bound on cilium install and cilium status --wait', default: '10m'}),
    'node-timeout': Flags.string({description: 'Bound on waiting for the node to be Ready', default: '5m'}),
    'health-timeout': Flags.string({description: 'Bound on waiting for danube health to report OK', default: '2m'}),
  }

  async run(): Promise<InstallResult> {
    const {flags} = this
    const options = {
      root: flags.root, dryRun: flags['dry-run'], force: flags.force, forceOs: flags['force-os'], skipPreflight: flags['skip-preflight'] ?? [],
      k3sVersion: flags['k3s-version'], k3sInstaller: flags['k3s-installer'], airgap: flags.airgap,
      ciliumVersion: flags['cilium-version'], ciliumCli: flags['cilium-cli'], ciliumCliVersion: flags['cilium-cli-version'],
      httpAddr: flags['http-addr'], grpcAddr: flags['grpc-addr'], dexIssuer: flags['dex-issuer'], registryUrl: flags['registry-url'],
      timeouts: {
        k3sMs: parseDuration(flags['k3s-timeout'], '--k3s-timeout'), apiMs: parseDuration(flags['api-timeout'], '--api-timeout'),
        ciliumMs: parseDuration(flags['cilium-timeout'], '--cilium-timeout'), nodeReadyMs: parseDuration(flags['node-timeout'], '--node-timeout'),
        healthMs: parseDuration(flags['health-timeout'], '--health-timeout'),
      },
      assetsDir: ASSETS_DIR, danubeCommand: [process.execPath, DANUBE_BIN],
    }
    const {checkInstallOptions, confirmInstall} = await import('../lib/install/confirm.js')
    checkInstallOptions(options)
    if (!options.dryRun && !flags.yes) {
      if (!process.stdin.isTTY) throw usageError('danube install changes this machine and needs confirmation', 'pass --yes for unattended runs, or --dry-run to see the plan')
      if (!(await confirmInstall(options.root))) throw usageError('not confirmed; nothing changed', 'pass --yes to skip the question')
    }
    const {runInstall} = await import('../lib/install/index.js')
    const view = await createInstallView(viewMode(this.jsonEnabled()))
    try {
      const result = await runInstall(options, view)
      this.setExitCode(result.ok ? 0 : 1)
      return result
    } finally {
      view.stop()
    }
  }
}
