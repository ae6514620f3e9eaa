// The real kubectl (/usr/bin/kubectl, 1.32+) as an independent client of the test API server: discovery (aggregated,
// with the unaggregated documents behind it), server-side field validation found through OpenAPI v3, get, create,
// wait, logs and delete with each cascade (https://kubernetes.io/docs/reference/kubectl/generated/kubectl_delete/,
// https://kubernetes.io/docs/concepts/architecture/garbage-collection/). kubectl runs with its default --validate
// (strict); it never needs --validate=false. HOME and the discovery cache are a temporary directory.

import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {KubeApiServer} from '../kube-api-server.js'
import {AGGREGATED_V2} from './discovery.js'

const KUBECTL = '/usr/bin/kubectl'

interface Run {
  code: number
  stdout: string
  stderr: string
}

let server: KubeApiServer
let home: string
let kubeconfig: string

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  home = mkdtempSync(path.join(tmpdir(), 'danube-kubectl-'))
  kubeconfig = server.writeKubeconfig({file: path.join(home, 'config'), namespace: 'default'})
})

afterAll(async () => {
  await server.stop()
  rmSync(home, {recursive: true, force: true})
})

/** kubectl, asynchronously: the API server runs in this process and must keep answering meanwhile. */
function kubectl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(home, 'cache'), ...args],
      {env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home}, encoding: 'utf8', timeout: 25_000},
      (error, stdout, stderr) => resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr}))
    child.stdin?.end(input ?? '')
  })
}

function jobManifest(name: string, extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: {name},
    spec: {backoffLimit: 0, ...extra, template: {spec: {restartPolicy: 'Never', terminationGracePeriodSeconds: 1, containers: [{name: 'main', image: 'busybox:1.36', ...container}]}}},
  })
}

async function createJob(name: string): Promise<string> {
  const created = await kubectl(['create', '-f', '-'], jobManifest(name))
  expect(created, created.stderr).toMatchObject({code: 0, stdout: `job.batch/${name} created\n`})
  return server.jobPodName('default', name)
}

// kubectl is preinstalled on the project's machines (and CI's); where it is absent there is nothing to run it with.
describe.skipIf(!existsSync(KUBECTL))('the real kubectl against the test API server', () => {
  it('discovers the API and lists with get', async () => {
    const namespaces = await kubectl(['get', 'namespaces', '-o', 'name'])
    expect(namespaces, namespaces.stderr).toMatchObject({code: 0})
    expect(namespaces.stdout.split('\n')).toEqual(expect.arrayContaining(['namespace/default', 'namespace/kube-system']))
    const resources = await kubectl(['api-resources', '--no-headers', '-o', 'name'])
    expect(resources.stdout.split('\n')).toEqual(expect.arrayContaining(['namespaces', 'pods', 'jobs.batch']))
    // kubectl asked for aggregated discovery first and, getting it, needed no per-group-version document.
    const discovery = server.requests({path: /^\/apis?$/})
    expect(discovery.length).toBeGreaterThanOrEqual(2)
    for (const request of discovery) expect(request.accept?.split(',')[0]).toBe(AGGREGATED_V2)
    expect(server.countRequests({path: /^\/(api\/v1|apis\/batch\/v1)$/})).toBe(0)
  })

  it('creates with server-side strict field validation, and reports what the server refuses', async () => {
    const pod = await createJob('hello')
    expect(pod).toMatch(/^hello-/)
    expect(server.requests({method: 'POST', path: '/apis/batch/v1/namespaces/default/jobs'}).at(-1)?.query).toMatchObject({fieldValidation: 'Strict'})
    const got = await kubectl(['get', 'job', 'hello', '-o', 'jsonpath={.spec.backoffLimit} {.spec.template.spec.containers[0].name}'])
    expect(got.stdout).toBe('0 main')

    const unsupported = await kubectl(['create', '-f', '-'], jobManifest('bad-policy', {}, {imagePullPolicy: 'Sometimes'}))
    expect(unsupported.code).toBe(1)
    expect(unsupported.stderr).toContain('spec.template.spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes"')
    const unknown = await kubectl(['create', '-f', '-'], jobManifest('bad-field', {bogus: true}))
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('strict decoding error: unknown field "spec.bogus"')
    const negative = await kubectl(['create', '-f', '-'], jobManifest('bad-limit', {backoffLimit: -1}))
    expect(negative.stderr).toContain('spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0')
    const dry = await kubectl(['create', '--dry-run=server', '-f', '-'], jobManifest('dry'))
    expect(dry, dry.stderr).toMatchObject({code: 0, stdout: 'job.batch/dry created (server dry run)\n'})
    for (const name of ['bad-policy', 'bad-field', 'bad-limit', 'dry']) expect(server.getJob('default', name)).toBeUndefined()
  })

  it('waits for a Job to complete and reads its pod\'s logs', async () => {
    const pod = await createJob('waited')
    server.startPod(pod)
    server.appendLog(pod, 'main', 'hello from the pod\n')
    const waiting = kubectl(['wait', '--for=condition=complete', 'job/waited', '--timeout=20s'])
    // Complete the pod only once kubectl watches, so that wait has to see the change happen.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (server.countRequests({path: '/apis/batch/v1/namespaces/default/jobs', watch: true}) > 0) {
          clearInterval(check)
          resolve()
        }
      }, 20)
    })
    server.succeedPod(pod)
    const waited = await waiting
    expect(waited, waited.stderr).toMatchObject({code: 0, stdout: 'job.batch/waited condition met\n'})
    const logs = await kubectl(['logs', 'job/waited'])
    expect(logs, logs.stderr).toMatchObject({code: 0, stdout: 'hello from the pod\n'})
    const stamped = await kubectl(['logs', pod, '--timestamps'])
    expect(stamped.stdout).toMatch(/^\S+Z hello from the pod\n$/)
    const previous = await kubectl(['logs', pod, '--previous'])
    expect(previous.code).toBe(1)
    expect(previous.stderr).toContain(`previous terminated container "main" in pod "${pod}" not found`)
  })

  it('deletes with --cascade=background, foreground and orphan as the garbage collector does', async () => {
    const background = await createJob('cascade-bg')
    server.startPod(background)
    const bg = await kubectl(['delete', 'job', 'cascade-bg', '--cascade=background'])
    expect(bg, bg.stderr).toMatchObject({code: 0, stdout: 'job.batch "cascade-bg" deleted\n'})
    expect(server.getJob('default', 'cascade-bg')).toBeUndefined()
    expect(server.get('pods', 'default', background)?.metadata.deletionTimestamp).toBeDefined()

    const foreground = await createJob('cascade-fg')
    server.startPod(foreground)
    const fg = await kubectl(['delete', 'job', 'cascade-fg', '--cascade=foreground'])
    // kubectl waits until the Job is gone, which a Foreground deletion allows only once its pod is gone.
    expect(fg, fg.stderr).toMatchObject({code: 0, stdout: 'job.batch "cascade-fg" deleted\n'})
    expect(server.getJob('default', 'cascade-fg')).toBeUndefined()
    expect(server.get('pods', 'default', foreground)).toBeUndefined()

    const orphan = await createJob('cascade-orphan')
    const orphaned = await kubectl(['delete', 'job', 'cascade-orphan', '--cascade=orphan'])
    expect(orphaned, orphaned.stderr).toMatchObject({code: 0})
    expect(server.get('pods', 'default', orphan)?.metadata.ownerReferences).toBeUndefined()
    expect(server.get('pods', 'default', orphan)?.metadata.deletionTimestamp).toBeUndefined()

    const deletes = server.requests({method: 'DELETE', path: /\/jobs\/cascade-/})
    expect(deletes.map((request) => (request.body as {propagationPolicy?: string} | undefined)?.propagationPolicy)).toEqual(['Background', 'Foreground', 'Orphan'])
  })

  it('force-deletes a pod stuck terminating (--force --grace-period=0)', async () => {
    const pod = await createJob('stuck')
    server.startPod(pod)
    server.hangTerminating()
    try {
      const graceful = await kubectl(['delete', 'pod', pod, '--wait=false'])
      expect(graceful.code).toBe(0)
      expect(server.get('pods', 'default', pod)?.metadata.deletionTimestamp).toBeDefined()
      const forced = await kubectl(['delete', 'pod', pod, '--force', '--grace-period=0'])
      expect(forced, forced.stderr).toMatchObject({code: 0})
      expect(forced.stderr).toContain('Immediate deletion does not wait for confirmation')
      expect(server.get('pods', 'default', pod)).toBeUndefined()
    } finally {
      server.hangTerminating(false)
    }
  })
})
