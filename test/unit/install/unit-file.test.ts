// install/danube.service as systemd 252 (Debian 12) reads it: no warnings, hardening score at most 2.5,
// TimeoutStopSec = shutdownGracePeriod + 15s (TEAM decision 3), and what the bubblewrap sandbox needs left open.
import {execFile} from 'node:child_process'
import {chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {SETTINGS_BY_KEY} from '../../../src/lib/config/settings.js'
import {parseDuration} from '../../../src/lib/duration.js'
import {REPO_ROOT} from '../../support/agent-process.js'

const run = promisify(execFile)
const UNIT = path.join(REPO_ROOT, 'install/danube.service')
const text = readFileSync(UNIT, 'utf8')
const directive = (name: string) => [...text.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1])

let root: string
beforeAll(() => {
  // verify needs ExecStart's binary to exist: a root with it and the host's units (targets), never the host's /usr/local.
  root = mkdtempSync(path.join(tmpdir(), 'danube-unit-'))
  mkdirSync(path.join(root, 'usr/local/bin'), {recursive: true})
  mkdirSync(path.join(root, 'etc/systemd/system'), {recursive: true})
  mkdirSync(path.join(root, 'usr/lib/systemd'), {recursive: true})
  cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), {recursive: true, verbatimSymlinks: true})
  writeFileSync(path.join(root, 'usr/local/bin/danube'), '#!/bin/sh\n')
  chmodSync(path.join(root, 'usr/local/bin/danube'), 0o755)
  writeFileSync(path.join(root, 'etc/systemd/system/danube.service'), text)
})
afterAll(() => rmSync(root, {recursive: true, force: true}))

describe('install/danube.service', () => {
  it('passes systemd-analyze verify with nothing printed', async () => {
    const result = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, '/etc/systemd/system/danube.service'])
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('')
  })

  it('would be reported by verify if it had a mistyped key (the check can fail)', async () => {
    writeFileSync(path.join(root, 'etc/systemd/system/bad.service'), text.replace('TimeoutStopSec=', 'TimeoutStopSecs='))
    const result = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, '/etc/systemd/system/bad.service'])
    expect(result.stderr).toContain("Unknown key 'TimeoutStopSecs'")
  })

  it('scores at most 2.5 in systemd-analyze security', async () => {
    const result = await run('systemd-analyze', ['security', '--offline=yes', UNIT]).catch((error: {stdout: string; stderr: string}) => error)
    const score = Number(/Overall exposure level for danube\.service: (\d+\.\d+)/.exec(`${result.stdout}${result.stderr}`)?.[1])
    expect(score).toBeGreaterThan(0)
    expect(score).toBeLessThanOrEqual(2.5)
  })

  it('waits shutdownGracePeriod + 15s before SIGKILL', () => {
    const grace = parseDuration(String(SETTINGS_BY_KEY.get('shutdownGracePeriod')!.default))
    expect(directive('TimeoutStopSec')).toEqual([`${(grace + 15_000) / 1000}s`])
    expect(directive('KillMode')).toEqual(['mixed'])
  })

  it('runs the agent as danube with the issue\'s hardening, and leaves namespaces open for bubblewrap', () => {
    expect(directive('Type')).toEqual(['exec'])
    expect(directive('User')).toEqual(['danube'])
    expect(directive('ExecStart')[0]).toMatch(/^\/usr\/local\/bin\/danube agent/)
    expect(directive('Restart')).toEqual(['on-failure'])
    for (const [name, value] of [['ProtectSystem', 'strict'], ['NoNewPrivileges', 'yes'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes']]) {
      expect(directive(name!), name).toEqual([value])
    }
    expect(directive('RestrictNamespaces')).toEqual(['no'])
    expect(directive('PrivateUsers')).toEqual([])
    expect(directive('MemoryDenyWriteExecute')).toEqual(['no'])
    expect(directive('SystemCallFilter').join(' ')).not.toMatch(/~.*@privileged|~.*@mount/)
  })

  it('keeps kernel tunables read-only except /proc/sys/user, where bwrap --disable-userns limits each job\'s user namespaces', () => {
    expect(directive('ProtectKernelTunables')).toEqual(['yes'])
    expect(directive('ReadWritePaths')).toEqual(['/var/lib/danube /proc/sys/user'])
  })
})
