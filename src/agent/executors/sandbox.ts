// Owns the bubblewrap sandbox local steps run in: which paths a step must not see, the bwrap command line
// that gives it new PID, IPC and UTS namespaces, a read-only host root, its own work directory writable,
// a private /tmp, a fresh /proc and a minimal /dev; probing once at start whether that sandbox can be
// created (and why not, with the fix); and ending a sandbox with everything in it.
// bwrap is driven directly: no library wraps it, and its command line is the whole interface.

import {execFile} from 'node:child_process'
import {accessSync, constants, readFileSync, readdirSync, readlinkSync, realpathSync, statSync} from 'node:fs'
import path from 'node:path'

import type {DanubeConfig} from '../../lib/config/index.js'
import {DanubeError, EXIT_USAGE} from '../../lib/errors.js'

export type SandboxSetting = DanubeConfig['jobs']['local']['sandbox']
export type SandboxNetwork = DanubeConfig['jobs']['local']['network']
/** What steps actually run in: the effective value of jobs.local.sandbox. */
export type SandboxMode = 'bubblewrap' | 'none'

/** How the local executor isolates steps, as the agent logs it, `danube status` shows it and provenance records it. */
export interface Isolation {
  mode: SandboxMode
  setting: SandboxSetting
  network: SandboxNetwork
  /** Why steps run unsandboxed (mode none), in words an operator can act on. */
  reason?: string
  /** What to change to get the sandbox (mode none under auto). */
  fix?: string
}

/**
 * Paths outside the job's own work directory that K3s keeps its credentials in (the admin kubeconfig, the
 * server token and TLS keys, containerd's socket): a step that could read them would own the cluster.
 */
export const K3S_SECRET_PATHS = ['/etc/rancher', '/var/lib/rancher', '/run/k3s'] as const

/** Every path a sandboxed step must not see, for this configuration. */
export function hiddenPathsFor(config: DanubeConfig, configFile?: string): string[] {
  return [
    config.stateDir,
    '/etc/danube',
    config.keys.dir,
    config.auth.tokenFile,
    ...(config.kubernetes.kubeconfig ? [config.kubernetes.kubeconfig] : []),
    ...(configFile ? [configFile] : []),
    ...K3S_SECRET_PATHS,
    ...config.jobs.local.hiddenPaths,
  ].map((entry) => path.resolve(entry))
}

/** Live processes in the PID namespace with this inode (as /proc/<pid>/ns/pid names it), by host pid. */
export function namespaceMembers(pidNamespace: number): number[] {
  const wanted = `pid:[${pidNamespace}]`
  const members: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== wanted) continue
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (!/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) members.push(Number(entry))
    } catch {
      // Gone meanwhile, or another user's process: not one of ours.
    }
  }
  return members
}

/** What bwrap reports on --info-fd once the sandbox is set up. */
export interface SandboxInfo {
  /** Host pid of the sandbox's PID 1 (bwrap's reaper): when it dies, the kernel kills every process in the namespace. */
  childPid: number
  pidNamespace: number
}

export function parseSandboxInfo(text: string): SandboxInfo | undefined {
  try {
    const info = JSON.parse(text) as {'child-pid'?: unknown; 'pid-namespace'?: unknown}
    if (typeof info['child-pid'] === 'number' && typeof info['pid-namespace'] === 'number') return {childPid: info['child-pid'], pidNamespace: info['pid-namespace']}
  } catch {
    // bwrap wrote nothing (it failed before the sandbox existed) or was killed mid-write.
  }
  return undefined
}

export interface SandboxOptions {
  /** Absolute path of bwrap, as found on the agent's PATH. */
  bwrap: string
  network: SandboxNetwork
  /** Paths to hide; missing ones and those under /tmp (private anyway) are skipped when the command is built. */
  hidden: readonly string[]
  /** Without root, namespaces need a user namespace of their own (and nested ones are then refused). */
  privileged: boolean
}

export class Sandbox {
  readonly mode = 'bubblewrap' as const

  constructor(readonly options: SandboxOptions) {}

  /**
   * The bwrap arguments (up to and including `--`) for a step whose work directory is workDir (kept
   * writable at its own path, on top of the hidden state directory) and whose working directory is cwd.
   * bwrap applies them in order: the read-only root first, then the masks, then the work directory, then
   * the masks are made read-only (a remount does not reach the mounts under it).
   */
  args(workDir: string, cwd: string, extra: {infoFd?: number} = {}): string[] {
    const {network, privileged} = this.options
    const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp']
    const masks = this.masks()
    for (const mask of masks) args.push(...(mask.kind === 'dir' ? ['--tmpfs', mask.path] : ['--ro-bind', '/dev/null', mask.path]))
    args.push('--bind', workDir, workDir)
    for (const mask of masks) if (mask.kind === 'dir') args.push('--remount-ro', mask.path)
    args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts')
    if (!privileged) args.push('--unshare-user', '--disable-userns')
    if (network === 'none') args.push('--unshare-net')
    // no_new_privs is set by bwrap itself (always, with or without setuid).
    if (extra.infoFd !== undefined) args.push('--info-fd', String(extra.infoFd))
    args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--chdir', cwd, '--')
    return args
  }

  /**
   * Masks in mount order: existing paths only (bwrap cannot create a mount point in the read-only root),
   * each resolved through symlinks, none under /tmp (private in the sandbox) and none inside another mask.
   */
  private masks(): {path: string; kind: 'dir' | 'file'}[] {
    const found = new Map<string, 'dir' | 'file'>()
    for (const entry of this.options.hidden) {
      let real: string
      try {
        real = realpathSync(entry)
      } catch {
        // Missing: nothing to hide. Unreadable by the agent's user: a step, the same user with fewer rights, cannot read it either.
        continue
      }
      if (real === '/' || within(real, '/tmp') || within(real, '/proc') || within(real, '/dev')) continue
      found.set(real, statSync(real).isDirectory() ? 'dir' : 'file')
    }
    const sorted = [...found.keys()].sort()
    return sorted.filter((candidate) => !sorted.some((other) => other !== candidate && found.get(other) === 'dir' && within(candidate, other))).map((p) => ({path: p, kind: found.get(p)!}))
  }
}

function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`)
}

export interface PrepareSandboxOptions {
  setting: SandboxSetting
  network: SandboxNetwork
  hidden: readonly string[]
  /** The agent's PATH, where bwrap is looked for. */
  pathEnv?: string
  /** An existing directory the probe binds as a step's work directory (the state dir's work/). */
  probeDir: string
  privileged?: boolean
  /** Root of the sysctl tree the diagnosis reads (tests point it at a directory of their own). */
  procSys?: string
}

export type PreparedSandbox = {sandbox: Sandbox; isolation: Isolation} | {sandbox: undefined; isolation: Isolation}

/**
 * Decides, once at agent start, where steps run: `none` runs them unsandboxed; `auto` and `bubblewrap` probe
 * the exact sandbox steps will get (`sh -c true` inside it). A failed probe under `bubblewrap` refuses to
 * start with the cause and the fix; under `auto` it runs unsandboxed and says why.
 */
export async function prepareSandbox(options: PrepareSandboxOptions): Promise<PreparedSandbox> {
  const {setting, network} = options
  if (setting === 'none' && network === 'none') {
    throw new DanubeError('CONFIG_INVALID', 'jobs.local.network is none but jobs.local.sandbox is none: only the sandbox can take a step off the network', {
      exitCode: EXIT_USAGE,
      hint: 'set jobs.local.sandbox to bubblewrap (or auto), or jobs.local.network to host',
    })
  }
  if (setting === 'none') {
    return {sandbox: undefined, isolation: {mode: 'none', setting, network, reason: 'jobs.local.sandbox is none', fix: 'set jobs.local.sandbox to bubblewrap (or auto)'}}
  }
  const privileged = options.privileged ?? process.getuid?.() === 0
  const failure = (cause: string, fix: string): PreparedSandbox => {
    if (setting === 'bubblewrap') {
      throw new DanubeError('SANDBOX_UNAVAILABLE', `jobs.local.sandbox is bubblewrap but the sandbox cannot be created: ${cause}`, {hint: `${fix}; or set jobs.local.sandbox to auto to run steps unsandboxed`})
    }
    // Falling back must not quietly put a step meant to be offline on the network.
    const offline = network === 'none' ? '; jobs.local.network none is not enforced either' : ''
    return {sandbox: undefined, isolation: {mode: 'none', setting, network, reason: `${cause}${offline}`, fix}}
  }
  const bwrap = findOnPath('bwrap', options.pathEnv ?? process.env.PATH ?? '')
  if (!bwrap) return failure('bubblewrap (bwrap) is not installed or not on PATH', 'install it (apt-get install bubblewrap)')
  const sandbox = new Sandbox({bwrap, network, hidden: options.hidden, privileged})
  const probe = await runProbe(bwrap, [...sandbox.args(options.probeDir, options.probeDir), '/bin/sh', '-c', 'true'])
  if (probe.ok) return {sandbox, isolation: {mode: 'bubblewrap', setting, network}}
  const diagnosis = diagnoseProbeFailure(probe.stderr, {privileged, procSys: options.procSys ?? '/proc/sys'})
  return failure(diagnosis.cause, diagnosis.fix)
}

function runProbe(bwrap: string, args: string[]): Promise<{ok: true} | {ok: false; stderr: string}> {
  return new Promise((resolve) => {
    execFile(bwrap, args, {timeout: 10_000, killSignal: 'SIGKILL', env: {PATH: '/usr/bin:/bin'}}, (error, _stdout, stderr) => {
      resolve(error ? {ok: false, stderr: stderr.trim() || error.message} : {ok: true})
    })
  })
}

/** Why bubblewrap could not create the sandbox, and what to change: the user-namespace sysctls first, since they are the usual cause. */
export function diagnoseProbeFailure(stderr: string, context: {privileged: boolean; procSys: string}): {cause: string; fix: string} {
  const said = stderr.split('\n').find(Boolean)?.slice(0, 300) ?? 'no output'
  if (!context.privileged) {
    const sysctl = (name: string) => {
      try {
        return readFileSync(path.join(context.procSys, ...name.split('.')), 'utf8').trim()
      } catch {
        return undefined
      }
    }
    const persist = 'and persist it in /etc/sysctl.d/'
    if (sysctl('kernel.apparmor_restrict_unprivileged_userns') === '1') {
      return {
        cause: `unprivileged user namespaces are restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1; bwrap said: ${said})`,
        fix: `allow them for bwrap with an AppArmor profile granting "userns" to /usr/bin/bwrap, or run sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 ${persist}`,
      }
    }
    if (sysctl('kernel.unprivileged_userns_clone') === '0') {
      return {cause: `unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0; bwrap said: ${said})`, fix: `run sysctl -w kernel.unprivileged_userns_clone=1 ${persist}`}
    }
    if (sysctl('user.max_user_namespaces') === '0') {
      return {cause: `user namespaces are disabled (user.max_user_namespaces = 0; bwrap said: ${said})`, fix: `run sysctl -w user.max_user_namespaces=15000 ${persist}`}
    }
  }
  return {cause: `bwrap failed: ${said}`, fix: 'see "The sandbox will not start" in docs/troubleshooting.md'}
}

function findOnPath(name: string, pathEnv: string): string | undefined {
  for (const dir of pathEnv.split(':').filter((entry) => entry.startsWith('/'))) {
    const candidate = path.join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isDirectory()) continue
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}
