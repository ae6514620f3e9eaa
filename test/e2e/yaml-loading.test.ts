// Built commands read YAML through the one-file bundle that `npm run build` writes (src/lib/yaml.ts says why):
// a command given a config file, or a job file, loads the bundle and none of the `yaml` package's own modules.

import {writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {makeStateDir, removeStateDir, runCli} from '../support/agent-process.js'

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => removeStateDir(dir)))

/** CommonJS modules the process loaded, from Node's own module debug log. */
function loadedModules(stderr: string): string[] {
  return [...stderr.matchAll(/^MODULE \d+: load "([^"]+)"/gm)].map((match) => match[1]!)
}

describe('YAML in built commands', () => {
  it('parses a config file with the bundle, not the yaml package', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const config = path.join(stateDir, 'config.yaml')
    writeFileSync(config, 'jobs:\n  maxConcurrent: 3\n')
    const result = await runCli(['config', 'show', '--json'], {stateDir, env: {DANUBE_CONFIG: config, NODE_DEBUG: 'module'}})
    expect(result.code).toBe(0)
    const {settings} = JSON.parse(result.stdout) as {settings: {key: string; value: unknown; source: string}[]}
    expect(settings.find((setting) => setting.key === 'jobs.maxConcurrent')).toMatchObject({value: 3, source: 'file'})
    const modules = loadedModules(result.stderr)
    expect(modules.some((file) => file.endsWith('/dist/lib/yaml.bundle.cjs'))).toBe(true)
    expect(modules.filter((file) => file.includes('/node_modules/yaml/'))).toEqual([])
  })
})
