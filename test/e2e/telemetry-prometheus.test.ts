// The monitoring bundle against a real Prometheus server (Debian's package) on loopback: it scrapes a real agent
// every second after that agent ran jobs, served HTTP and gRPC, talked to Kubernetes (the test API server, with
// injected failures), synced config-as-code and started a drain; then every alert expression and every dashboard
// query is evaluated through Prometheus's HTTP API and must parse and return data.

import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import path from 'node:path'

import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {type AgentProcess, makeStateDir, REPO_ROOT, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {KubeApiServer} from '../support/kube-api-server.js'
import {OtlpReceiver} from '../support/telemetry.js'

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: any) => void) => void // eslint-disable-line @typescript-eslint/no-explicit-any

const MONITORING = path.join(REPO_ROOT, 'install/monitoring')
const dirs: string[] = []
let kube: KubeApiServer
let receiver: OtlpReceiver
let agent: AgentProcess
/** A second agent on the kubernetes executor: its watches are what the watch panel shows. */
let kubeAgent: AgentProcess
let prometheus: ChildProcess | undefined
let promUrl: string
let longJob: string

interface QueryResult {
  status: string
  error?: string
  data?: {resultType: string; result: unknown[]}
}

async function query(expr: string): Promise<QueryResult> {
  const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({query: expr})}`)
  return (await response.json()) as QueryResult
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

async function trigger(spec: unknown): Promise<string> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  return ((await response.json()) as {id: string}).id
}

async function finished(id: string): Promise<void> {
  await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes(((await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {state: string}).state), {what: `job ${id}`})
}

function gitRepo(): string {
  const repo = makeStateDir('danube-cac-repo-')
  dirs.push(repo)
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], {env: {...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1'}})
  git('init', '-q', '-b', 'main')
  writeFileSync(path.join(repo, 'jobs.yaml'), 'jobs: []\n')
  git('add', '.')
  git('-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-q', '-m', 'first')
  return repo
}

beforeAll(async () => {
  kube = new KubeApiServer()
  await kube.start()
  receiver = new OtlpReceiver()
  const otlp = await receiver.start()
  agent = await startAgent({
    env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      KUBECONFIG: kube.writeKubeconfig(),
      DANUBE_HEALTH_CACHE_TTL: '1s',
      DANUBE_CAC_REPO: gitRepo(),
      DANUBE_CAC_INTERVAL: '1m',
      DANUBE_JOBS_MAX_CONCURRENT: '4',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
  })
  dirs.push(agent.stateDir)
  kubeAgent = await startAgent({env: {DANUBE_KUBERNETES_ENABLED: 'true', KUBECONFIG: kube.writeKubeconfig(), DANUBE_JOBS_EXECUTOR: 'kubernetes', DANUBE_KUBERNETES_JOB_NAMESPACE: 'e2e'}})
  dirs.push(kubeAgent.stateDir)

  // Traffic: jobs that succeed and fail, a rejected trigger, HTTP and gRPC reads, Kubernetes errors, a drain with a deadline.
  const ids = [await trigger({name: 'e2e-ok', steps: [{run: 'true'}]}), await trigger({name: 'e2e-bad', steps: [{run: 'exit 1'}]})]
  for (const id of ids) await finished(id)
  await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'bad', steps: []})})
  const definition = await loader.load(path.join(REPO_ROOT, 'proto/danube/v1/jobs.proto'), {keepCase: false, longs: Number, enums: String, defaults: true})
  const proto = grpc.loadPackageDefinition(definition) as unknown as {danube: {v1: {JobService: grpc.ServiceClientConstructor}}}
  const client = new proto.danube.v1.JobService(agent.grpcAddr, grpc.credentials.createInsecure()) as unknown as grpc.Client & {Get: Unary}
  const metadata = new grpc.Metadata()
  metadata.set('authorization', `Bearer ${agent.token}`)
  await new Promise<void>((resolve) => client.Get.call(client, {id: ids[0]}, metadata, () => resolve()))
  client.close()
  kube.fault({path: /\/pods/, status: 500, times: 3})
  longJob = await trigger({name: 'e2e-long', steps: [{run: 'sleep 120'}]})
  await waitFor(async () => ((await (await agent.api(`/api/v1/jobs/${longJob}`)).json()) as {state: string}).state === 'running', {what: 'the long job to run'})
  const drain = await runCli(['drain', '--timeout', '10m', '--detach'], {stateDir: agent.stateDir})
  expect(drain.code, drain.stderr).toBe(0)

  const data = makeStateDir('danube-prometheus-')
  dirs.push(data)
  const port = await freePort()
  promUrl = `http://127.0.0.1:${port}`
  const config = {
    global: {scrape_interval: '1s', evaluation_interval: '1s'},
    rule_files: [path.join(MONITORING, 'danube-rules.yml')],
    scrape_configs: [{job_name: 'danube', metrics_path: '/metrics', static_configs: [{targets: [agent.httpAddr, kubeAgent.httpAddr]}]}],
  }
  writeFileSync(path.join(data, 'prometheus.yml'), YAML.stringify(config))
  mkdirSync(path.join(data, 'tsdb'))
  prometheus = spawn('/usr/bin/prometheus', [
    `--config.file=${path.join(data, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(data, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], {stdio: ['ignore', 'ignore', 'pipe']})
  let promLog = ''
  prometheus.stderr!.on('data', (chunk: Buffer) => (promLog += chunk.toString()))
  const exited = new Promise<never>((_resolve, reject) => prometheus!.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${promLog}`))))
  await Promise.race([exited, waitFor(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, {timeoutMs: 30_000, what: 'Prometheus to be ready'})])
  // Enough scrapes for rate() over 1m windows (two samples at least), and the recording rules evaluated on them.
  await waitFor(async () => {
    const result = await query('count_over_time(up{job="danube"}[1m]) >= 4 and up{job="danube"} == 1')
    return (result.data?.result.length ?? 0) === 2
  }, {timeoutMs: 60_000, intervalMs: 500, what: 'four successful scrapes of both agents'})
}, 120_000)

afterAll(async () => {
  if (longJob && agent) await agent.api(`/api/v1/jobs/${longJob}/cancel`, {method: 'POST'}).catch(() => undefined)
  prometheus?.kill('SIGKILL')
  await agent?.stop('SIGKILL')
  await kubeAgent?.stop('SIGKILL')
  await receiver?.stop()
  await kube?.stop()
  for (const dir of dirs) removeStateDir(dir)
})

interface RuleFile {
  groups: Array<{name: string; rules: Array<{alert?: string; record?: string; expr: string}>}>
}

const rules = (YAML.parse(readFileSync(path.join(MONITORING, 'danube-rules.yml'), 'utf8')) as RuleFile).groups.flatMap((group) => group.rules)
const dashboard = JSON.parse(readFileSync(path.join(MONITORING, 'danube-dashboard.json'), 'utf8')) as {panels: Array<{title: string; targets: Array<{expr: string}>}>}

/** The alert's condition as a verdict per series (`x > 1` → `x > bool 1`): data whenever its inputs exist. */
function verdict(expr: string): string {
  return expr.replaceAll(/(==|!=|>=|<=|>|<)\s*(?=[\d(])/g, '$1 bool ')
}

describe('install/monitoring against a real Prometheus', () => {
  it('loads every rule without an error', async () => {
    const response = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {data: {groups: Array<{rules: Array<{name: string; health: string; lastError?: string}>}>}}
    const loaded = response.data.groups.flatMap((group) => group.rules)
    expect(loaded.map((rule) => rule.name).sort()).toEqual(rules.map((rule) => rule.alert ?? rule.record).sort())
    for (const rule of loaded) expect([rule.name, rule.health, rule.lastError ?? '']).toEqual([rule.name, 'ok', ''])
  })

  it('evaluates every recording rule to data', async () => {
    for (const rule of rules.filter((r) => r.record)) {
      const result = await query(rule.record!)
      expect(result.status, rule.record).toBe('success')
      expect(result.data!.result.length, rule.record).toBeGreaterThan(0)
    }
  })

  it('evaluates every alert condition: it parses and gives a verdict for the agent', async () => {
    expect(rules.filter((r) => r.alert)).toHaveLength(6)
    for (const rule of rules.filter((r) => r.alert)) {
      expect((await query(rule.expr)).status, rule.alert).toBe('success')
      const result = await query(verdict(rule.expr))
      expect(result.status, `${rule.alert}: ${result.error}`).toBe('success')
      expect(result.data!.result.length, `${rule.alert}: ${verdict(rule.expr)}`).toBeGreaterThan(0)
    }
  })

  it('evaluates every dashboard query to data', async () => {
    const targets = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({title: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m')})))
    expect(targets.length).toBeGreaterThan(15)
    for (const {title, expr} of targets) {
      const result = await query(expr)
      expect(result.status, `${title}: ${result.error}`).toBe('success')
      expect(result.data!.result.length, `${title}: ${expr}`).toBeGreaterThan(0)
    }
  })
})
