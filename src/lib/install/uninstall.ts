// Owns `danube uninstall`: removes what `danube install` and install.sh created, in the safe order (the agent
// first; Cilium's interfaces and iptables rules before K3s's own uninstall script, or the host can lose its
// network), keeping the keys, the agent token and the database unless purge. Same step machinery as install:
// each step checks first, so a re-run continues where a failed one stopped.

import {readdirSync} from 'node:fs'

import {InstallHost} from './host.js'
import {AGENT_USER, PATHS} from './options.js'
import {type PlanListener, type PlanResult, runPlan, type Step} from './plan.js'
import {agentOwner} from './steps.js'

export interface UninstallOptions {
  root: string
  dryRun: boolean
  /** Also remove the keys, the token, the database and the danube user. */
  purge: boolean
  k3sTimeoutMs: number
}

interface UninstallContext {
  host: InstallHost
  /** The running system's /sys (this machine's when --root has none). */
  system: InstallHost
  options: UninstallOptions
}

type UninstallStep = Step<UninstallContext>

const CILIUM_LINKS = ['cilium_host', 'cilium_net', 'cilium_vxlan'] as const
const LIB_DIR = '/usr/local/lib/danube'

/** Files install created that go on every uninstall (the keys and state are separate: purge). */
const CREATED_FILES = [
  PATHS.config, PATHS.networkdDropIn, '/var/lib/danube/install', PATHS.ciliumCli, '/etc/cni/net.d/05-cilium.conflist', '/etc/sysctl.d/99-zzz-override_cilium.conf',
] as const
/** Directories the removed files lived in, removed once empty (Cilium creates /etc/cni/net.d). */
const EMPTIED_DIRS = ['/etc/cni/net.d', '/etc/cni', '/etc/systemd/networkd.conf.d', '/etc/rancher', '/var/lib/rancher'] as const
const PURGED = [PATHS.keysDir, PATHS.stateDir, PATHS.configDir] as const

const section = (name: string) => `docs/troubleshooting.md#${name}`

const agent: UninstallStep = {
  id: 'agent',
  title: 'Stop and disable danube.service',
  troubleshooting: section('agent-does-not-start'),
  async check({host}) {
    if (!host.exists(PATHS.unit)) return {state: 'ok', detail: 'no danube.service'}
    const active = (await host.run('systemctl', ['is-active', '--quiet', 'danube'])).exitCode === 0
    const enabled = (await host.run('systemctl', ['is-enabled', '--quiet', 'danube'])).exitCode === 0
    return active || enabled ? {state: 'needed', detail: 'stop and disable danube.service'} : {state: 'ok', detail: 'danube.service stopped and disabled'}
  },
  async apply({host}) {
    // Stopping gives running jobs shutdownGracePeriod; systemd's TimeoutStopSec bounds it.
    await host.mustRun('systemctl', ['disable', '--now', 'danube'], {what: 'systemctl disable --now danube', timeoutMs: 120_000})
  },
}

const unit: UninstallStep = {
  id: 'unit',
  title: `Remove ${PATHS.unit}`,
  troubleshooting: section('agent-does-not-start'),
  async check({host}) {
    return host.exists(PATHS.unit) ? {state: 'needed', detail: `remove ${PATHS.unit}`} : {state: 'ok'}
  },
  async apply({host}) {
    host.remove(PATHS.unit)
    await host.mustRun('systemctl', ['daemon-reload'], {what: 'systemctl daemon-reload'})
  },
}

function ciliumLinks(system: InstallHost): string[] {
  let names: string[] = []
  try {
    names = readdirSync(system.path('/sys/class/net'))
  } catch {
    // No /sys/class/net: nothing to delete.
  }
  return CILIUM_LINKS.filter((link) => names.includes(link))
}

const ciliumNetwork: UninstallStep = {
  id: 'cilium-network',
  title: 'Cilium interfaces and iptables rules',
  troubleshooting: section('node-notready-before-cilium'),
  async check({system}) {
    const links = ciliumLinks(system)
    const rules = await ciliumRules(system)
    if (links.length === 0 && rules.length === 0) return {state: 'ok', detail: 'no Cilium interfaces or rules'}
    return {state: 'needed', detail: `delete ${[...links, ...rules.map((family) => `${family} CILIUM rules`)].join(', ')}`}
  },
  async apply({system}) {
    for (const link of ciliumLinks(system)) await system.mustRun('ip', ['link', 'delete', link], {what: `ip link delete ${link}`})
    for (const family of await ciliumRules(system)) {
      const saved = await system.mustRun(`${family}-save`, [], {what: `${family}-save`})
      const kept = saved.stdout.split('\n').filter((line) => !/cilium/i.test(line)).join('\n')
      // The rules go through stdin, as `iptables-save | grep -iv cilium | iptables-restore` would.
      await system.mustRun(`${family}-restore`, [], {input: `${kept}\n`, what: `${family}-restore`})
    }
  },
}

/** iptables families whose saved rules mention Cilium (none when iptables is not installed). */
async function ciliumRules(system: InstallHost): Promise<string[]> {
  const families: string[] = []
  for (const family of ['iptables', 'ip6tables']) {
    try {
      const saved = await system.run(`${family}-save`, [], {timeoutMs: 30_000})
      if (saved.exitCode === 0 && /cilium/i.test(saved.stdout)) families.push(family)
    } catch {
      // Not installed.
    }
  }
  return families
}

const k3s: UninstallStep = {
  id: 'k3s',
  title: 'K3s (its own k3s-uninstall.sh)',
  troubleshooting: section('k3s-restart-hangs'),
  async check({host}) {
    return host.exists(PATHS.k3sUninstall) ? {state: 'needed', detail: `run ${PATHS.k3sUninstall}`} : {state: 'ok', detail: 'no K3s'}
  },
  async apply({host, options}) {
    await host.mustRun('sh', [host.path(PATHS.k3sUninstall)], {what: 'k3s-uninstall.sh', timeoutMs: options.k3sTimeoutMs})
    // The script removes /etc/rancher/k3s too; under --root it cannot know the prefix, so make sure.
    host.remove('/etc/rancher/k3s')
    host.remove(PATHS.k3sUninstall)
  },
}

const files: UninstallStep = {
  id: 'files',
  title: 'Files danube install wrote',
  troubleshooting: section('agent-does-not-start'),
  async check({host}) {
    const present = [...CREATED_FILES.filter((file) => host.exists(file)), ...EMPTIED_DIRS.filter((dir) => isEmptyDir(host, dir))]
    return present.length === 0 ? {state: 'ok'} : {state: 'needed', detail: `remove ${present.join(', ')}`}
  },
  async apply({host}) {
    for (const file of CREATED_FILES) host.remove(file)
    for (const dir of EMPTIED_DIRS) if (isEmptyDir(host, dir)) host.remove(dir)
  },
}

const purge: UninstallStep = {
  id: 'purge',
  title: 'Keys, token, database and the danube user',
  troubleshooting: section('locked-database'),
  async check({host, options}) {
    const present = [...PURGED.filter((file) => host.exists(file)), ...(agentOwner(host) ? [`user ${AGENT_USER}`] : [])]
    if (!options.purge) return present.length === 0 ? {state: 'ok'} : {state: 'skipped', detail: `kept ${present.join(', ')} (pass --purge to remove them)`}
    return present.length === 0 ? {state: 'ok'} : {state: 'needed', detail: `remove ${present.join(', ')}`}
  },
  async apply({host}) {
    for (const file of PURGED) host.remove(file)
    if (agentOwner(host)) await host.mustRun('userdel', [...(host.root === '/' ? [] : ['--root', host.root]), AGENT_USER], {what: `userdel ${AGENT_USER}`})
  },
}

const program: UninstallStep = {
  id: 'program',
  title: `${PATHS.danubeBinary} and ${LIB_DIR}`,
  troubleshooting: section('agent-does-not-start'),
  async check({host}) {
    const present = [PATHS.danubeBinary, LIB_DIR].filter((file) => host.exists(file))
    return present.length === 0 ? {state: 'ok'} : {state: 'needed', detail: `remove ${present.join(', ')}`}
  },
  async apply({host}) {
    // This process may be running from LIB_DIR: Linux keeps open files of a removed directory readable.
    host.remove(PATHS.danubeBinary)
    host.remove(LIB_DIR)
  },
}

function isEmptyDir(host: InstallHost, dir: string): boolean {
  try {
    return readdirSync(host.path(dir)).length === 0
  } catch {
    return false
  }
}

export const UNINSTALL_STEPS: readonly UninstallStep[] = [agent, unit, ciliumNetwork, k3s, files, purge, program]

export async function runUninstall(options: UninstallOptions, listener?: PlanListener): Promise<PlanResult> {
  const host = new InstallHost(options.root)
  const system = host.exists('/sys/class/net') ? host : new InstallHost('/')
  return runPlan(UNINSTALL_STEPS, {host, system, options}, {dryRun: options.dryRun, ...(listener ? {listener} : {})})
}
