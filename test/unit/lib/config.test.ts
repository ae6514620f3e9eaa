import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {describeConfig, envName, loadConfig} from '../../../src/lib/config/index.js'

function configFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'danube-config-')), 'config.yaml')
  writeFileSync(file, text)
  return file
}

const baseEnv = {HOME: '/home/op', XDG_STATE_HOME: ''}

describe('loadConfig', () => {
  it('takes flags over environment over file over defaults, and says where each came from', () => {
    const file = configFile('http:\n  addr: 127.0.0.1:9000\ngrpc:\n  addr: 127.0.0.1:9001\njobs:\n  maxConcurrent: 4\n')
    const loaded = loadConfig({configFile: file, env: {...baseEnv, DANUBE_GRPC_ADDR: '127.0.0.1:9101', DANUBE_HTTP_ADDR: '127.0.0.1:9100'}, flags: {'http.addr': '127.0.0.1:9200'}, isRoot: false})
    expect(loaded.config.http.addr).toBe('127.0.0.1:9200')
    expect(loaded.sources['http.addr']).toBe('flag')
    expect(loaded.config.grpc.addr).toBe('127.0.0.1:9101')
    expect(loaded.sources['grpc.addr']).toBe('env')
    expect(loaded.config.jobs.maxConcurrent).toBe(4)
    expect(loaded.sources['jobs.maxConcurrent']).toBe('file')
    expect(loaded.config.shutdownGracePeriod).toBe('30s')
    expect(loaded.sources.shutdownGracePeriod).toBe('default')
  })

  it('puts the state directory under XDG_STATE_HOME for a normal user, /var/lib/danube for root with /etc/danube/config.yaml', () => {
    expect(loadConfig({env: {...baseEnv, XDG_STATE_HOME: '/x/state'}, isRoot: false}).config.stateDir).toBe('/x/state/danube')
    expect(loadConfig({env: baseEnv, isRoot: false}).config.stateDir).toBe('/home/op/.local/state/danube')
    expect(loadConfig({env: {...baseEnv, DANUBE_HOME: '/srv/d'}, isRoot: true}).config.stateDir).toBe('/srv/d')
    expect(loadConfig({env: baseEnv, isRoot: false}).config.auth.tokenFile).toBe('/home/op/.local/state/danube/agent.token')
  })

  it('never makes the state directory relative to the working directory when HOME is empty', () => {
    expect(path.isAbsolute(loadConfig({env: {HOME: '', XDG_STATE_HOME: ''}, isRoot: false}).config.stateDir)).toBe(true)
  })

  it('reads typed values from the environment', () => {
    const {config} = loadConfig({env: {...baseEnv, DANUBE_JOBS_MAX_CONCURRENT: '8', DANUBE_KUBERNETES_ENABLED: 'false'}, isRoot: false})
    expect(config.jobs.maxConcurrent).toBe(8)
    expect(config.kubernetes.enabled).toBe(false)
    expect(envName('jobs.maxConcurrent')).toBe('DANUBE_JOBS_MAX_CONCURRENT')
    expect(envName('stateDir')).toBe('DANUBE_HOME')
  })

  it('bounds a Kubernetes job\'s outputs at kubernetes.outputsMaxBytes (10 GiB) and lets the final container wait kubernetes.outputsWait (10m)', () => {
    expect(loadConfig({env: baseEnv, isRoot: false}).config.kubernetes).toMatchObject({outputsMaxBytes: 10 * 1024 ** 3, outputsWait: '10m'})
    const {config} = loadConfig({env: {...baseEnv, DANUBE_KUBERNETES_OUTPUTS_MAX_BYTES: '1048576', DANUBE_KUBERNETES_OUTPUTS_WAIT: '30s'}, isRoot: false})
    expect(config.kubernetes).toMatchObject({outputsMaxBytes: 1_048_576, outputsWait: '30s'})
    expect(() => loadConfig({env: {...baseEnv, DANUBE_KUBERNETES_OUTPUTS_MAX_BYTES: '0'}, isRoot: false})).toThrow(/"kubernetes.outputsMaxBytes" from environment variable DANUBE_KUBERNETES_OUTPUTS_MAX_BYTES/)
  })

  it('refuses an unknown key, naming the key and the file', () => {
    const file = configFile('jobs:\n  executer: local\n')
    expect(() => loadConfig({configFile: file, env: baseEnv})).toThrow(`unknown key "jobs.executer" in ${file}`)
  })

  it('refuses a wrong type, naming the key, the file and the accepted form', () => {
    const file = configFile('jobs:\n  maxConcurrent: many\n')
    expect(() => loadConfig({configFile: file, env: baseEnv})).toThrow(new RegExp(`"jobs.maxConcurrent" in ${file}`))
    const durations = configFile('shutdownGracePeriod: 30\n')
    expect(() => loadConfig({configFile: durations, env: baseEnv})).toThrow(/"shutdownGracePeriod".*30s, 10m or 1h30m/)
  })

  it('refuses a bad environment value, naming the variable', () => {
    expect(() => loadConfig({env: {...baseEnv, DANUBE_JOBS_EXECUTOR: 'docker'}})).toThrow(/"jobs.executor" from environment variable DANUBE_JOBS_EXECUTOR/)
  })

  it('refuses malformed YAML with its line', () => {
    const file = configFile('jobs:\n  executor: [local\n')
    expect(() => loadConfig({configFile: file, env: baseEnv})).toThrow(/is not valid YAML/)
  })

  it('refuses a config file that does not exist', () => {
    expect(() => loadConfig({configFile: '/nonexistent/danube.yaml', env: baseEnv})).toThrow(/cannot read config file \/nonexistent\/danube.yaml: ENOENT/)
  })

  it('redacts credentials inside URLs in config show', () => {
    const file = configFile('cac:\n  repo: https://bot:s3cret@git.example.test/ops/config.git\n')
    const shown = describeConfig(loadConfig({configFile: file, env: baseEnv}))
    const repo = shown.find((entry) => entry.key === 'cac.repo')
    expect(repo?.value).toBe('https://bot:[REDACTED]@git.example.test/ops/config.git')
    expect(JSON.stringify(shown)).not.toContain('s3cret')
  })

  it('reads the sandbox keys: defaults, a YAML list of hidden paths, a colon-separated variable, keys.dir under the state dir', () => {
    const defaults = loadConfig({env: {...baseEnv, DANUBE_HOME: '/srv/d'}, isRoot: false}).config
    expect(defaults.jobs.local).toEqual({sandbox: 'auto', network: 'host', hiddenPaths: []})
    expect(defaults.keys.dir).toBe('/srv/d/keys')
    const file = configFile('jobs:\n  local:\n    sandbox: bubblewrap\n    network: none\n    hiddenPaths: [/srv/secrets, /opt/vault]\nkeys:\n  dir: /etc/keys\n')
    const fromFile = loadConfig({configFile: file, env: baseEnv, isRoot: false}).config
    expect(fromFile.jobs.local).toEqual({sandbox: 'bubblewrap', network: 'none', hiddenPaths: ['/srv/secrets', '/opt/vault']})
    expect(fromFile.keys.dir).toBe('/etc/keys')
    expect(loadConfig({env: {...baseEnv, DANUBE_JOBS_LOCAL_HIDDEN_PATHS: '/a:/b'}, isRoot: false}).config.jobs.local.hiddenPaths).toEqual(['/a', '/b'])
  })

  it('refuses a relative hidden path and an unknown sandbox mode, naming the accepted form', () => {
    expect(() => loadConfig({env: {...baseEnv, DANUBE_JOBS_LOCAL_HIDDEN_PATHS: 'secrets'}, isRoot: false})).toThrow(/"jobs\.local\.hiddenPaths" from environment variable DANUBE_JOBS_LOCAL_HIDDEN_PATHS: expected a list of absolute paths/)
    expect(() => loadConfig({configFile: configFile('jobs:\n  local:\n    sandbox: firejail\n'), env: baseEnv, isRoot: false})).toThrow(/"jobs\.local\.sandbox" in .*: expected one of auto, bubblewrap, none/)
  })

  it('disables Kubernetes when no kubeconfig is found', () => {
    const {config} = loadConfig({env: {HOME: mkdtempSync(path.join(tmpdir(), 'home-'))}, isRoot: false})
    if (!config.kubernetes.kubeconfig) expect(config.kubernetes.enabled).toBe(false)
  })
})
