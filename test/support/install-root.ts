// A fake machine for `danube install --root`: the files preflight reads (/etc/os-release, /proc, /sys) of a
// fresh Ubuntu 22.04 server, and stand-in executables for what cannot run here (the upstream K3s installer,
// the cilium CLI, systemctl). The stand-ins do what the real ones leave behind on disk, log every call, and
// systemctl starts the real `danube agent` (bin/run.js) in the background, so `danube health` checks a real agent.

import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BIN} from './agent-process.js'
import {processIsLive} from './processes.js'

export interface FakeMachine {
  dir: string
  root: string
  /** Prepend to PATH: systemctl, and the k3s installer and cilium stand-ins passed by flag. */
  binDir: string
  k3sInstaller: string
  ciliumCli: string
  /** Every stand-in call, one line each: "systemctl start danube". */
  calls(): string[]
  /** The environment the K3s installer ran with (KEY=value lines). */
  k3sInstallerEnv(): string
  /** The env every install run needs so that health looks inside the root. */
  env: NodeJS.ProcessEnv
  /** Whether `cilium install` ran (a CNI now runs: the test marks the node Ready, as the kubelet would). */
  ciliumInstalled(): boolean
  /** Makes the next `cilium install` fail (true) or succeed again (false). */
  failCilium(on: boolean): void
  agentPid(): number | undefined
  cleanup(): Promise<void>
}

const FILES: Record<string, string> = {
  '/etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.5 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n',
  '/proc/meminfo': 'MemTotal:        4026532 kB\nMemFree:         3000000 kB\n',
  '/proc/cpuinfo': 'processor\t: 0\nmodel name\t: test\n\nprocessor\t: 1\nmodel name\t: test\n',
  '/proc/sys/kernel/osrelease': '5.15.0-91-generic\n',
  '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n',
  '/proc/sys/user/max_user_namespaces': '15000\n',
  '/proc/sys/kernel/unprivileged_userns_clone': '1\n',
  '/proc/net/tcp': '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n',
  '/proc/net/tcp6': '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n',
  '/proc/net/udp': '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n',
  '/proc/net/udp6': '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n',
  '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
  '/sys/module/apparmor/parameters/enabled': 'Y\n',
  '/etc/resolv.conf': 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n',
  '/run/systemd/resolve/resolv.conf': 'nameserver 192.0.2.53\n',
  '/etc/ufw/ufw.conf': 'ENABLED=no\nLOGLEVEL=low\n',
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
  '/etc/group': 'root:x:0:\n',
  '/etc/shadow': 'root:*:19000:0:99999:7:::\n',
  '/etc/gshadow': 'root:*::\n',
  '/usr/bin/bwrap': '#!/bin/sh\nexit 0\n',
  '/sbin/apparmor_parser': '#!/bin/sh\nexit 0\n',
}

function write(file: string, text: string, mode = 0o644): void {
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, text, {mode})
  chmodSync(file, mode)
}

export function makeFakeMachine(options: {kubeconfig: string; overrides?: Record<string, string | null>}): FakeMachine {
  const dir = mkdtempSync(path.join(tmpdir(), 'danube-install-'))
  const root = path.join(dir, 'root')
  const binDir = path.join(dir, 'bin')
  const log = path.join(dir, 'calls.log')
  const state = path.join(dir, 'state')
  mkdirSync(state, {recursive: true})
  mkdirSync(path.join(root, 'var/lib'), {recursive: true})
  for (const [file, text] of Object.entries({...FILES, ...options.overrides})) {
    if (text !== null) write(path.join(root, file), text, file.startsWith('/usr/bin') || file.startsWith('/sbin') ? 0o755 : 0o644)
  }
  writeFileSync(log, '')
  // The agent runs as the installed danube user: it must be able to reach the root.
  chmodSync(dir, 0o755)
  const agentEnv = {
    DANUBE_HOME: path.join(root, 'var/lib/danube'),
    DANUBE_AUTH_TOKEN_FILE: path.join(root, 'var/lib/danube/agent.token'),
    DANUBE_KUBERNETES_KUBECONFIG: path.join(root, 'etc/rancher/k3s/k3s.yaml'),
    DANUBE_HTTP_ADDR: '127.0.0.1:0',
    DANUBE_GRPC_ADDR: '127.0.0.1:0',
  }
  const exports = Object.entries(agentEnv).map(([k, v]) => `export ${k}='${v}'`).join('\n')

  // The upstream installer leaves a binary, a unit and the uninstall scripts; K3s, once running, writes the kubeconfig.
  const k3sInstaller = path.join(dir, 'k3s-install.sh')
  write(k3sInstaller, `#!/bin/sh
set -eu
echo "k3s-installer $*" >> '${log}'
env | sort > '${dir}/k3s-installer.env'
if [ -e '${dir}/fail-k3s' ]; then echo "[ERROR] Download failed: stand-in told to fail" >&2; exit 1; fi
printf '#!/bin/sh\\necho k3s version $INSTALL_K3S_VERSION\\n' > "$INSTALL_K3S_BIN_DIR/k3s"
chmod 755 "$INSTALL_K3S_BIN_DIR/k3s"
printf '#!/bin/sh\\nexit 0\\n' > "$INSTALL_K3S_BIN_DIR/k3s-uninstall.sh"
printf '#!/bin/sh\\nexit 0\\n' > "$INSTALL_K3S_BIN_DIR/k3s-killall.sh"
chmod 755 "$INSTALL_K3S_BIN_DIR/k3s-uninstall.sh" "$INSTALL_K3S_BIN_DIR/k3s-killall.sh"
mkdir -p "$INSTALL_K3S_SYSTEMD_DIR"
printf '[Service]\\nType=notify\\nExecStart=/usr/local/bin/k3s server\\n' > "$INSTALL_K3S_SYSTEMD_DIR/k3s.service"
mkdir -p '${root}/etc/rancher/k3s'
cp '${options.kubeconfig}' '${root}/etc/rancher/k3s/k3s.yaml'
# write-kubeconfig-mode 0640, write-kubeconfig-group danube
chown "0:$(awk -F: '$1 == "danube" { print $4 }' '${root}/etc/passwd')" '${root}/etc/rancher/k3s/k3s.yaml'
chmod 640 '${root}/etc/rancher/k3s/k3s.yaml'
touch '${state}/k3s.active' '${state}/k3s.enabled'
`, 0o755)

  const ciliumCli = path.join(dir, 'cilium')
  write(ciliumCli, `#!/bin/sh
echo "cilium $*" >> '${log}'
case "$1" in
  install|upgrade)
    if [ -e '${dir}/fail-cilium' ]; then echo "Error: Unable to install Cilium: timed out waiting for the operator" >&2; exit 1; fi
    touch '${state}/cilium.installed' ;;
  status) [ -e '${state}/cilium.installed' ] || { echo "cilium: not installed" >&2; exit 1; } ;;
esac
exit 0
`, 0o755)

  write(path.join(binDir, 'systemctl'), `#!/bin/sh
echo "systemctl $*" >> '${log}'
${exports}
verb=$1; shift
now=''
while [ $# -gt 1 ]; do case "$1" in --quiet) shift ;; --now) now=1; shift ;; *) break ;; esac; done
unit="\${1:-}"
set -- "$verb" "$unit"
running() { [ -e '${state}/danube.pid' ] && kill -0 "$(cat '${state}/danube.pid')" 2>/dev/null; }
# The unit runs the agent as danube, a user this host does not have (Node cannot run as a uid without a passwd
# entry): the stand-in runs it as root with root-owned copies of the installed token and signing key (the agent
# refuses a token or key owned by another user), so the CLI's requests with the installed token still authenticate.
start_agent() {
  install -m 0600 -o 0 -g 0 '${root}/var/lib/danube/agent.token' '${state}/agent.token'
  install -d -m 0700 -o 0 -g 0 '${state}/keys'
  install -m 0600 -o 0 -g 0 '${root}/etc/danube/keys/provenance.key' '${state}/keys/provenance.key'
  install -m 0644 -o 0 -g 0 '${root}/etc/danube/keys/provenance.pub' '${state}/keys/provenance.pub'
  DANUBE_AUTH_TOKEN_FILE='${state}/agent.token' DANUBE_KEYS_DIR='${state}/keys' nohup '${process.execPath}' '${BIN}' agent --config '${root}/etc/danube/config.yaml' > '${state}/agent.log' 2>&1 &
  echo $! > '${state}/danube.pid'
}
# Like systemctl stop: SIGTERM, then wait for the process to be gone (a zombie counts as gone).
stop_agent() {
  if running; then
    pid=$(cat '${state}/danube.pid')
    kill "$pid"
    i=0
    while [ $i -lt 600 ] && [ -r /proc/$pid/stat ] && ! grep -q ') [ZX] ' /proc/$pid/stat; do sleep 0.1; i=$((i + 1)); done
  fi
  rm -f '${state}/danube.pid'
}
case "$1" in
  daemon-reload) exit 0 ;;
  is-active)
    if [ "$unit" = danube ]; then running; exit $?; fi
    [ -e "${state}/$unit.active" ] ;;
  is-enabled) [ -e "${state}/$unit.enabled" ] ;;
  enable) touch "${state}/$unit.enabled" ;;
  disable) rm -f "${state}/$unit.enabled"; if [ -n "$now" ] && [ "$unit" = danube ]; then stop_agent; fi ;;
  start) if [ "$unit" = danube ]; then running || start_agent; else touch "${state}/$unit.active"; fi ;;
  restart) if [ "$unit" = danube ]; then stop_agent; sleep 0.2; start_agent; else touch "${state}/$unit.active"; fi ;;
  stop) if [ "$unit" = danube ]; then stop_agent; else rm -f "${state}/$unit.active"; fi ;;
  *) echo "systemctl stand-in: $1 not handled" >&2; exit 1 ;;
esac
`, 0o755)

  const machine: FakeMachine = {
    dir, root, binDir, k3sInstaller, ciliumCli,
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    k3sInstallerEnv: () => readFileSync(path.join(dir, 'k3s-installer.env'), 'utf8'),
    env: {...agentEnv, PATH: `${binDir}:${process.env.PATH}`, NO_COLOR: '1', DANUBE_CONFIG: ''},
    ciliumInstalled: () => existsSync(path.join(state, 'cilium.installed')),
    failCilium: (on) => (on ? writeFileSync(path.join(dir, 'fail-cilium'), '') : rmSync(path.join(dir, 'fail-cilium'), {force: true})),
    agentPid: () => {
      try {
        return Number(readFileSync(path.join(state, 'danube.pid'), 'utf8'))
      } catch {
        return undefined
      }
    },
    cleanup: async () => {
      const pid = machine.agentPid()
      if (pid && processIsLive(pid)) {
        process.kill(pid, 'SIGKILL')
        for (let i = 0; i < 100 && processIsLive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
  return machine
}

/** Every file under dir with its content hash, mode, owner and mtime: to show that a run rewrote nothing. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const full = path.join(current, name)
      const stat = statSync(full)
      const rel = path.relative(dir, full)
      if (stat.isDirectory()) {
        out[`${rel}/`] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`
        walk(full)
      } else {
        out[rel] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid} ${stat.mtimeMs} ${readFileSync(full).toString('base64')}`
      }
    }
  }
  walk(dir)
  return out
}
