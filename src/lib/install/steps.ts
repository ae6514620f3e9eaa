// Owns the steps of `danube install`, in the order they run: preflight → agent user → K3s (config, installer,
// API and node) → Cilium (CLI, install, node Ready) → namespaces → keys and secrets → Dex and registry →
// /etc/danube/config.yaml → systemd unit → agent → `danube health`. Each step's check reads the current state;
// its apply acts only on what differs. Every step names the docs/troubleshooting.md section to read on failure.

import {randomBytes} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {DanubeError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {ciliumValues, danubeConfig, k3sConfig, NETWORKD_DROP_IN} from './files.js'
import {InstallHost, type Owner, outputTail, sha256} from './host.js'
import {applyObjects, driftedObjects, loadManifests, manifestFiles} from './manifests.js'
import {AGENT_USER, type InstallOptions, NAMESPACES, PATHS} from './options.js'
import {type CheckResult, type Step, StepFailure} from './plan.js'
import {type PreflightResult, runPreflight} from './preflight.js'

export interface InstallContext {
  host: InstallHost
  options: InstallOptions
  /** Steps that changed something in this run (a changed unit or config means the agent restarts). */
  changed: Set<string>
  preflight?: PreflightResult[]
  /** The kube client over the K3s kubeconfig, made once it exists. */
  kube(): Promise<KubeClient>
  sleep(ms: number): Promise<void>
}

type InstallStep = Step<InstallContext>

const TROUBLE = 'docs/troubleshooting.md'
const section = (name: string) => `${TROUBLE}#${name}`

/** Polls until `probe` returns a value or the deadline passes; the last error explains a timeout. */
async function waitFor<T>(context: InstallContext, what: string, timeoutMs: number, probe: () => Promise<T | undefined>, hint: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = (error as Error).message
    }
    if (Date.now() >= deadline) throw new StepFailure('WAIT_TIMEOUT', `${what} within ${Math.round(timeoutMs / 1000)}s: ${last}`, {hint})
    await context.sleep(Math.min(2000, Math.max(100, deadline - Date.now())))
  }
}

/** uid and gid of the agent's user from <root>/etc/passwd, once it exists. */
export function agentOwner(host: InstallHost): Owner | undefined {
  const line = host.read('/etc/passwd')?.split('\n').find((entry) => entry.startsWith(`${AGENT_USER}:`))
  if (!line) return undefined
  const [, , uid, gid] = line.split(':')
  return {uid: Number(uid), gid: Number(gid)}
}

function mustOwner(host: InstallHost): Owner {
  const owner = agentOwner(host)
  if (!owner) throw new DanubeError('NO_AGENT_USER', `user ${AGENT_USER} does not exist`, {hint: 're-run danube install: its user step creates it'})
  return owner
}

const preflight: InstallStep = {
  id: 'preflight',
  title: 'Preflight checks',
  troubleshooting: section('preflight'),
  async check(context) {
    const {options, host} = context
    const ports = [options.httpAddr, options.grpcAddr].map((addr) => Number(addr.slice(addr.lastIndexOf(':') + 1)))
    const system = host.exists('/proc/meminfo') ? host : new InstallHost('/')
    context.preflight = runPreflight({host, system, forceOs: options.forceOs, agentPorts: ports}, options.skipPreflight)
    const failed = context.preflight.filter((result) => result.status === 'fail')
    const warned = context.preflight.filter((result) => result.status === 'warn')
    if (failed.length > 0) {
      const lines = failed.map((result) => `${result.id}: ${result.message}${result.fix ? ` (fix: ${result.fix})` : ''}`)
      throw new StepFailure('PREFLIGHT_FAILED', `${failed.length} preflight check(s) failed:\n  ${lines.join('\n  ')}`, {
        hint: `fix them and re-run, or skip one with --skip-preflight ${failed[0]!.id}`,
      })
    }
    const skipped = options.skipPreflight.length > 0 ? `; skipped: ${options.skipPreflight.join(', ')}` : ''
    return {state: 'ok', detail: `${context.preflight.length} checks passed${warned.length > 0 ? `, warnings: ${warned.map((w) => `${w.id} (${w.message})`).join('; ')}` : ''}${skipped}`}
  },
  async apply() {},
}

const agentUser: InstallStep = {
  id: 'user',
  title: `System user ${AGENT_USER}`,
  troubleshooting: section('preflight'),
  async check({host}) {
    return agentOwner(host) ? {state: 'ok', detail: `user ${AGENT_USER} exists`} : {state: 'needed', detail: `create system user and group ${AGENT_USER}`}
  },
  async apply({host}) {
    const rootArgs = host.root === '/' ? [] : ['--root', host.root]
    await host.mustRun('useradd', [...rootArgs, '--system', '--user-group', '--home-dir', PATHS.stateDir, '--no-create-home', '--shell', '/usr/sbin/nologin', AGENT_USER], {what: 'useradd'})
    return `created system user ${AGENT_USER}`
  },
}

const k3sConfigStep: InstallStep = {
  id: 'k3s-config',
  title: `K3s server flags in ${PATHS.k3sConfig}`,
  troubleshooting: section('k3s-restart-hangs'),
  async check({host}) {
    const wanted = k3sConfig()
    const current = host.read(PATHS.k3sConfig)
    if (current === wanted && host.fileMatches(PATHS.k3sConfig, wanted, 0o600)) return {state: 'ok'}
    return {state: 'needed', detail: current === undefined ? `write ${PATHS.k3sConfig}` : `update ${PATHS.k3sConfig}`}
  },
  async apply({host}) {
    host.writeFile(PATHS.k3sConfig, k3sConfig(), 0o600)
    // Written before Cilium exists, so networkd never removes its routes (docs/troubleshooting.md).
    host.writeFile(PATHS.networkdDropIn, NETWORKD_DROP_IN, 0o644)
  },
}

async function k3sActive(host: InstallHost): Promise<boolean> {
  return (await host.run('systemctl', ['is-active', '--quiet', 'k3s'])).exitCode === 0
}

function installedK3sVersion(host: InstallHost): string | undefined {
  // The installer records nothing else we can read without running k3s; the binary prints it.
  return host.read('/var/lib/danube/install/k3s-version')?.trim()
}

const k3s: InstallStep = {
  id: 'k3s',
  title: 'K3s',
  troubleshooting: section('k3s-restart-hangs'),
  async check(context) {
    const {host, options} = context
    const present = host.exists(PATHS.k3sBinary) && host.exists('/etc/systemd/system/k3s.service')
    const version = installedK3sVersion(host)
    if (present && version === options.k3sVersion && !context.changed.has('k3s-config') && (await k3sActive(host))) return {state: 'ok', detail: `K3s ${version} running`}
    if (present && version === options.k3sVersion && !context.changed.has('k3s-config')) return {state: 'needed', detail: 'start k3s'}
    return {state: 'needed', detail: `install K3s ${options.k3sVersion}${options.airgap ? ` from ${options.airgap}` : ''}`}
  },
  async apply(context) {
    const {host, options} = context
    const installer = await k3sInstaller(context)
    const env: Record<string, string> = {INSTALL_K3S_VERSION: options.k3sVersion}
    // The upstream installer expects both directories to exist (they always do on Ubuntu; not in a bare --root).
    for (const dir of ['/usr/local/bin', '/etc/systemd/system']) if (!host.exists(dir)) host.ensureDir(dir, 0o755)
    if (host.root !== '/') {
      env.INSTALL_K3S_BIN_DIR = host.path('/usr/local/bin')
      env.INSTALL_K3S_SYSTEMD_DIR = host.path('/etc/systemd/system')
    }
    if (options.airgap) {
      await stageAirgap(host, options.airgap)
      env.INSTALL_K3S_SKIP_DOWNLOAD = 'true'
    }
    // The installer copies every K3S_* variable it sees into its service's env file: it gets a clean
    // environment (PATH, HOME, locale) plus the INSTALL_K3S_* it needs, nothing of ours.
    await host.mustRun('sh', [installer], {env, timeoutMs: options.timeouts.k3sMs, what: 'the K3s installer',
      hint: `its unit has no start timeout; see journalctl -u k3s -n 200 (${section('k3s-restart-hangs')})`})
    host.writeFile('/var/lib/danube/install/k3s-version', `${options.k3sVersion}\n`, 0o644)
    return `installed K3s ${options.k3sVersion}`
  },
}

async function k3sInstaller(context: InstallContext): Promise<string> {
  const {options, host} = context
  if (options.k3sInstaller) {
    if (!existsSync(options.k3sInstaller)) throw new DanubeError('K3S_INSTALLER_MISSING', `--k3s-installer ${options.k3sInstaller} does not exist`, {exitCode: 2})
    return options.k3sInstaller
  }
  // Pinned to the release's tag, not get.k3s.io's moving copy; the installer itself checks the binary's SHA-256.
  const url = `https://raw.githubusercontent.com/k3s-io/k3s/${encodeURIComponent(options.k3sVersion)}/install.sh`
  const target = host.path('/var/lib/danube/install/k3s-install.sh')
  const response = await fetch(url).catch((error: unknown) => {
    throw new StepFailure('DOWNLOAD_FAILED', `cannot download the K3s installer from ${url}: ${(error as Error).message}`, {hint: 'offline: pass --k3s-installer FILE and --airgap DIR'})
  })
  if (!response.ok) throw new StepFailure('DOWNLOAD_FAILED', `downloading ${url} answered HTTP ${response.status}`, {hint: 'check --k3s-version, or pass --k3s-installer FILE'})
  host.writeFile('/var/lib/danube/install/k3s-install.sh', Buffer.from(await response.arrayBuffer()), 0o700)
  return target
}

async function stageAirgap(host: InstallHost, dir: string): Promise<void> {
  const entries = readdirSync(dir)
  const binary = entries.find((name) => /^k3s(-arm64)?$/.test(name))
  const images = entries.filter((name) => /^k3s-airgap-images-(amd64|arm64)\.tar(\.zst|\.gz)?$/.test(name))
  if (!binary || images.length === 0) {
    throw new DanubeError('AIRGAP_INCOMPLETE', `--airgap ${dir} must hold the k3s binary and k3s-airgap-images-<arch>.tar[.zst|.gz] of the same release`, {exitCode: 2})
  }
  const bytes = readFileSync(path.join(dir, binary))
  if (!host.fileMatches(PATHS.k3sBinary, bytes, 0o755)) host.writeFile(PATHS.k3sBinary, bytes, 0o755)
  for (const image of images) {
    const data = readFileSync(path.join(dir, image))
    const target = `${PATHS.k3sImages}/${image}`
    if (!host.fileMatches(target, data, 0o644)) host.writeFile(target, data, 0o644)
  }
}

const kubeApi: InstallStep = {
  id: 'kube-api',
  title: 'Kubernetes API and node object',
  troubleshooting: section('node-notready-before-cilium'),
  async check(context) {
    if (!context.host.exists(PATHS.k3sKubeconfig)) return {state: 'needed', detail: 'wait for the Kubernetes API and the node object'}
    try {
      const kube = await context.kube()
      const ready = await kube.readyz()
      const nodes = await kube.listNodes()
      if (ready.ready && nodes.items.length > 0) return {state: 'ok', detail: `API ready, node ${nodes.items[0]!.metadata?.name}`}
    } catch {
      // Not up yet: apply waits for it.
    }
    return {state: 'needed', detail: 'wait for the Kubernetes API and the node object'}
  },
  async apply(context) {
    const hint = 'see journalctl -u k3s -n 200 --no-pager'
    await waitFor(context, `${PATHS.k3sKubeconfig} did not appear`, context.options.timeouts.apiMs, async () => (context.host.exists(PATHS.k3sKubeconfig) ? true : undefined), hint)
    const kube = await context.kube()
    await waitFor(context, 'the API server did not become ready', context.options.timeouts.apiMs, async () => ((await kube.readyz()).ready ? true : undefined), hint)
    const node = await waitFor(context, 'no node object appeared', context.options.timeouts.apiMs,
      async () => (await kube.listNodes()).items[0]?.metadata?.name, hint)
    return `API ready, node ${node}`
  },
}

const ciliumCli: InstallStep = {
  id: 'cilium-cli',
  title: `cilium CLI in ${PATHS.ciliumCli}`,
  troubleshooting: section('node-notready-before-cilium'),
  async check({host, options}) {
    const source = ciliumCliBytes(options)
    if (source && host.fileMatches(PATHS.ciliumCli, source, 0o755)) return {state: 'ok'}
    if (!source && host.exists(PATHS.ciliumCli) && host.read('/var/lib/danube/install/cilium-cli-version')?.trim() === options.ciliumCliVersion) return {state: 'ok'}
    return {state: 'needed', detail: `install the cilium CLI ${options.ciliumCli ? `from ${options.ciliumCli}` : options.ciliumCliVersion}`}
  },
  async apply({host, options}) {
    const source = ciliumCliBytes(options) ?? (await downloadCiliumCli(host, options))
    host.writeFile(PATHS.ciliumCli, source, 0o755)
    host.writeFile('/var/lib/danube/install/cilium-cli-version', `${options.ciliumCliVersion}\n`, 0o644)
    return `installed the cilium CLI (sha256 ${sha256(source).slice(0, 12)}…)`
  },
}

/** cilium-linux-<arch>.tar.gz of the pinned CLI release, checked against the release's .sha256sum, then unpacked. */
async function downloadCiliumCli(host: InstallHost, options: InstallOptions): Promise<Buffer> {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64'
  const base = `https://github.com/cilium/cilium-cli/releases/download/${encodeURIComponent(options.ciliumCliVersion)}/cilium-linux-${arch}.tar.gz`
  const hint = `offline: download ${base} and its .sha256sum elsewhere, check with sha256sum -c, extract cilium and pass --cilium-cli ./cilium`
  const get = async (url: string): Promise<Buffer> => {
    const response = await fetch(url, {signal: AbortSignal.timeout(120_000)}).catch((error: unknown) => {
      throw new StepFailure('DOWNLOAD_FAILED', `cannot download ${url}: ${(error as Error).message}`, {hint})
    })
    if (!response.ok) throw new StepFailure('DOWNLOAD_FAILED', `downloading ${url} answered HTTP ${response.status}`, {hint: `check --cilium-cli-version; ${hint}`})
    return Buffer.from(await response.arrayBuffer())
  }
  const tarball = await get(base)
  const expected = (await get(`${base}.sha256sum`)).toString('utf8').trim().split(/\s+/)[0]
  if (expected !== sha256(tarball)) throw new StepFailure('CHECKSUM_MISMATCH', `cilium-linux-${arch}.tar.gz does not match its published sha256 (${expected})`, {hint})
  const dir = '/var/lib/danube/install/cilium-cli'
  host.writeFile(`${dir}/cilium.tar.gz`, tarball, 0o600)
  await host.mustRun('tar', ['-xzf', host.path(`${dir}/cilium.tar.gz`), '-C', host.path(dir), 'cilium'], {what: 'tar (cilium CLI)'})
  const binary = host.readBytes(`${dir}/cilium`)!
  host.remove(dir)
  return binary
}

function ciliumCliBytes(options: InstallOptions): Buffer | undefined {
  if (!options.ciliumCli) return undefined
  try {
    return readFileSync(options.ciliumCli)
  } catch (error) {
    throw new DanubeError('CILIUM_CLI_MISSING', `--cilium-cli ${options.ciliumCli}: ${(error as NodeJS.ErrnoException).code}`, {exitCode: 2})
  }
}

function kubeEnv(host: InstallHost): Record<string, string> {
  return {KUBECONFIG: host.path(PATHS.k3sKubeconfig)}
}

const cilium: InstallStep = {
  id: 'cilium',
  title: 'Cilium',
  troubleshooting: section('node-notready-before-cilium'),
  async check({host, options}) {
    if (!host.exists(PATHS.ciliumCli) || !host.exists(PATHS.k3sKubeconfig)) return {state: 'needed', detail: `install Cilium ${options.ciliumVersion}`}
    const status = await host.run(host.path(PATHS.ciliumCli), ['status', '-o', 'json'], {env: kubeEnv(host), timeoutMs: 60_000})
    if (status.exitCode === 0) {
      const version = host.read('/var/lib/danube/install/cilium-version')?.trim()
      if (version === options.ciliumVersion) return {state: 'ok', detail: `Cilium ${version} running`}
      if (version) return {state: 'needed', detail: `upgrade Cilium ${version} → ${options.ciliumVersion}`}
    }
    return {state: 'needed', detail: `install Cilium ${options.ciliumVersion}`}
  },
  async apply({host, options}) {
    const cli = host.path(PATHS.ciliumCli)
    const previous = host.read('/var/lib/danube/install/cilium-version')?.trim()
    const verb = previous && previous !== options.ciliumVersion ? 'upgrade' : 'install'
    const sets = ciliumValues().flatMap((value) => ['--set', value])
    await host.mustRun(cli, [verb, '--version', options.ciliumVersion, ...sets], {env: kubeEnv(host), timeoutMs: options.timeouts.ciliumMs, what: `cilium ${verb}`})
    const waitSeconds = Math.round(options.timeouts.ciliumMs / 1000)
    await host.mustRun(cli, ['status', '--wait', '--wait-duration', `${waitSeconds}s`, '--interactive=false'], {env: kubeEnv(host), timeoutMs: options.timeouts.ciliumMs + 30_000,
      what: 'cilium status --wait', hint: 'kubectl -n kube-system get pods -l k8s-app=cilium -o wide; kubectl -n kube-system logs ds/cilium'})
    host.writeFile('/var/lib/danube/install/cilium-version', `${options.ciliumVersion}\n`, 0o644)
    return `Cilium ${options.ciliumVersion} ${verb === 'upgrade' ? 'upgraded' : 'installed'} and ready`
  },
}

async function notReadyNodes(kube: KubeClient): Promise<string[]> {
  const {items} = await kube.listNodes()
  if (items.length === 0) return ['(no node)']
  return items.filter((node) => node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True').map((node) => node.metadata?.name ?? '?')
}

const nodeReady: InstallStep = {
  id: 'node-ready',
  title: 'Node Ready',
  troubleshooting: section('node-notready-before-cilium'),
  async check(context) {
    if (!context.host.exists(PATHS.k3sKubeconfig)) return {state: 'needed', detail: 'wait for the node to be Ready'}
    try {
      if ((await notReadyNodes(await context.kube())).length === 0) return {state: 'ok', detail: 'every node Ready'}
    } catch {
      // apply waits.
    }
    return {state: 'needed', detail: 'wait for the node to be Ready'}
  },
  async apply(context) {
    const kube = await context.kube()
    await waitFor(context, 'the node did not become Ready', context.options.timeouts.nodeReadyMs, async () => ((await notReadyNodes(kube)).length === 0 ? true : undefined),
      'kubectl describe node; cilium status')
    return 'node Ready'
  },
}

function manifestValues(options: InstallOptions): Record<string, string> {
  return {dexIssuer: options.dexIssuer || 'http://127.0.0.1:30556/dex'}
}

const MANIFEST_GROUPS = {
  namespaces: (file: string) => /^(00|10|20)-/.test(file),
  services: (file: string) => /^(30|40)-/.test(file),
}

function manifestStep(id: string, title: string, troubleshooting: string, group: (file: string) => boolean): InstallStep {
  const objects = (options: InstallOptions): KubeObject[] => {
    const dir = path.join(options.assetsDir, 'manifests')
    return loadManifests(dir, manifestFiles(dir).filter(group), manifestValues(options))
  }
  return {
    id, title, troubleshooting,
    async check(context) {
      const wanted = objects(context.options)
      if (!context.host.exists(PATHS.k3sKubeconfig)) return {state: 'needed', detail: `apply ${wanted.length} objects`}
      const drifted = await driftedObjects(await context.kube(), wanted)
      return drifted.length === 0 ? {state: 'ok', detail: `${wanted.length} objects in place`} : {state: 'needed', detail: `apply ${drifted.join(', ')}`}
    },
    async apply(context) {
      const applied = await applyObjects(await context.kube(), objects(context.options))
      return `applied ${applied.length} objects server-side`
    },
  }
}

const namespaces = manifestStep('namespaces', 'Namespaces, NetworkPolicy and RBAC', section('dex-or-registry-pods-not-ready'), MANIFEST_GROUPS.namespaces)
const dexAndRegistry = manifestStep('dex-registry', 'Dex and the registry', section('dex-or-registry-pods-not-ready'), MANIFEST_GROUPS.services)

/** A secret made once: 32 random bytes, 0600, owned by the agent's user; an existing one is kept. */
function secretFile(host: InstallHost, file: string, make: () => string, owner: Owner): 'kept' | 'fixed' | 'created' {
  const current = host.modeOf(file)
  if (current) {
    if (current.mode === 0o600 && current.uid === owner.uid && current.gid === owner.gid) return 'kept'
    host.setMode(file, 0o600, owner)
    return 'fixed'
  }
  host.writeFile(file, make(), 0o600, owner)
  return 'created'
}

function dexClientSecretObject(secret: string): KubeObject {
  return {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'dex-client', namespace: NAMESPACES.system, labels: {'app.kubernetes.io/name': 'dex', 'app.kubernetes.io/managed-by': 'danube'}},
    type: 'Opaque', data: {'client-secret': Buffer.from(secret).toString('base64')}}
}

const SECRET_FILES = [PATHS.tokenFile, PATHS.dexClientSecret] as const

const secrets: InstallStep = {
  id: 'secrets',
  title: 'Agent token and Dex client secret',
  troubleshooting: section('dex-or-registry-pods-not-ready'),
  async check(context) {
    const {host} = context
    const owner = agentOwner(host)
    const fileProblems = SECRET_FILES.filter((file) => {
      const mode = host.modeOf(file)
      return !mode || mode.mode !== 0o600 || !owner || mode.uid !== owner.uid
    })
    if (fileProblems.length > 0) return {state: 'needed', detail: `create or fix ${fileProblems.join(', ')} (0600, owner ${AGENT_USER})`}
    if (!host.exists(PATHS.k3sKubeconfig)) return {state: 'needed', detail: 'store the Dex client secret in Secret danube-system/dex-client'}
    const secret = host.read(PATHS.dexClientSecret)!.trim()
    const drifted = await driftedObjects(await context.kube(), [dexClientSecretObject(secret)])
    return drifted.length === 0 ? {state: 'ok', detail: 'token and Dex client secret in place (kept)'} : {state: 'needed', detail: 'store the Dex client secret in Secret danube-system/dex-client'}
  },
  async apply(context) {
    const {host} = context
    const owner = mustOwner(host)
    host.ensureDir(PATHS.stateDir, 0o750, owner)
    host.ensureDir(PATHS.keysDir, 0o700, owner)
    const token = secretFile(host, PATHS.tokenFile, () => `${randomBytes(32).toString('hex')}\n`, owner)
    const dex = secretFile(host, PATHS.dexClientSecret, () => `${randomBytes(32).toString('base64url')}\n`, owner)
    await applyObjects(await context.kube(), [dexClientSecretObject(host.read(PATHS.dexClientSecret)!.trim())])
    return `agent token ${token}, Dex client secret ${dex}, Secret danube-system/dex-client applied`
  },
}

/**
 * PROVENANCE KEYS — placeholder until the provenance stream's `danube keys generate` library lands on main:
 * then this step calls its generateKeyPair(PATHS.keysDir). Until then it runs install/gen-keys.sh when the
 * package ships one, and is skipped otherwise (the agent then signs nothing; `danube health` says so).
 */
const provenanceKeys: InstallStep = {
  id: 'provenance-keys',
  title: 'Provenance signing key pair',
  troubleshooting: section('provenance-verification-fails'),
  async check({host}) {
    const owner = agentOwner(host)
    const mode = host.modeOf(PATHS.provenanceKey)
    if (mode && mode.mode === 0o600 && owner && mode.uid === owner.uid) return {state: 'ok', detail: `${PATHS.provenanceKey} kept`}
    return {state: 'needed', detail: mode ? `fix ${PATHS.provenanceKey} (0600, owner ${AGENT_USER})` : `generate ${PATHS.provenanceKey} and provenance.pub`}
  },
  async apply({host}) {
    const owner = mustOwner(host)
    if (host.exists(PATHS.provenanceKey)) {
      host.setMode(PATHS.provenanceKey, 0o600, owner)
      return 'fixed the key\'s mode and owner'
    }
    host.ensureDir(PATHS.keysDir, 0o700, owner)
    // The same generator as `danube keys generate` (the provenance issue's format), loaded only for this step.
    const {generateKeyPair} = await import('../provenance/keys.js')
    const {publicKeyFile, keyId} = generateKeyPair(host.path(PATHS.keysDir))
    host.setMode(PATHS.provenanceKey, 0o600, owner)
    host.setMode(path.join(PATHS.keysDir, path.basename(publicKeyFile)), 0o644, owner)
    return `generated ${PATHS.provenanceKey} (key id ${keyId})`
  },
}

function unifiedDiff(before: string, after: string, name: string): string {
  const a = before.split('\n')
  const b = after.split('\n')
  // Hand-written: a line diff of two small files; no diff package is a dependency, and spawning diff(1)
  // would make the plan depend on diffutils.
  const out = [`--- ${name} (on disk)`, `+++ ${name} (danube install)`]
  const common = lcs(a, b)
  let i = 0
  let j = 0
  for (const [ai, bj] of [...common, [a.length, b.length] as const]) {
    while (i < ai) out.push(`-${a[i++]}`)
    while (j < bj) out.push(`+${b[j++]}`)
    if (i < a.length && j < b.length) out.push(` ${a[i]}`)
    i++
    j++
  }
  return out.join('\n')
}

function lcs(a: string[], b: string[]): Array<readonly [number, number]> {
  const table = Array.from({length: a.length + 1}, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) table[i]![j] = a[i] === b[j] ? table[i + 1]![j + 1]! + 1 : Math.max(table[i + 1]![j]!, table[i]![j + 1]!)
  const pairs: Array<readonly [number, number]> = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      pairs.push([i, j])
      i++
      j++
    } else if (table[i + 1]![j]! >= table[i]![j + 1]!) i++
    else j++
  }
  return pairs
}

const configFile: InstallStep = {
  id: 'config',
  title: PATHS.config,
  troubleshooting: section('preflight'),
  async check({host, options}) {
    const wanted = danubeConfig(options)
    const current = host.read(PATHS.config)
    const owner = agentOwner(host)
    if (current === undefined) return {state: 'needed', detail: `write ${PATHS.config}`}
    if (current === wanted) {
      const mode = host.modeOf(PATHS.config)
      return mode?.mode === 0o640 && (!owner || mode.gid === owner.gid) ? {state: 'ok'} : {state: 'needed', detail: `fix the mode of ${PATHS.config} (0640, group ${AGENT_USER})`}
    }
    const diff = unifiedDiff(current, wanted, PATHS.config)
    if (!options.force) return {state: 'skipped', detail: `${PATHS.config} differs from what the flags describe and was kept (operator edits); pass --force to replace it`, diff}
    return {state: 'needed', detail: `replace ${PATHS.config} (--force)`, diff}
  },
  async apply(context) {
    const {host, options} = context
    const owner = mustOwner(host)
    host.ensureDir(PATHS.configDir, 0o750, {uid: 0, gid: owner.gid})
    host.writeFile(PATHS.config, danubeConfig(options), 0o640, {uid: 0, gid: owner.gid})
  },
}

const unit: InstallStep = {
  id: 'unit',
  title: `systemd unit ${PATHS.unit}`,
  troubleshooting: section('agent-does-not-start'),
  async check({host, options}) {
    const wanted = readFileSync(path.join(options.assetsDir, 'danube.service'))
    return host.fileMatches(PATHS.unit, wanted, 0o644) ? {state: 'ok'} : {state: 'needed', detail: `${host.exists(PATHS.unit) ? 'update' : 'install'} ${PATHS.unit}`}
  },
  async apply({host, options}) {
    host.writeFile(PATHS.unit, readFileSync(path.join(options.assetsDir, 'danube.service')), 0o644)
    await host.mustRun('systemctl', ['daemon-reload'], {what: 'systemctl daemon-reload'})
  },
}

const agent: InstallStep = {
  id: 'agent',
  title: 'Agent (danube.service)',
  troubleshooting: section('agent-does-not-start'),
  async check({host, changed}) {
    const enabled = (await host.run('systemctl', ['is-enabled', '--quiet', 'danube'])).exitCode === 0
    const active = (await host.run('systemctl', ['is-active', '--quiet', 'danube'])).exitCode === 0
    const restart = changed.has('unit') || changed.has('config') || changed.has('secrets') || changed.has('provenance-keys')
    if (enabled && active && !restart) return {state: 'ok', detail: 'danube.service enabled and active'}
    if (active && restart) return {state: 'needed', detail: 'restart danube.service (its unit, config or keys changed)'}
    return {state: 'needed', detail: 'enable and start danube.service'}
  },
  async apply({host, changed}) {
    const hint = 'journalctl -u danube -n 100 --no-pager; systemctl status danube'
    const active = (await host.run('systemctl', ['is-active', '--quiet', 'danube'])).exitCode === 0
    await host.mustRun('systemctl', ['enable', 'danube'], {what: 'systemctl enable danube', hint})
    const restart = active && (changed.has('unit') || changed.has('config') || changed.has('secrets') || changed.has('provenance-keys'))
    await host.mustRun('systemctl', [restart ? 'restart' : 'start', 'danube'], {what: `systemctl ${restart ? 'restart' : 'start'} danube`, hint, timeoutMs: 120_000})
    return restart ? 'restarted danube.service' : 'enabled and started danube.service'
  },
}

const health: InstallStep = {
  id: 'health',
  title: 'danube health',
  troubleshooting: section('agent-does-not-start'),
  async check(context) {
    if (!context.host.exists(PATHS.config) || context.changed.has('agent')) return {state: 'needed', detail: 'wait for danube health to report OK'}
    const result = await runHealth(context)
    return result.exitCode === 0 ? {state: 'ok', detail: firstLine(result.stdout)} : {state: 'needed', detail: 'wait for danube health to report OK'}
  },
  async apply(context) {
    let last = {exitCode: 3, stdout: '', stderr: ''}
    const deadline = Date.now() + context.options.timeouts.healthMs
    for (;;) {
      last = await runHealth(context)
      if (last.exitCode === 0) return firstLine(last.stdout)
      if (Date.now() >= deadline) break
      await context.sleep(2000)
    }
    throw new StepFailure('HEALTH_NOT_OK', `danube health did not report OK within ${Math.round(context.options.timeouts.healthMs / 1000)}s (exit ${last.exitCode})`, {
      outputTail: outputTail(`${last.stdout}\n${last.stderr}`), hint: 'run danube health to see which check fails',
    })
  },
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? ''
}

async function runHealth({host, options}: InstallContext): Promise<{exitCode: number; stdout: string; stderr: string}> {
  const [command, ...args] = options.danubeCommand
  // The installed config plus the installer's own DANUBE_* and KUBECONFIG (how tests point it into a --root).
  return host.run(command!, [...args, 'health', '--config', host.path(PATHS.config), '--timeout', '10s'], {
    timeoutMs: 30_000, env: Object.fromEntries(Object.entries(process.env).filter(([name]) => /^(DANUBE_|KUBECONFIG$)/.test(name) && name !== 'DANUBE_CONFIG')) as Record<string, string>,
  })
}

export const INSTALL_STEPS: readonly InstallStep[] = [
  preflight, agentUser, k3sConfigStep, k3s, kubeApi, ciliumCli, cilium, nodeReady, namespaces, secrets, provenanceKeys, dexAndRegistry, configFile, unit, agent, health,
]

export type {CheckResult}
