// Owns the preflight checks of `danube install`: every check runs and all failures are reported together
// before anything on the system changes. Each reads the system through InstallHost (files under --root:
// /etc/os-release, /proc, /sys), so tests give it a fake root. `--skip-preflight ID` drops a check.

import {readdirSync, statfsSync} from 'node:fs'
import {arch as processArch} from 'node:os'

import type {InstallHost} from './host.js'

export type PreflightStatus = 'pass' | 'warn' | 'fail'

export interface PreflightResult {
  id: string
  status: PreflightStatus
  message: string
  /** What to do about a warn or fail. */
  fix?: string
}

export interface PreflightContext {
  /** Files of the installation (under --root). */
  host: InstallHost
  /** The running system's /proc and /sys: the root's own when it has them, else this machine's. */
  system: InstallHost
  /** Accept an OS other than Ubuntu 22.04 / Debian 12 (--force-os). */
  forceOs: boolean
  /** Ports danube's own agent will use (from --http-addr / --grpc-addr). */
  agentPorts: number[]
  arch?: string
}

interface PreflightCheck {
  id: string
  run(context: PreflightContext): PreflightResult | Omit<PreflightResult, 'id'>
}

const GIB = 1024 ** 3
export const MIN_KERNEL = [5, 10] as const
export const MIN_MEMORY_BYTES = 2 * GIB
export const MIN_CPUS = 2
export const MIN_FREE_DISK_BYTES = 10 * GIB
/** K3s API, its local load balancer, the kubelet, Cilium health and VXLAN. */
export const CLUSTER_PORTS = [{port: 6443, proto: 'tcp', owner: 'k3s'}, {port: 6444, proto: 'tcp', owner: 'k3s'}, {port: 10250, proto: 'tcp', owner: 'k3s'},
  {port: 4240, proto: 'tcp', owner: 'cilium'}, {port: 8472, proto: 'udp', owner: 'cilium'}] as const

/** Marker files that say a component is already ours (a re-run), so its ports being in use is expected. */
const OWNED_BY: Record<string, string> = {
  k3s: '/etc/rancher/k3s/config.yaml',
  cilium: '/etc/cni/net.d/05-cilium.conflist',
  danube: '/etc/systemd/system/danube.service',
}
export const K3S_CONFIG_MARKER = '# Written by danube install'

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = line.match(/^([A-Z0-9_]+)=(.*)$/)
    if (match) out[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2')
  }
  return out
}

function meminfo(host: InstallHost, field: string): number | undefined {
  const match = host.read('/proc/meminfo')?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return match ? Number(match[1]) * 1024 : undefined
}

/** Listening sockets from /proc/net/{tcp,tcp6,udp,udp6} (what ss reads): a set of "proto/port". */
export function listeningPorts(host: InstallHost): Set<string> {
  const found = new Set<string>()
  for (const [file, proto] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    const text = host.read(`/proc/net/${file}`)
    for (const line of text?.split('\n').slice(1) ?? []) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 4) continue
      const port = Number.parseInt(fields[1]!.split(':').at(-1)!, 16)
      // TCP state 0A is LISTEN; an unconnected UDP socket is 07.
      if ((proto === 'tcp' && fields[3] === '0A') || (proto === 'udp' && fields[3] === '07')) found.add(`${proto}/${port}`)
    }
  }
  return found
}

function nameservers(text: string | undefined): string[] {
  return [...(text ?? '').matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!)
}

const isLoopback = (address: string) => address.startsWith('127.') || address === '::1'

const CHECKS: PreflightCheck[] = [
  {id: 'os', run: ({host, forceOs}) => {
    const text = host.read('/etc/os-release') ?? host.read('/usr/lib/os-release')
    if (!text) return {status: 'fail', message: 'cannot read /etc/os-release', fix: 'run on Ubuntu 22.04'}
    const os = parseOsRelease(text)
    const name = `${os.ID ?? '?'} ${os.VERSION_ID ?? '?'}`
    if (os.ID === 'ubuntu' && os.VERSION_ID === '22.04') return {status: 'pass', message: `Ubuntu 22.04 (${os.PRETTY_NAME ?? name})`}
    if (os.ID === 'debian' && os.VERSION_ID === '12') return {status: 'warn', message: 'Debian 12: accepted for testing; Ubuntu 22.04 is the supported OS'}
    if (forceOs) return {status: 'warn', message: `${name}: not supported, continuing because of --force-os`}
    return {status: 'fail', message: `${name} is not supported`, fix: 'install on Ubuntu 22.04, or pass --force-os to try anyway'}
  }},
  {id: 'arch', run: ({arch}) => {
    const value = arch ?? processArch()
    return value === 'x64' || value === 'arm64'
      ? {status: 'pass', message: value === 'x64' ? 'amd64' : 'arm64'}
      : {status: 'fail', message: `architecture ${value} is not supported`, fix: 'use an amd64 or arm64 machine'}
  }},
  {id: 'kernel', run: ({system: host}) => {
    const release = host.read('/proc/sys/kernel/osrelease')?.trim() ?? ''
    const [major = 0, minor = 0] = release.split(/[.-]/).map(Number)
    const okay = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1])
    return okay ? {status: 'pass', message: `kernel ${release}`}
      : {status: 'fail', message: `kernel ${release || 'unknown'} is older than ${MIN_KERNEL.join('.')}, which Cilium needs`, fix: 'install the HWE kernel: apt install linux-generic-hwe-22.04, then reboot'}
  }},
  {id: 'memory', run: ({system: host}) => {
    const total = meminfo(host, 'MemTotal')
    if (total === undefined) return {status: 'fail', message: 'cannot read MemTotal from /proc/meminfo'}
    // Firmware and the kernel keep some memory: a "2 GiB" machine reports a little less.
    return total >= MIN_MEMORY_BYTES * 0.9 ? {status: 'pass', message: `${(total / GIB).toFixed(1)} GiB memory`}
      : {status: 'fail', message: `${(total / GIB).toFixed(1)} GiB memory, at least 2 GiB needed`, fix: 'give the machine at least 2 GiB (4 GiB recommended)'}
  }},
  {id: 'cpus', run: ({system: host}) => {
    const count = (host.read('/proc/cpuinfo')?.match(/^processor\s*:/gm) ?? []).length
    return count >= MIN_CPUS ? {status: 'pass', message: `${count} CPUs`} : {status: 'fail', message: `${count} CPU(s), at least ${MIN_CPUS} needed`, fix: 'give the machine at least 2 CPUs'}
  }},
  {id: 'disk', run: ({host}) => {
    let free: number
    try {
      const stat = statfsSync(host.exists('/var') ? host.path('/var') : host.root)
      free = stat.bavail * stat.bsize
    } catch {
      return {status: 'fail', message: 'cannot read the free space under /var'}
    }
    return free >= MIN_FREE_DISK_BYTES ? {status: 'pass', message: `${(free / GIB).toFixed(0)} GiB free under /var`}
      : {status: 'fail', message: `${(free / GIB).toFixed(1)} GiB free under /var, at least 10 GiB needed (images, registry, job artifacts)`, fix: 'free space or grow the /var file system'}
  }},
  {id: 'cgroup-v2', run: ({system: host}) => {
    const controllers = host.read('/sys/fs/cgroup/cgroup.controllers')
    if (controllers === undefined) return {status: 'fail', message: 'cgroup v2 is not mounted at /sys/fs/cgroup', fix: 'boot with the unified hierarchy (Ubuntu 22.04 default; remove systemd.unified_cgroup_hierarchy=0 from the kernel command line)'}
    const missing = ['cpu', 'cpuset', 'memory', 'pids'].filter((name) => !controllers.split(/\s+/).includes(name))
    return missing.length === 0 ? {status: 'pass', message: 'cgroup v2'} : {status: 'fail', message: `cgroup v2 lacks controllers: ${missing.join(', ')}`}
  }},
  {id: 'ports', run: ({host, system, agentPorts}) => {
    const listening = listeningPorts(system)
    const busy: string[] = []
    const wanted = [...CLUSTER_PORTS, ...agentPorts.filter((port) => port > 0).map((port) => ({port, proto: 'tcp', owner: 'danube'}))]
    for (const {port, proto, owner} of wanted) {
      if (listening.has(`${proto}/${port}`) && !host.exists(OWNED_BY[owner]!)) busy.push(`${port}/${proto}`)
    }
    return busy.length === 0 ? {status: 'pass', message: `ports ${wanted.map((p) => p.port).join(', ')} free or already ours`}
      : {status: 'fail', message: `ports in use by something else: ${busy.join(', ')}`, fix: 'find the owner with: ss -ltnup, and stop it (or pass --http-addr/--grpc-addr for the agent ports)'}
  }},
  {id: 'swap', run: ({system: host}) => {
    const swaps = (host.read('/proc/swaps') ?? '').trim().split('\n').slice(1).filter(Boolean)
    return swaps.length === 0 ? {status: 'pass', message: 'no swap'}
      : {status: 'warn', message: `swap is on (${swaps.length} device(s)); the kubelet tolerates it, but memory limits of job pods are less predictable`, fix: 'swapoff -a and remove swap from /etc/fstab'}
  }},
  {id: 'existing-k3s', run: ({host}) => {
    const binary = host.exists('/usr/local/bin/k3s')
    const ours = host.read('/etc/rancher/k3s/config.yaml')?.startsWith(K3S_CONFIG_MARKER) ?? false
    if (binary && !ours) return {status: 'fail', message: 'K3s is already installed, not by danube (/usr/local/bin/k3s without danube\'s /etc/rancher/k3s/config.yaml)', fix: 'uninstall it with /usr/local/bin/k3s-uninstall.sh, or install on a fresh machine'}
    return {status: 'pass', message: ours ? 'K3s installed by danube (re-run)' : 'no K3s yet'}
  }},
  {id: 'cni', run: ({host}) => {
    const entries = listDir(host, '/etc/cni/net.d').filter((name) => !name.includes('cilium'))
    return entries.length === 0 ? {status: 'pass', message: 'no other CNI configured'}
      : {status: 'fail', message: `another CNI is configured in /etc/cni/net.d: ${entries.join(', ')}`, fix: 'remove the other CNI (its files in /etc/cni/net.d) before installing Cilium'}
  }},
  {id: 'apparmor', run: ({host, system}) => {
    const enabled = system.read('/sys/module/apparmor/parameters/enabled')?.trim() === 'Y'
    const parser = ['/sbin/apparmor_parser', '/usr/sbin/apparmor_parser'].some((file) => host.exists(file))
    if (!enabled || parser) return {status: 'pass', message: enabled ? 'AppArmor enabled, apparmor_parser present' : 'AppArmor not enabled'}
    return {status: 'fail', message: 'AppArmor is enabled but apparmor_parser is missing: every pod would fail with CreateContainerError', fix: 'apt install apparmor'}
  }},
  {id: 'dns', run: ({host}) => {
    const servers = nameservers(host.read('/etc/resolv.conf'))
    if (servers.length > 0 && !servers.every(isLoopback)) return {status: 'pass', message: `resolvers: ${servers.join(', ')}`}
    const upstream = nameservers(host.read('/run/systemd/resolve/resolv.conf')).filter((s) => !isLoopback(s))
    if (upstream.length > 0) return {status: 'pass', message: `systemd-resolved stub; K3s uses the upstream resolvers ${upstream.join(', ')} from /run/systemd/resolve/resolv.conf`}
    return {status: 'fail', message: 'only a loopback resolver and no upstream in /run/systemd/resolve/resolv.conf: CoreDNS would fall back to 8.8.8.8', fix: 'configure an upstream DNS server (netplan nameservers, or DNS= in /etc/systemd/resolved.conf)'}
  }},
  {id: 'ufw', run: ({host}) => {
    const active = /^\s*ENABLED\s*=\s*yes/m.test(host.read('/etc/ufw/ufw.conf') ?? '')
    return !active ? {status: 'pass', message: 'ufw not active'}
      : {status: 'fail', message: 'ufw is active and would block the cluster\'s traffic', fix: 'ufw disable, or: ufw allow 6443/tcp; ufw allow 10250/tcp; ufw allow 4240/tcp; ufw allow 8472/udp; ufw allow from 10.42.0.0/16; ufw allow from 10.43.0.0/16'}
  }},
  {id: 'bubblewrap', run: ({host}) => host.exists('/usr/bin/bwrap')
    ? {status: 'pass', message: 'bubblewrap present'}
    : {status: 'fail', message: 'bubblewrap (/usr/bin/bwrap) is missing; the local executor sandboxes jobs with it (jobs.local.sandbox: bubblewrap)', fix: 'apt install bubblewrap'}},
  {id: 'user-namespaces', run: ({system: host}) => {
    const max = Number(host.read('/proc/sys/user/max_user_namespaces')?.trim() ?? '0')
    const clone = host.read('/proc/sys/kernel/unprivileged_userns_clone')?.trim()
    const restricted = host.read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')?.trim() === '1'
    if (max > 0 && clone !== '0' && !restricted) return {status: 'pass', message: `unprivileged user namespaces enabled (max ${max})`}
    return {status: 'fail', message: `unprivileged user namespaces are off (${max === 0 ? 'user.max_user_namespaces = 0' : clone === '0' ? 'kernel.unprivileged_userns_clone = 0' : 'kernel.apparmor_restrict_unprivileged_userns = 1'}); bubblewrap needs them`,
      fix: 'sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1, and persist it in /etc/sysctl.d/'}
  }},
]

export const PREFLIGHT_IDS: readonly string[] = CHECKS.map((check) => check.id)

function listDir(host: InstallHost, absolute: string): string[] {
  try {
    return readdirSync(host.path(absolute))
  } catch {
    return []
  }
}

export function runPreflight(context: PreflightContext, skip: readonly string[]): PreflightResult[] {
  return CHECKS.filter((check) => !skip.includes(check.id)).map((check) => {
    try {
      return {id: check.id, ...check.run(context)}
    } catch (error) {
      return {id: check.id, status: 'fail' as const, message: `check failed: ${(error as Error).message}`}
    }
  })
}
