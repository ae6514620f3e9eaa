// Provenance on the kubernetes executor: a real agent against the Kubernetes test API server signs a job's outputs
// with the image digests the cluster resolved and the server's version; `danube provenance verify` accepts it; a
// reserved name among the outputs fails provenance; and the signing key appears in no Kubernetes object or request.

import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {bundleFromJSON} from '@sigstore/bundle'
import {toSignedEntity, toTrustMaterial, Verifier} from '@sigstore/verify'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {preAuthEncoding} from '../../src/lib/provenance/dsse.js'
import {generateKeyPair, type KeyPairFiles, readPublicKey} from '../../src/lib/provenance/keys.js'
import type {Statement} from '../../src/lib/provenance/statement.js'
import {type AgentProcess, makeStateDir, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'
import {KubeApiServer} from '../support/kube-api-server.js'
import {finishWithOutputs, serveCraftedArchive, type TarEntry, tarOf} from '../support/kube-outputs.js'

interface JobView {
  id: string
  state: string
  provenance: {state: string; reason: string | null; keyId: string | null} | null
}

const NS = 'provenance'
let server: KubeApiServer
let agent: AgentProcess
let keys: KeyPairFiles

beforeAll(async () => {
  server = new KubeApiServer()
  await server.start()
  const stateDir = makeStateDir()
  keys = generateKeyPair(path.join(stateDir, 'keys'))
  agent = await startAgent({
    stateDir,
    env: {
      DANUBE_KUBERNETES_ENABLED: 'true',
      KUBECONFIG: server.writeKubeconfig(),
      DANUBE_JOBS_EXECUTOR: 'kubernetes',
      DANUBE_KUBERNETES_JOB_NAMESPACE: NS,
      DANUBE_KUBERNETES_GRACE_PERIOD_SECONDS: '1',
      DANUBE_KUBERNETES_REQUEST_TIMEOUT: '2s',
    },
  })
})

afterAll(async () => {
  await agent?.stop('SIGKILL')
  if (agent) removeStateDir(agent.stateDir)
  await server?.stop()
})

/** Runs the job's steps on the test kubelet, then its final container with `files` in /outputs (or a crafted archive). */
async function runToSuccess(spec: {steps: unknown[]} & Record<string, unknown>, outputs: Record<string, string> | {crafted: TarEntry[]}, imageIDs: Record<number, string> = {}): Promise<JobView> {
  const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  const {id} = (await response.json()) as {id: string}
  const job = `danube-${id}`
  const pod = await waitFor(() => (server.jobPods(NS, job).length > 0 ? server.jobPodName(NS, job) : undefined), {what: `pod of ${id}`})
  for (let step = 1; step <= spec.steps.length; step++) {
    server.runInitContainer(pod, `step-${step}`)
    if (imageIDs[step]) server.setContainerImageID(pod, `step-${step}`, imageIDs[step]!)
    server.appendLog(pod, `step-${step}`, `output of step ${step}\n`)
    server.finishInitContainer(pod, `step-${step}`, 0)
  }
  if ('crafted' in outputs) {
    serveCraftedArchive(server, pod, await tarOf(outputs.crafted as TarEntry[]))
    await finishWithOutputs(server, pod)
  } else {
    await finishWithOutputs(server, pod, outputs as Record<string, string>)
  }
  return waitFor(async () => {
    const view = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobView
    return ['succeeded', 'failed', 'cancelled'].includes(view.state) ? view : undefined
  }, {timeoutMs: 15_000, what: `job ${id} to finish`})
}

describe('provenance of a Kubernetes job', () => {
  let job: JobView
  const alpine = `docker.io/library/alpine@sha256:${'a'.repeat(64)}`

  beforeAll(async () => {
    job = await runToSuccess(
      {name: 'kbuild', env: {TOKEN: 'kube-secret-value'}, secrets: ['TOKEN'], steps: [{name: 'fetch', run: 'echo 1'}, {name: 'build', run: 'echo 2', image: 'alpine:3.20'}]},
      {'dist/app.txt': 'built\n', '.meta': 'm'},
      {2: alpine},
    )
  })

  it('is signed and verifies with `danube provenance verify --builder-id` for the kubernetes builder', async () => {
    expect(job).toMatchObject({state: 'succeeded', provenance: {state: 'signed', keyId: keys.keyId}})
    const result = await runCli(['provenance', 'verify', path.join(agent.stateDir, 'artifacts', job.id), '--key', keys.publicKeyFile, '--builder-id', 'https://danube.dev/builders/kubernetes-pod/v1', '--json'], {stateDir: agent.stateDir})
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({verified: true, subjects: 2, failures: []})
  })

  it('verifies with openssl pkeyutl -verify -rawin over the pre-authentication bytes, and its Sigstore bundle with @sigstore/verify offline', () => {
    const artifacts = path.join(agent.stateDir, 'artifacts', job.id)
    const envelope = JSON.parse(readFileSync(path.join(artifacts, 'provenance.intoto.jsonl'), 'utf8')) as {payloadType: string; payload: string; signatures: {sig: string}[]}
    const scratch = makeStateDir('danube-openssl-')
    try {
      writeFileSync(path.join(scratch, 'pae'), preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64')))
      writeFileSync(path.join(scratch, 'sig'), Buffer.from(envelope.signatures[0]!.sig, 'base64'))
      const out = execFileSync('openssl', ['pkeyutl', '-verify', '-rawin', '-pubin', '-inkey', keys.publicKeyFile, '-in', path.join(scratch, 'pae'), '-sigfile', path.join(scratch, 'sig')])
      expect(out.toString()).toContain('Signature Verified Successfully')
    } finally {
      removeStateDir(scratch)
    }
    const pinned = readPublicKey(keys.publicKeyFile)
    const emptyRoot = {mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: []}
    const verifier = new Verifier(toTrustMaterial(emptyRoot as never, () => ({publicKey: pinned, validFor: () => true})), {tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0})
    const bundle = bundleFromJSON(JSON.parse(readFileSync(path.join(artifacts, 'provenance.sigstore.json'), 'utf8')))
    expect(verifier.verify(toSignedEntity(bundle)).key.asymmetricKeyType).toBe('ed25519')
  })

  it('records each step image with the digest the cluster resolved, the server version and the namespace', () => {
    const envelope = JSON.parse(readFileSync(path.join(agent.stateDir, 'artifacts', job.id, 'provenance.intoto.jsonl'), 'utf8')) as {payload: string}
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as Statement
    expect(statement.subject.map((s) => s.name)).toEqual(['.meta', 'dist/app.txt'])
    const images = statement.predicate.buildDefinition.resolvedDependencies
    expect(images).toContainEqual({uri: 'pkg:docker/alpine:3.20', digest: {sha256: 'a'.repeat(64)}, annotations: {imageID: alpine}})
    expect(images).toContainEqual(expect.objectContaining({uri: 'pkg:docker/busybox:1.36', digest: {sha256: expect.stringMatching(/^[0-9a-f]{64}$/)}}))
    expect(statement.predicate.runDetails.builder).toEqual({id: 'https://danube.dev/builders/kubernetes-pod/v1', version: {danube: '0.1.0', kubernetes: 'v1.33.1'}})
    expect(statement.predicate.buildDefinition.internalParameters).toMatchObject({
      executor: 'kubernetes', isolation: 'pod',
      kubernetes: {namespace: NS, automountServiceAccountToken: false},
      environment: {DANUBE_JOB_ID: job.id, DANUBE_WORKSPACE: '/workspace', DANUBE_OUTPUT_DIR: '/outputs'},
    })
    expect(statement.predicate.buildDefinition.externalParameters.job.env).toEqual({TOKEN: '[REDACTED]'})
  })

  it('puts the signing key in no Kubernetes object or request: Jobs, pods, Secrets', () => {
    const privatePem = readFileSync(keys.privateKeyFile, 'utf8')
    const secretBody = privatePem.split('\n')[1]!
    const sent = JSON.stringify(server.requests().map((request) => request.body ?? null))
    expect(server.requests({method: 'POST'}).length).toBeGreaterThan(0)
    expect(sent).not.toContain(secretBody)
    expect(sent).not.toContain('provenance.key')
    expect(sent).not.toContain(keys.dir)
    expect(server.requests({path: /secrets/}).length).toBe(0)
    const created = JSON.stringify(server.getJob(NS, `danube-${job.id}`))
    expect(created).not.toContain(secretBody)
    expect(created).not.toContain(keys.dir)
  })

  it('fails provenance, with the reason, when the outputs carry a reserved name', async () => {
    const forged = await runToSuccess({name: 'kforge', steps: [{run: 'true'}]}, {crafted: [{name: './', type: 'directory'}, {name: './provenance.sigstore.json', content: '{}'}, {name: './ok', content: 'x'}]})
    expect(forged).toMatchObject({state: 'succeeded', provenance: {state: 'failed', reason: expect.stringContaining('"./provenance.sigstore.json" (reserved artifact name)')}})
  })
})
