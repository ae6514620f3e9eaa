// The bubblewrap sandbox's command line and its start-up probe, against the real bwrap on this machine, and
// the diagnosis of a sandbox that cannot be created, read from a sysctl tree of the test's own.
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {LocalExecutor} from '../../../../src/agent/executors/local.js'
import {diagnoseProbeFailure, prepareSandbox, Sandbox} from '../../../../src/agent/executors/sandbox.js'
import type {Job} from '../../../../src/lib/jobs/model.js'

let dir: string
beforeEach(() => {
  // Not under /tmp: the sandbox's private /tmp would hide it, and these tests look at the masks.
  dir = mkdtempSync(path.join('/var/tmp', 'danube-sandbox-unit-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function run(bwrap: string, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(bwrap, args, (error, stdout, stderr) => resolve({code: error ? ((error as {code?: number}).code ?? 1) : 0, stdout, stderr}))
  })
}

describe('Sandbox.args', () => {
  it('masks existing hidden paths (directories and files), skips missing ones and those under /tmp, then binds the work dir on top', () => {
    const state = path.join(dir, 'state')
    const work = path.join(state, 'work', 'job-1')
    mkdirSync(work, {recursive: true})
    writeFileSync(path.join(dir, 'kubeconfig'), 'x')
    const sandbox = new Sandbox({bwrap: '/usr/bin/bwrap', network: 'none', privileged: false, hidden: [state, path.join(state, 'keys'), path.join(dir, 'kubeconfig'), path.join(dir, 'missing'), path.join(tmpdir(), 'anything')]})
    const args = sandbox.args(work, work)
    const text = args.join(' ')
    expect(text).toContain(`--ro-bind /dev/null ${path.join(dir, 'kubeconfig')} --tmpfs ${state} --bind ${work} ${work} --remount-ro ${state}`)
    expect(text).not.toContain('missing')
    expect(text).not.toContain(path.join(state, 'keys'))
    expect(args.indexOf('--ro-bind')).toBe(0)
    expect(args.indexOf('--tmpfs')).toBeLessThan(args.indexOf('--bind'))
    expect(args).toEqual(expect.arrayContaining(['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-user', '--disable-userns', '--unshare-net', '--die-with-parent', '--new-session']))
    expect(text).toContain('--cap-drop ALL')
    expect(args.at(-1)).toBe('--')
  })

  it('shares the network and needs no user namespace as root with network host', () => {
    const args = new Sandbox({bwrap: '/usr/bin/bwrap', network: 'host', privileged: true, hidden: []}).args(dir, dir)
    expect(args).not.toContain('--unshare-net')
    expect(args).not.toContain('--unshare-user')
  })

  it('gives a step its work dir writable and the masked state dir empty and read-only, under the real bwrap', async () => {
    const state = path.join(dir, 'state')
    const work = path.join(state, 'work', 'job-1')
    mkdirSync(work, {recursive: true})
    writeFileSync(path.join(state, 'agent.token'), 'secret')
    const prepared = await prepareSandbox({setting: 'bubblewrap', network: 'host', hidden: [state], probeDir: path.join(state, 'work')})
    expect(prepared.isolation.mode).toBe('bubblewrap')
    const result = await run(prepared.sandbox!.options.bwrap, [...prepared.sandbox!.args(work, work), '/bin/sh', '-c', `touch mine && ls -A ${state} && ls -A ${state}/work && ! cat ${state}/agent.token 2>/dev/null && ! touch ${state}/planted 2>/dev/null`])
    expect(result).toMatchObject({code: 0, stdout: 'work\njob-1\n'})
  })

  it('unprivileged: a step cannot create a user namespace of its own (no way back to capabilities)', async () => {
    const work = path.join(dir, 'work')
    mkdirSync(work)
    const sandbox = new Sandbox({bwrap: '/usr/bin/bwrap', network: 'none', privileged: false, hidden: []})
    const nested = await run('/usr/bin/bwrap', [...sandbox.args(work, work), '/bin/sh', '-c', 'unshare -U true'])
    expect(nested.code).not.toBe(0)
    const control = await run('/usr/bin/bwrap', [...sandbox.args(work, work).filter((arg) => arg !== '--disable-userns'), '/bin/sh', '-c', 'unshare -U true'])
    expect(control.code).toBe(0)
  })
})

describe('prepareSandbox', () => {
  it('none: no sandbox, no probe, and says why', async () => {
    expect(await prepareSandbox({setting: 'none', network: 'host', hidden: [], probeDir: dir})).toMatchObject({sandbox: undefined, isolation: {mode: 'none', setting: 'none', reason: 'jobs.local.sandbox is none'}})
  })

  it('refuses network none without a sandbox, and says when auto cannot enforce it', async () => {
    await expect(prepareSandbox({setting: 'none', network: 'none', hidden: [], probeDir: dir})).rejects.toMatchObject({code: 'CONFIG_INVALID', message: expect.stringContaining('only the sandbox can take a step off the network')})
    const fallback = await prepareSandbox({setting: 'auto', network: 'none', hidden: [], probeDir: dir, pathEnv: dir})
    expect(fallback.isolation.reason).toBe('bubblewrap (bwrap) is not installed or not on PATH; jobs.local.network none is not enforced either')
  })

  it('bubblewrap without bwrap on PATH: refuses, naming the package', async () => {
    await expect(prepareSandbox({setting: 'bubblewrap', network: 'host', hidden: [], probeDir: dir, pathEnv: dir})).rejects.toMatchObject({
      code: 'SANDBOX_UNAVAILABLE',
      message: 'jobs.local.sandbox is bubblewrap but the sandbox cannot be created: bubblewrap (bwrap) is not installed or not on PATH',
      hint: 'install it (apt-get install bubblewrap); or set jobs.local.sandbox to auto to run steps unsandboxed',
    })
  })

  it('auto with a bwrap that fails: unsandboxed, with bwrap\'s own words', async () => {
    const fake = path.join(dir, 'bin')
    mkdirSync(fake)
    writeFileSync(path.join(fake, 'bwrap'), '#!/bin/sh\necho "bwrap: Creating new namespace failed: Operation not permitted" >&2\nexit 1\n', {mode: 0o755})
    const prepared = await prepareSandbox({setting: 'auto', network: 'host', hidden: [], probeDir: dir, pathEnv: fake, privileged: true})
    expect(prepared).toMatchObject({sandbox: undefined, isolation: {mode: 'none', setting: 'auto', reason: 'bwrap failed: bwrap: Creating new namespace failed: Operation not permitted'}})
  })
})

describe('LocalExecutor', () => {
  it('tells provenance and the agent how its steps are isolated', async () => {
    const prepared = await prepareSandbox({setting: 'auto', network: 'none', hidden: [], probeDir: dir})
    const sandboxed = new LocalExecutor(prepared)
    expect(sandboxed.sandboxMode).toBe('bubblewrap')
    expect(sandboxed.provenanceContext({} as Job)).toEqual({isolation: 'bubblewrap', internal: {sandbox: {mode: 'bubblewrap', setting: 'auto', network: 'none'}}})
    const plain = new LocalExecutor()
    expect(plain.sandboxMode).toBe('none')
    expect(plain.provenanceContext({} as Job).isolation).toBe('none')
  })
})

describe('diagnoseProbeFailure', () => {
  function procSys(values: Record<string, string>): string {
    const root = path.join(dir, 'sys')
    for (const [name, value] of Object.entries(values)) {
      const file = path.join(root, ...name.split('.'))
      mkdirSync(path.dirname(file), {recursive: true})
      writeFileSync(file, `${value}\n`)
    }
    return root
  }
  const said = 'bwrap: setting up uid map: Permission denied'

  it("names Ubuntu 24.04's AppArmor restriction and its sysctl", () => {
    const found = diagnoseProbeFailure(said, {privileged: false, procSys: procSys({'kernel.apparmor_restrict_unprivileged_userns': '1', 'user.max_user_namespaces': '1000'})})
    expect(found.cause).toContain('restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1')
    expect(found.fix).toContain('sysctl -w kernel.apparmor_restrict_unprivileged_userns=0')
  })

  it('names kernel.unprivileged_userns_clone and user.max_user_namespaces', () => {
    expect(diagnoseProbeFailure(said, {privileged: false, procSys: procSys({'kernel.unprivileged_userns_clone': '0'})}).fix).toBe('run sysctl -w kernel.unprivileged_userns_clone=1 and persist it in /etc/sysctl.d/')
    rmSync(path.join(dir, 'sys'), {recursive: true})
    expect(diagnoseProbeFailure(said, {privileged: false, procSys: procSys({'user.max_user_namespaces': '0'})}).fix).toBe('run sysctl -w user.max_user_namespaces=15000 and persist it in /etc/sysctl.d/')
  })

  it('otherwise passes on what bwrap said and points at the troubleshooting guide', () => {
    expect(diagnoseProbeFailure(said, {privileged: true, procSys: procSys({'user.max_user_namespaces': '0'})})).toEqual({cause: `bwrap failed: ${said}`, fix: 'see "The sandbox will not start" in docs/troubleshooting.md'})
  })
})
