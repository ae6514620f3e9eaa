// Which modules real processes resolve, logged by a loader hook: CLI commands never load OpenTelemetry; `danube agent`
// registers the instrumentation hook before it loads the agent and gRPC, and loads nothing of it with OTEL_SDK_DISABLED.

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {BIN, makeStateDir, removeStateDir, testEnv} from '../support/agent-process.js'
import {spawn} from 'node:child_process'

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => removeStateDir(dir)))

const HOOK = path.resolve(import.meta.dirname, '../support/module-log.mjs')

/** Runs danube with the module log; for `agent`, stops it once it has started. Returns the resolved URLs in order. */
function resolvedBy(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const stateDir = makeStateDir()
  dirs.push(stateDir)
  const log = path.join(stateDir, 'modules.log')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], {env: testEnv(stateDir, {DANUBE_TEST_MODULE_LOG: log, ...env}), stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (stderr.includes('"agent started"')) child.kill('SIGTERM')
    })
    child.once('error', reject)
    child.once('exit', () => {
      try {
        resolve(readFileSync(log, 'utf8').split('\n').filter(Boolean))
      } catch (error) {
        reject(new Error(`no module log: ${(error as Error).message}\n${stderr}`))
      }
    })
  })
}

describe('which processes load OpenTelemetry', () => {
  it('CLI commands load none of it', async () => {
    for (const args of [['config', 'show', '--json'], ['health', '--json'], ['status', '--json'], ['job', 'list', '--json']]) {
      const urls = await resolvedBy(args)
      expect(urls.length, args.join(' ')).toBeGreaterThan(10)
      expect(urls.filter((url) => url.includes('@opentelemetry')), args.join(' ')).toEqual([])
    }
  })

  it('danube agent registers the instrumentation hook before the agent and gRPC load', async () => {
    const urls = await resolvedBy(['agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'])
    const hook = urls.findIndex((url) => url.endsWith('@opentelemetry/instrumentation/hook.mjs'))
    const agent = urls.findIndex((url) => url.endsWith('/dist/agent/agent.js'))
    const grpc = urls.findIndex((url) => url.includes('/@grpc/grpc-js/'))
    const server = urls.findIndex((url) => url.endsWith('/dist/agent/http/server.js'))
    expect(hook).toBeGreaterThanOrEqual(0)
    expect(agent).toBeGreaterThan(hook)
    expect(grpc).toBeGreaterThan(hook)
    expect(server).toBeGreaterThan(hook)
  })

  it('danube agent with OTEL_SDK_DISABLED=true loads none of it', async () => {
    const urls = await resolvedBy(['agent', '--http-addr', '127.0.0.1:0', '--grpc-addr', '127.0.0.1:0'], {OTEL_SDK_DISABLED: 'true'})
    expect(urls.some((url) => url.endsWith('/dist/agent/agent.js'))).toBe(true)
    expect(urls.filter((url) => url.includes('@opentelemetry'))).toEqual([])
  })
})
