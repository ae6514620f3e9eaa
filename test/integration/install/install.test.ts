// `danube install --root <temp dir>` end to end on a fake Ubuntu 22.04 machine: stand-ins for the K3s
// installer, the cilium CLI and systemctl; the project's Kubernetes client against the test API server;
// the real agent started by the systemctl stand-in and checked by the real `danube health`.
import {execFile, execFileSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {BIN} from '../../support/agent-process.js'
import {type FakeMachine, makeFakeMachine, snapshotTree} from '../../support/install-root.js'
import {KubeApiServer} from '../../support/kube-api-server.js'
import {runningPod} from '../../support/kube/pods.js'
import {processIsLive} from '../../support/processes.js'
import {parseAs} from '../../support/schemas.js'

interface Report {
  ok: boolean
  dryRun: boolean
  steps: Array<{id: string; outcome: string; detail: string; planned?: boolean; diff?: string; troubleshooting?: string; error?: {message: string; outputTail?: string}}>
  notRun: string[]
  preflight: Array<{id: string; status: string; message: string}>
}

const STEPS = ['preflight', 'user', 'k3s-config', 'k3s', 'kube-api', 'cilium-cli', 'cilium', 'node-ready', 'namespaces', 'secrets', 'provenance-keys', 'dex-registry', 'config', 'unit', 'agent', 'health']

let server: KubeApiServer
let kubeconfig: string
let machine: FakeMachine
let kubelet: NodeJS.Timeout

function install(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'install', '--root', machine.root, '--yes', '--k3s-installer', machine.k3sInstaller, '--cilium-cli', machine.ciliumCli,
      '--dex-issuer', '', '--registry-url', '', '--health-timeout', '60s', ...args],
    {env: {...process.env, ...machine.env, ...env}, timeout: 120_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}

async function installJson(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{code: number; report: Report; stderr: string}> {
  const result = await install(['--json', ...args], env)
  try {
    return {code: result.code, report: parseAs<Report>('install', result.stdout), stderr: result.stderr}
  } catch (error) {
    throw new Error(`${(error as Error).message.split('\n').slice(0, 4).join('\n')} (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
  }
}

const outcomes = (report: Report) => Object.fromEntries(report.steps.map((step) => [step.id, step.outcome]))

beforeEach(async () => {
  server = new KubeApiServer()
  await server.start()
  kubeconfig = server.writeKubeconfig()
  // NotReady ("cni plugin not initialized") until Cilium is installed, as with flannel-backend: none.
  server.applied.addNode('danube-test-node', false)
  // Dex and the registry as their Deployments would run them (the test API server has no controllers).
  server.createNamespace('danube-system')
  server.createPod('danube-system', runningPod({name: 'dex-5d9c7b8f6-abcde', labels: {'app.kubernetes.io/name': 'dex'}}))
  server.createPod('danube-system', runningPod({name: 'registry-7f8d9c6b5-fghij', labels: {'app.kubernetes.io/name': 'registry'}}))
  machine = makeFakeMachine({kubeconfig})
  // The node turns Ready only after the first node list that follows `cilium install` (the node-ready step's check
  // sees NotReady, as it would while Cilium's agent starts), so that step always has to wait.
  let listsAtCiliumInstall: number | undefined
  kubelet = setInterval(() => {
    if (!machine.ciliumInstalled()) return
    const lists = server.countRequests({method: 'GET', path: /^\/api\/v1\/nodes$/})
    listsAtCiliumInstall ??= lists
    if (lists > listsAtCiliumInstall) server.applied.setNodeReady('danube-test-node', true)
  }, 20)
})

afterEach(async () => {
  clearInterval(kubelet)
  await machine.cleanup()
  await server.stop()
  rmSync(path.dirname(kubeconfig), {recursive: true, force: true})
})

describe('danube install --root', {timeout: 120_000}, () => {
  it('changes every step on a fresh machine, then a second run is all ok and rewrites no file', async () => {
    const first = await installJson([], {K3S_TOKEN: 'stray-token-from-the-operator-shell', K3S_URL: 'https://elsewhere:6443'})
    expect(first.code, JSON.stringify(first.report.steps.filter((s) => s.outcome === 'failed'))).toBe(0)
    expect(first.report.steps.map((s) => s.id)).toEqual(STEPS)
    const expected = Object.fromEntries(STEPS.map((id) => [id, 'changed']))
    // Preflight only reads; the stand-in K3s serves its API as soon as its installer returns, so there is no wait.
    expect(outcomes(first.report)).toEqual({...expected, preflight: 'ok', 'kube-api': 'ok'})
    expect(first.report.steps.find((s) => s.id === 'node-ready')!.detail).toBe('node Ready')
    expect(machine.calls()).toContain('cilium install --version 1.20.2 --set ipam.operator.clusterPoolIPv4PodCIDRList=10.42.0.0/16 --set kubeProxyReplacement=true --set k8sServiceHost=127.0.0.1 --set k8sServicePort=6444 --set operator.replicas=1')
    // The installer persists K3S_* it sees into its unit's env file: it must see none of the caller's.
    expect(machine.k3sInstallerEnv()).not.toMatch(/^K3S_/m)
    expect(machine.k3sInstallerEnv()).toMatch(/^INSTALL_K3S_VERSION=v1\.36\.4\+k3s1$/m)

    const before = snapshotTree(machine.root)
    const callsBefore = machine.calls().length
    const second = await installJson()
    expect(second.code).toBe(0)
    expect(outcomes(second.report)).toEqual(Object.fromEntries(STEPS.map((id) => [id, 'ok'])))
    // Only reads: status queries, no installer, no cilium install, no restart.
    expect(machine.calls().slice(callsBefore).filter((call) => !/^(systemctl is-|cilium status)/.test(call))).toEqual([])
    const after = snapshotTree(machine.root)
    // The running agent writes its database; everything the installer owns is byte-for-byte (and mtime) unchanged.
    const installerFiles = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([file]) => !/^var\/lib\/danube\/(danube\.db|logs|artifacts|work|cac)/.test(file)))
    expect(installerFiles(after)).toEqual(installerFiles(before))
  })

  it('writes the K3s flags to config.yaml, secrets 0600 owned by danube, and the unit 0644', async () => {
    const {code} = await installJson()
    expect(code).toBe(0)
    const k3s = readFileSync(path.join(machine.root, 'etc/rancher/k3s/config.yaml'), 'utf8')
    for (const line of ['flannel-backend: none', 'disable-network-policy: true', 'disable-kube-proxy: true', 'cluster-cidr: 10.42.0.0/16', 'write-kubeconfig-group: danube']) expect(k3s).toContain(line)
    const passwd = readFileSync(path.join(machine.root, 'etc/passwd'), 'utf8').split('\n').find((line) => line.startsWith('danube:'))!
    const [, , uid, gid] = passwd.split(':').map((field, i) => (i >= 2 && i <= 3 ? Number(field) : field))
    for (const secret of ['var/lib/danube/agent.token', 'etc/danube/keys/dex-client-secret', 'etc/danube/keys/provenance.key']) {
      const stat = statSync(path.join(machine.root, secret))
      expect({file: secret, mode: (stat.mode & 0o777).toString(8), uid: stat.uid, gid: stat.gid}).toEqual({file: secret, mode: '600', uid, gid})
    }
    expect((statSync(path.join(machine.root, 'etc/danube/keys')).mode & 0o777).toString(8)).toBe('700')
    // The provenance key pair in the provenance issue's format: openssl reads both.
    execFileSync('openssl', ['pkey', '-in', path.join(machine.root, 'etc/danube/keys/provenance.key'), '-noout'])
    execFileSync('openssl', ['pkey', '-pubin', '-in', path.join(machine.root, 'etc/danube/keys/provenance.pub'), '-noout'])
    expect((statSync(path.join(machine.root, 'etc/systemd/system/danube.service')).mode & 0o777).toString(8)).toBe('644')
    expect(readFileSync(path.join(machine.root, 'etc/systemd/system/danube.service'), 'utf8')).toBe(readFileSync(path.join(BIN, '../../install/danube.service'), 'utf8'))
    const config = statSync(path.join(machine.root, 'etc/danube/config.yaml'))
    expect({mode: (config.mode & 0o777).toString(8), uid: config.uid, gid: config.gid}).toEqual({mode: '640', uid: 0, gid})
    // The client secret reached the cluster as Secret danube-system/dex-client, never argv or output.
    const secret = readFileSync(path.join(machine.root, 'etc/danube/keys/dex-client-secret'), 'utf8').trim()
    expect(server.applied.get('secrets', 'danube-system', 'dex-client')?.data).toEqual({'client-secret': Buffer.from(secret).toString('base64')})
    expect(machine.calls().join('\n')).not.toContain(secret)
  })

  it('stops at a failed step with its output and the section to read, and a re-run resumes from there', async () => {
    machine.failCilium(true)
    const failed = await install()
    expect(failed.code).toBe(1)
    expect(failed.stdout).toMatch(/^failed +cilium +cilium install exited with status 1$/m)
    expect(failed.stdout).toContain('Error: Unable to install Cilium: timed out waiting for the operator')
    expect(failed.stdout).toContain('read: docs/troubleshooting.md#node-notready-before-cilium')
    expect(failed.stdout).not.toMatch(/^\S+ +node-ready/m)
    expect(machine.calls().filter((call) => call.startsWith('k3s-installer'))).toHaveLength(1)

    machine.failCilium(false)
    const resumed = await installJson()
    expect(resumed.code).toBe(0)
    const steps = outcomes(resumed.report)
    expect([steps.user, steps['k3s-config'], steps.k3s, steps['kube-api'], steps['cilium-cli']]).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect([steps.cilium, steps['node-ready'], steps.namespaces, steps.config, steps.unit, steps.agent, steps.health]).toEqual(['changed', 'changed', 'changed', 'changed', 'changed', 'changed', 'changed'])
    // K3s was installed once: the resumed run did not run its installer again.
    expect(machine.calls().filter((call) => call.startsWith('k3s-installer'))).toHaveLength(1)
  })

  it('reports every failed preflight check together and changes nothing', async () => {
    await machine.cleanup()
    machine = makeFakeMachine({kubeconfig, overrides: {
      '/proc/sys/kernel/osrelease': '5.4.0-150-generic\n', '/proc/meminfo': 'MemTotal:        1000000 kB\n',
      '/etc/ufw/ufw.conf': 'ENABLED=yes\n', '/usr/bin/bwrap': null, '/sys/fs/cgroup/cgroup.controllers': null,
    }})
    const before = snapshotTree(machine.root)
    const {code, report} = await installJson()
    expect(code).toBe(1)
    expect(report.steps.map((s) => s.outcome)).toEqual(['failed'])
    expect(report.preflight.filter((check) => check.status === 'fail').map((check) => check.id)).toEqual(['kernel', 'memory', 'cgroup-v2', 'ufw', 'bubblewrap'])
    const message = report.steps[0]!.detail
    for (const id of ['kernel', 'memory', 'cgroup-v2', 'ufw', 'bubblewrap']) expect(message).toContain(`${id}: `)
    expect(snapshotTree(machine.root)).toEqual(before)
    expect(machine.calls()).toEqual([])

    const skipped = await installJson(['--skip-preflight', 'kernel', '--skip-preflight', 'memory', '--skip-preflight', 'cgroup-v2', '--skip-preflight', 'ufw', '--skip-preflight', 'bubblewrap', '--dry-run'])
    expect(skipped.report.steps[0]).toMatchObject({id: 'preflight', outcome: 'ok'})
  })

  it('--dry-run prints the whole plan of a fresh install and leaves the root byte-identical', async () => {
    const before = snapshotTree(machine.root)
    const result = await install(['--dry-run'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const lines = result.stdout.trim().split('\n').filter((line) => /^\S/.test(line))
    expect(lines.map((line) => line.split(/\s+/)[1])).toEqual(STEPS)
    expect(result.stdout).toMatch(/^plan +k3s +would install K3s v1\.36\.4\+k3s1$/m)
    expect(result.stdout).toMatch(/^plan +unit +would install \/etc\/systemd\/system\/danube\.service$/m)
    expect(snapshotTree(machine.root)).toEqual(before)
    expect(machine.calls().filter((call) => !/^systemctl is-/.test(call))).toEqual([])
    expect(server.applied.get('networkpolicies', 'danube-jobs', 'danube-jobs-egress')).toBeUndefined()
  })

  it('keeps an operator-edited config file and shows the difference; --force replaces it', async () => {
    expect((await installJson()).code).toBe(0)
    const file = path.join(machine.root, 'etc/danube/config.yaml')
    const edited = `${readFileSync(file, 'utf8')}cac:\n  branch: production\n`
    writeFileSync(file, edited)
    const kept = await installJson()
    expect(kept.code).toBe(0)
    const step = kept.report.steps.find((s) => s.id === 'config')!
    expect(step.outcome).toBe('skipped')
    expect(step.diff).toContain('-cac:')
    expect(step.diff).toContain('-  branch: production')
    expect(readFileSync(file, 'utf8')).toBe(edited)

    const forced = await installJson(['--force'])
    expect(forced.report.steps.find((s) => s.id === 'config')!.outcome).toBe('changed')
    expect(readFileSync(file, 'utf8')).not.toContain('production')
  })

  it('refuses to run unattended without --yes, naming the flag', async () => {
    const result = await new Promise<{code: number; stderr: string}>((resolve) => {
      execFile(process.execPath, [BIN, 'install', '--root', machine.root], {env: {...process.env, ...machine.env}}, (error, _stdout, stderr) =>
        resolve({code: error ? Number(error.code) : 0, stderr}))
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('pass --yes for unattended runs')
  })
})

describe('danube uninstall --root', {timeout: 120_000}, () => {
  it('removes what install created and keeps the keys, token and database; --purge removes them too', async () => {
    expect((await installJson()).code).toBe(0)
    const pid = machine.agentPid()!
    const uninstall = (args: string[]) => new Promise<{code: number; stdout: string}>((resolve) => {
      execFile(process.execPath, [BIN, 'uninstall', '--root', machine.root, '--yes', ...args], {env: {...process.env, ...machine.env}}, (error, stdout) =>
        resolve({code: error ? Number(error.code) : 0, stdout}))
    })
    const first = await uninstall([])
    expect(first.code, first.stdout).toBe(0)
    expect(first.stdout).toMatch(/^changed +agent/m)
    expect(first.stdout).toMatch(/^skipped +purge +kept \/etc\/danube\/keys, \/var\/lib\/danube, \/etc\/danube, user danube \(pass --purge to remove them\)$/m)
    expect(machine.calls()).toContain('systemctl disable --now danube')
    expect(processIsLive(pid)).toBe(false)
    for (const gone of ['etc/systemd/system/danube.service', 'etc/danube/config.yaml', 'etc/rancher/k3s', 'usr/local/bin/cilium', 'usr/local/bin/k3s-uninstall.sh']) {
      expect(existsSync(path.join(machine.root, gone)), gone).toBe(false)
    }
    for (const kept of ['etc/danube/keys/dex-client-secret', 'var/lib/danube/agent.token', 'var/lib/danube/danube.db']) expect(existsSync(path.join(machine.root, kept)), kept).toBe(true)

    const again = await uninstall(['--json'])
    expect(parseAs<Report>('uninstall', again.stdout).steps.map((s: {outcome: string}) => s.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'skipped', 'ok'])

    expect((await uninstall(['--purge'])).code).toBe(0)
    for (const gone of ['etc/danube', 'var/lib/danube']) expect(existsSync(path.join(machine.root, gone)), gone).toBe(false)
    expect(readFileSync(path.join(machine.root, 'etc/passwd'), 'utf8')).not.toContain('danube:')
  })
})
