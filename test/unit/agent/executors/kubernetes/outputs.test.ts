// Copying a Kubernetes job's outputs home through pods/exec: real tar in the test kubelet, the real protocol, the real
// client, and the output rule (regular files and directories only; absolute paths, .., links and special files
// refused), with the end-to-end checks (remote tar's exit, size, sha256) and nothing partial ever in artifacts/<id>/.

import {createHash} from 'node:crypto'
import {chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {buildJobManifest} from '../../../../../src/agent/executors/kubernetes/manifest.js'
import {copyOutputs, type CopyResult} from '../../../../../src/agent/executors/kubernetes/outputs.js'
import {JobLog} from '../../../../../src/lib/jobs/log.js'
import type {Job} from '../../../../../src/lib/jobs/model.js'
import {createKubeClient, type KubeClient} from '../../../../../src/lib/kube/index.js'
import {waitFor} from '../../../../support/agent-process.js'
import {KubeApiServer} from '../../../../support/kube-api-server.js'
import {fillOutputs, outputsDir, replaceInCopyScript, serveCraftedArchive, tarOf} from '../../../../support/kube-outputs.js'

const ns = 'outputs'
let server: KubeApiServer
let client: KubeClient
let core: CoreV1Api
const dirs: string[] = []

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  const kubeconfig = server.writeKubeconfig()
  dirs.push(path.dirname(kubeconfig))
  client = await createKubeClient({kubeconfig})
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  core = kc.makeApiClient(CoreV1Api)
  await client.ensureNamespace(ns)
})

afterAll(async () => {
  await server.stop()
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

afterEach(() => server.clearFaults())

let counter = 0
/** A pod shaped as the executor's Job makes it (same final container and volumes), its final container running. */
async function waitingPod(): Promise<string> {
  const job = {id: `j${++counter}`, name: 'copy', spec: {name: 'copy', steps: [{run: 'true'}], timeout: '1h'}} as unknown as Job
  const spec = buildJobManifest(job, {namespace: ns, defaultImage: 'busybox:1.36', outputsImage: 'busybox:1.36', gracePeriodSeconds: 1, ttlSecondsAfterFinished: 60, timeoutMs: 3_600_000, outputsWaitMs: 600_000}).spec!.template.spec!
  const name = `pod-${counter}`
  await core.createNamespacedPod({namespace: ns, body: {metadata: {name}, spec}})
  server.startPod(`${ns}/${name}`)
  return name
}

function scratch(): {artifacts: string; log: JobLog; logText: () => string} {
  const dir = mkdtempSync(path.join(tmpdir(), 'danube-outputs-'))
  dirs.push(dir)
  const log = new JobLog(path.join(dir, 'job.log'), 1 << 20)
  return {artifacts: path.join(dir, 'artifacts', 'job'), log, logText: () => readFileSync(log.file, 'utf8')}
}

async function copy(pod: string, options: {maxBytes?: number; signal?: AbortSignal} = {}): Promise<CopyResult & {artifacts: string; logText: () => string}> {
  const {artifacts, log, logText} = scratch()
  const result = await copyOutputs({client, namespace: ns, pod, artifactsDir: artifacts, log, maxBytes: options.maxBytes ?? 10 * 1024 ** 3, signal: options.signal ?? new AbortController().signal})
  return {...result, artifacts, logText}
}

/** Nothing under the artifacts' parent but what commit() put there: no staging directory, no half-written file. */
function leftovers(artifacts: string): string[] {
  if (!existsSync(path.dirname(artifacts))) return []
  return readdirSync(path.dirname(artifacts)).filter((name) => name !== path.basename(artifacts))
}

describe('copyOutputs', () => {
  it('copies nested directories, names with spaces, many small files and executables, with each file\'s sha256', async () => {
    const pod = await waitingPod()
    const files: Record<string, string> = {'reports/junit results.xml': '<testsuite/>', 'bin/tool': '#!/bin/sh\n', [`${'d/'.repeat(40)}deep.txt`]: 'long name'}
    for (let i = 0; i < 300; i++) files[`many/file ${i}.txt`] = `file ${i}\n`
    fillOutputs(server, `${ns}/${pod}`, files)
    chmodSync(path.join(outputsDir(server, `${ns}/${pod}`), 'bin/tool'), 0o755)
    const result = await copy(pod)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.outputs.refused).toEqual([])
    expect(result.outputs.files).toHaveLength(303)
    expect(result.outputs.files.find((file) => file.path === 'many/file 7.txt')).toEqual({path: 'many/file 7.txt', size: 7, sha256: createHash('sha256').update('file 7\n').digest('hex')})
    expect(readFileSync(path.join(result.artifacts, 'reports/junit results.xml'), 'utf8')).toBe('<testsuite/>')
    expect(readFileSync(path.join(result.artifacts, `${'d/'.repeat(40)}deep.txt`), 'utf8')).toBe('long name')
    expect(lstatSync(path.join(result.artifacts, 'bin/tool')).mode & 0o111).not.toBe(0)
    expect(leftovers(result.artifacts)).toEqual([])
    expect(result.logText()).not.toContain('outputs container:')
  })

  it('refuses a symlink and a fifo that the steps left in /outputs, and copies the rest', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'ok.txt': 'ok'})
    symlinkSync('/etc/shadow', path.join(outputsDir(server, `${ns}/${pod}`), 'link'))
    const result = await copy(pod)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.outputs.refused).toEqual([{path: './link', reason: 'symbolic link'}])
    expect(readdirSync(result.artifacts)).toEqual(['ok.txt'])
  })

  it('refuses a hostile archive entry by entry: absolute paths, .., symlinks, hard links, devices, reserved names', async () => {
    const pod = await waitingPod()
    serveCraftedArchive(server, `${ns}/${pod}`, await tarOf([
      {name: 'ok.txt', content: 'fine'},
      {name: '/etc/cron.d/evil', content: 'x'},
      {name: '../../escape.txt', content: 'x'},
      {name: 'a/../../escape2.txt', content: 'x'},
      {name: 'link', type: 'symlink', linkname: '/etc/passwd'},
      {name: 'hard', type: 'link', linkname: 'ok.txt'},
      {name: 'dev', type: 'character-device'},
      {name: 'provenance.intoto.jsonl', content: 'forged'},
      {name: 'after.txt', content: 'still read'},
    ]))
    const result = await copy(pod)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.outputs.files.map((file) => file.path)).toEqual(['after.txt', 'ok.txt'])
    expect(result.outputs.refused).toHaveLength(7)
    expect(readdirSync(result.artifacts).sort()).toEqual(['after.txt', 'ok.txt'])
    expect(existsSync(path.join(path.dirname(result.artifacts), 'escape.txt'))).toBe(false)
    const text = result.logText()
    for (const refused of ['/etc/cron.d/evil: absolute path', '../../escape.txt: path contains ..', 'link: symbolic link', 'hard: hard link',
      'dev: not a regular file (character-device)', 'provenance.intoto.jsonl: reserved artifact name']) {
      expect(text).toContain(`refused output ${refused}`)
    }
  })

  it('fails when the archive that arrived is not the one the container hashed, and keeps nothing', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'a.txt': 'A'})
    replaceInCopyScript(server, `${ns}/${pod}`, 'sha256=$(cut -d\' \' -f1 < "$d/sum.out")', `sha256=${'0'.repeat(64)}`)
    const result = await copy(pod)
    expect(result).toMatchObject({ok: false})
    if (result.ok) return
    expect(result.problem).toMatch(/^the outputs archive that arrived \(sha256 [0-9a-f]{64}\) is not the one the container sent/)
    expect(existsSync(result.artifacts)).toBe(false)
    expect(leftovers(result.artifacts)).toEqual([])
  })

  it('fails when tar in the container fails, naming its exit status and showing what it said', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'a.txt': 'A'})
    replaceInCopyScript(server, `${ns}/${pod}`, 'tar -C /outputs -cf - .', 'tar -C /outputs -cf - . ./missing')
    const result = await copy(pod)
    expect(result).toMatchObject({ok: false, problem: 'tar in the outputs container exited with 2'})
    expect(result.logText()).toMatch(/outputs container: tar: \.\/missing: Cannot stat/)
    expect(existsSync(result.artifacts)).toBe(false)
  })

  it('escapes control characters in what the container says before it reaches the job log', async () => {
    const pod = await waitingPod()
    replaceInCopyScript(server, `${ns}/${pod}`, 'tar -C /outputs -cf - .', 'printf "bad \\033[31mname\\n" >&2; tar -C /outputs -cf - .')
    const result = await copy(pod)
    expect(result.ok).toBe(true)
    expect(result.logText()).toContain('outputs container: bad \\x1b[31mname')
    expect(result.logText()).not.toContain('\u001b')
  })

  it('fails when the container prints no checksum line', async () => {
    const pod = await waitingPod()
    replaceInCopyScript(server, `${ns}/${pod}`, 'echo "danube-outputs', 'echo "something-else')
    const result = await copy(pod)
    expect(result).toMatchObject({ok: false, problem: 'the outputs container printed no size and checksum for the archive'})
  })

  it('stops at kubernetes.outputsMaxBytes with a clear error and keeps nothing', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'big.bin': Buffer.alloc(3 << 20, 1)})
    const result = await copy(pod, {maxBytes: 1 << 20})
    expect(result).toMatchObject({ok: false, problem: `the outputs are larger than kubernetes.outputsMaxBytes (${1 << 20} bytes); nothing was copied`})
    expect(existsSync(result.artifacts)).toBe(false)
    expect(leftovers(result.artifacts)).toEqual([])
  })

  it('fails on a stream that is not a tar', async () => {
    const pod = await waitingPod()
    replaceInCopyScript(server, `${ns}/${pod}`, 'tar -C /outputs -cf - .', 'head -c 4096 /dev/urandom')
    const result = await copy(pod)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problem).toMatch(/^the outputs archive could not be unpacked: /)
    expect(leftovers(result.artifacts)).toEqual([])
  })

  it('fails when the stream drops mid-copy and leaves nothing partial', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'first.bin': Buffer.alloc(1 << 20, 1), 'second.bin': Buffer.alloc(4 << 20, 2)})
    server.fault({path: new RegExp(`/pods/${pod}/exec$`), dropAfterBytes: 2 << 20, times: 1})
    const result = await copy(pod)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problem).toMatch(/ended before the command's exit status arrived/)
    expect(result.error?.code).toBe('KUBE_UNREACHABLE')
    expect(existsSync(result.artifacts)).toBe(false)
    expect(leftovers(result.artifacts)).toEqual([])
  })

  it('keeps the previous artifacts/<id>/ untouched when a copy fails', async () => {
    const pod = await waitingPod()
    const {artifacts, log} = scratch()
    fillOutputs(server, `${ns}/${pod}`, {'v1.txt': 'one'})
    expect((await copyOutputs({client, namespace: ns, pod, artifactsDir: artifacts, log, maxBytes: 1 << 30, signal: new AbortController().signal})).ok).toBe(true)
    fillOutputs(server, `${ns}/${pod}`, {'v2.bin': Buffer.alloc(2 << 20, 3)})
    server.fault({path: new RegExp(`/pods/${pod}/exec$`), dropAfterBytes: 1 << 20, times: 1})
    expect((await copyOutputs({client, namespace: ns, pod, artifactsDir: artifacts, log, maxBytes: 1 << 30, signal: new AbortController().signal})).ok).toBe(false)
    expect(readdirSync(artifacts)).toEqual(['v1.txt'])
  })

  it('stops at once when aborted, keeping nothing', async () => {
    const pod = await waitingPod()
    fillOutputs(server, `${ns}/${pod}`, {'a.txt': 'A'})
    replaceInCopyScript(server, `${ns}/${pod}`, 'tar -C /outputs -cf - .', 'tar -C /outputs -cf - . ; sleep 30')
    const controller = new AbortController()
    const running = copy(pod, {signal: controller.signal})
    await waitFor(() => server.execs(pod).length === 1, {what: 'the copy to start'})
    controller.abort()
    const result = await running
    expect(result).toMatchObject({ok: false, aborted: true})
    expect(existsSync(result.artifacts)).toBe(false)
    await waitFor(() => server.execs(pod)[0]!.closed, {what: 'the exec connection to close'})
  })

  it('fails with KUBE_FORBIDDEN naming the verb and resource when RBAC forbids pods/exec', async () => {
    const pod = await waitingPod()
    const lift = server.forbid({verb: 'create', resource: 'pods/exec', namespace: ns})
    try {
      const result = await copy(pod)
      expect(result.ok).toBe(false)
      if (result.ok) return
      expect(result.error?.code).toBe('KUBE_FORBIDDEN')
      expect(result.problem).toContain(`forbidden: cannot create pods/exec/${pod} in namespace ${ns}`)
      expect(result.problem).toContain('grant the identity')
    } finally {
      lift()
    }
  })
})
