// Every shell script in the repository passes shellcheck with no finding at any severity, and the bats suite
// of install/install.sh (test/install/*.bats) passes.
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../support/agent-process.js'

const run = promisify(execFile)

/** Tracked and new files that are shell scripts by name or by their #! line. */
async function shellScripts(): Promise<string[]> {
  const {stdout} = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024})
  return stdout.split('\n').filter(Boolean).filter((file) => {
    if (file.startsWith('node_modules/') || file.endsWith('.bats')) return false
    if (file.endsWith('.sh')) return true
    if (!/^(scripts|install|bin|\.ci)\//.test(file)) return false
    try {
      return /^#!\s*(\/bin\/|\/usr\/bin\/env )(ba|da)?sh\b/.test(readFileSync(path.join(REPO_ROOT, file), 'utf8').slice(0, 64))
    } catch {
      return false
    }
  })
}

describe('shell scripts', () => {
  it('include install/install.sh', async () => {
    expect(await shellScripts()).toContain('install/install.sh')
  })

  it('pass shellcheck with no finding', async () => {
    const scripts = await shellScripts()
    const result = await run('shellcheck', ['--severity=style', '--format=gcc', ...scripts], {cwd: REPO_ROOT}).catch((error: {stdout: string}) => ({stdout: error.stdout}))
    expect(result.stdout).toBe('')
  })

  it('install.sh passes its bats suite', {timeout: 120_000}, async () => {
    const result = await run('bats', ['--tap', 'test/install'], {cwd: REPO_ROOT, env: {...process.env, PATH: '/usr/bin:/bin'}}).catch((error: {stdout: string; stderr: string}) => error)
    expect(result.stdout).toMatch(/^1\.\.\d+$/m)
    expect(result.stdout.split('\n').filter((line) => line.startsWith('not ok'))).toEqual([])
  })
})
