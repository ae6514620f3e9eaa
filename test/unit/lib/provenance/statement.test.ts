// The Statement Danube signs, field by field, as docs/buildtypes/job-v1.md documents it.

import {describe, expect, it} from 'vitest'

import {builderIdFor, checkBuilderIdTemplate, localProvenanceContext} from '../../../../src/agent/provenance/signer.js'
import {validateJobSpec} from '../../../../src/lib/jobs/spec.js'
import {buildStatement, type StatementInput} from '../../../../src/lib/provenance/statement.js'
import {parseStrictJson} from '../../../../src/lib/provenance/strict-json.js'

const input = (change: Partial<StatementInput> = {}): StatementInput => ({
  jobId: '6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10',
  spec: {name: 'build', steps: [{name: 'compile', run: 'make'}, {run: 'make test', image: 'alpine:3.20'}], env: {A: '1', TOKEN: 's3cret'}, secrets: ['TOKEN'], timeout: '1h',
    source: {uri: 'https://git.example.com/acme/app', ref: 'refs/heads/main', commit: '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d'}, inputs: [{uri: 'https://example.com/dep.tgz', digest: 'sha256:' + 'B'.repeat(64)}]},
  files: [{path: 'z.txt', sha256: '1'.repeat(64)}, {path: '.hidden', sha256: '2'.repeat(64)}, {path: 'a/b.txt', sha256: '3'.repeat(64)}, {path: 'provenance.intoto.jsonl', sha256: '4'.repeat(64)}],
  steps: [
    {name: 'compile', exitCode: 0, startedAt: '2026-11-27T08:00:00.000Z', finishedAt: '2026-11-27T08:00:02.500Z', imageDigest: `docker.io/library/busybox@sha256:${'c'.repeat(64)}`},
    {name: 'step-2', image: 'alpine:3.20', exitCode: 0, startedAt: '2026-11-27T08:00:02.500Z', finishedAt: '2026-11-27T08:00:03.000Z', imageDigest: `docker.io/library/alpine@sha256:${'d'.repeat(64)}`},
  ],
  builderId: 'https://danube.dev/builders/kubernetes-pod/v1',
  builderVersion: {danube: '0.1.0', kubernetes: 'v1.33.1'},
  internalParameters: {executor: 'kubernetes', isolation: 'pod'},
  startedOn: '2026-11-27T08:00:00.000Z',
  finishedOn: '2026-11-27T08:00:03.100Z',
  log: {name: 'logs/6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10.log', sha256: '5'.repeat(64)},
  defaultImage: 'busybox:1.36',
  ...change,
})

describe('the provenance Statement', () => {
  it('is an in-toto Statement v1 with a SLSA v1 predicate and Danube\'s build type', () => {
    const statement = buildStatement(input())
    expect(statement._type).toBe('https://in-toto.io/Statement/v1')
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1')
    expect(statement.predicate.buildDefinition.buildType).toBe('https://danube.dev/buildtypes/job/v1')
  })

  it('lists every file as a subject sorted by name, hidden ones included, reserved names excluded', () => {
    expect(buildStatement(input()).subject).toEqual([
      {name: '.hidden', digest: {sha256: '2'.repeat(64)}},
      {name: 'a/b.txt', digest: {sha256: '3'.repeat(64)}},
      {name: 'z.txt', digest: {sha256: '1'.repeat(64)}},
    ])
  })

  it('records the job as submitted with secret values redacted, and it reruns as a valid job spec', () => {
    const external = buildStatement(input()).predicate.buildDefinition.externalParameters
    expect(external).toEqual({
      job: {name: 'build', steps: [{name: 'compile', run: 'make'}, {name: 'step-2', image: 'alpine:3.20', run: 'make test'}], env: {A: '1', TOKEN: '[REDACTED]'}, timeout: '1h'},
      source: {uri: 'https://git.example.com/acme/app', ref: 'refs/heads/main'},
    })
    // docs/buildtypes/job-v1.md: the external parameters are a complete job spec.
    expect(validateJobSpec({name: external.job.name, steps: external.job.steps, env: external.job.env, timeout: external.job.timeout, source: external.source})).toMatchObject({name: 'build'})
  })

  it('resolves the source commit, declared inputs and each image the cluster resolved', () => {
    expect(buildStatement(input()).predicate.buildDefinition.resolvedDependencies).toEqual([
      {uri: 'git+https://git.example.com/acme/app@refs/heads/main', digest: {gitCommit: '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d'}},
      {uri: 'https://example.com/dep.tgz', digest: {sha256: 'b'.repeat(64)}},
      {uri: 'pkg:docker/busybox:1.36', digest: {sha256: 'c'.repeat(64)}, annotations: {imageID: `docker.io/library/busybox@sha256:${'c'.repeat(64)}`}},
      {uri: 'pkg:docker/alpine:3.20', digest: {sha256: 'd'.repeat(64)}, annotations: {imageID: `docker.io/library/alpine@sha256:${'d'.repeat(64)}`}},
    ])
  })

  it('carries builder, invocation, times, the log digest and per-step exit codes and durations', () => {
    const {runDetails} = buildStatement(input()).predicate
    expect(runDetails.builder).toEqual({id: 'https://danube.dev/builders/kubernetes-pod/v1', version: {danube: '0.1.0', kubernetes: 'v1.33.1'}})
    expect(runDetails.metadata).toEqual({invocationId: 'urn:uuid:6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10', startedOn: '2026-11-27T08:00:00.000Z', finishedOn: '2026-11-27T08:00:03.100Z'})
    expect(runDetails.byproducts).toEqual([
      {name: 'logs/6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10.log', digest: {sha256: '5'.repeat(64)}, mediaType: 'text/plain'},
      {name: 'steps/1', uri: 'urn:uuid:6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10#steps/1', annotations: {step: 'compile', exitCode: 0, durationSeconds: 2.5}},
      {name: 'steps/2', uri: 'urn:uuid:6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10#steps/2', annotations: {step: 'step-2', exitCode: 0, durationSeconds: 0.5}},
    ])
  })
})

describe('provenance.builderId', () => {
  it('gives each executor and isolation mode its own builder id', () => {
    const template = 'https://danube.dev/builders/{executor}-{isolation}/v1'
    expect(new Set([builderIdFor(template, 'local', 'none'), builderIdFor(template, 'local', 'bubblewrap'), builderIdFor(template, 'kubernetes', 'pod')]).size).toBe(3)
  })

  it('takes the local isolation from what the executor reported for the job, and nothing reported as none', () => {
    expect(localProvenanceContext({sandbox: 'bubblewrap'}, {setting: 'auto', network: 'none'})).toEqual({isolation: 'bubblewrap', internal: {sandbox: {mode: 'bubblewrap', setting: 'auto', network: 'none'}}})
    expect(localProvenanceContext({sandbox: 'none'}, {setting: 'auto', network: 'host'})).toEqual({isolation: 'none', internal: {sandbox: {mode: 'none', setting: 'auto'}}})
    expect(localProvenanceContext({})).toEqual({isolation: 'none', internal: {sandbox: {mode: 'none'}}})
    expect(localProvenanceContext({sandbox: 'gvisor'}).isolation).toBe('none')
  })

  it('refuses a template without {executor} or {isolation}, naming the key (exit 2)', () => {
    expect(() => checkBuilderIdTemplate('https://ci.example.com/builders/k3s/v1')).toThrow(expect.objectContaining({
      exitCode: 2, message: 'invalid value "https://ci.example.com/builders/k3s/v1" for "provenance.builderId": expected a URI containing {executor} and {isolation}',
    }))
    expect(() => checkBuilderIdTemplate('https://ci.example.com/{executor}/{isolation}')).not.toThrow()
  })
})

describe('strict JSON', () => {
  it('rejects a duplicate key at any depth, after unescaping, and accepts equal keys in different objects', () => {
    expect(() => parseStrictJson('{"a":{"b":1,"b":2}}')).toThrow('duplicate key "b" in a')
    expect(() => parseStrictJson('{"a":1,"\\u0061":2}')).toThrow('duplicate key "a"')
    expect(() => parseStrictJson('[{"a":1},{"a":2,"x":"}\\"{","a":3}]')).toThrow('duplicate key "a"')
    expect(parseStrictJson('{"a":{"a":1},"b":[{"a":1},{"a":2}],"s":"{\\"a\\":1,\\"a\\":2}"}')).toEqual({a: {a: 1}, b: [{a: 1}, {a: 2}], s: '{"a":1,"a":2}'})
    expect(() => parseStrictJson('{"a":')).toThrow(/not valid JSON/)
  })
})
