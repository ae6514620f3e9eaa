// man/man1/ is generated from the oclif manifest and src/cli/exit-codes.ts; a stale page is a failed test.
import {execFileSync, spawnSync} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {EXIT_CODES} from '../../src/cli/exit-codes.js'
import {REPO_ROOT} from '../support/agent-process.js'
import {tempDir} from '../support/temp.js'

describe('man pages', () => {
  it('are current: regenerating them from the build changes nothing', () => {
    const fresh = tempDir('danube-man-')
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts/build-man.js'), fresh])
    const committed = readdirSync(path.join(REPO_ROOT, 'man/man1')).filter((f) => f.endsWith('.1')).sort()
    expect(readdirSync(fresh).sort()).toEqual(committed)
    for (const page of committed) {
      expect(readFileSync(path.join(REPO_ROOT, 'man/man1', page), 'utf8'), `man/man1/${page} is stale: run npm run build`).toBe(readFileSync(path.join(fresh, page), 'utf8'))
    }
  })

  it('list every exit status of every command', () => {
    for (const [command, codes] of Object.entries(EXIT_CODES)) {
      const page = readFileSync(path.join(REPO_ROOT, 'man/man1', `danube-${command.replaceAll(' ', '-')}.1`), 'utf8')
      const section = page.slice(page.indexOf('.SH EXIT STATUS'))
      for (const code of Object.keys(codes)) expect(section, `${command} exit ${code}`).toContain(`.B ${code}\n`)
    }
  })

  it('pass mandoc -T lint with no finding', () => {
    const pages = readdirSync(path.join(REPO_ROOT, 'man/man1')).filter((f) => f.endsWith('.1')).map((f) => path.join(REPO_ROOT, 'man/man1', f))
    const result = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', ...pages], {encoding: 'utf8'})
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('are found by man -M man', () => {
    const result = spawnSync('man', ['-M', path.join(REPO_ROOT, 'man'), '-w', 'danube'], {encoding: 'utf8'})
    expect(result.stdout.trim()).toBe(path.join(REPO_ROOT, 'man/man1/danube.1'))
    const install = spawnSync('man', ['-M', path.join(REPO_ROOT, 'man'), '-w', 'danube-install'], {encoding: 'utf8'})
    expect(install.stdout.trim()).toBe(path.join(REPO_ROOT, 'man/man1/danube-install.1'))
  })
})
