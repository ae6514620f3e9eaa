// Provenance on the local executor, end to end: a real agent signs a real job's artifacts; `danube provenance verify`
// and `openssl pkeyutl -verify -rawin` accept them; job show, the API and `danube status` carry the outcome; outputs
// that break the output rule, an unsafe key and a missing key each record their outcome; the key never reaches a job.

import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HealthDocument} from '../../src/agent/health/types.js'
import {preAuthEncoding} from '../../src/lib/provenance/dsse.js'
import {generateKeyPair, type KeyPairFiles} from '../../src/lib/provenance/keys.js'
import type {Statement} from '../../src/lib/provenance/statement.js'
import {type AgentProcess, makeStateDir, REPO_ROOT, removeStateDir, runCli, startAgent, waitFor} from '../support/agent-process.js'

interface JobJson {
  id: string
  state: string
  provenance: {state: string; reason: string | null; keyId: string | null} | null
}

const dirs: string[] = []
const agents: AgentProcess[] = []
let agent: AgentProcess
let keys: KeyPairFiles
let agentKeysDir: string

beforeAll(async () => {
  const stateDir = makeStateDir()
  dirs.push(stateDir)
  agentKeysDir = path.join(stateDir, 'keys')
  keys = generateKeyPair(agentKeysDir)
  // The sandbox explicitly (the test set-up installs bubblewrap): its builder id and level are what is signed.
  agent = await startAgent({stateDir, env: {DANUBE_JOBS_MAX_CONCURRENT: '4', DANUBE_HEALTH_CACHE_TTL: '1s', DANUBE_JOBS_LOCAL_SANDBOX: 'bubblewrap'}})
  agents.push(agent)
})

afterAll(async () => {
  for (const running of agents) await running.stop('SIGKILL')
  for (const dir of dirs) removeStateDir(dir)
})

async function runJob(target: AgentProcess, spec: unknown): Promise<JobJson> {
  const response = await target.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify(spec)})
  expect(response.status).toBe(201)
  const {id} = (await response.json()) as {id: string}
  return waitFor(async () => {
    const job = (await (await target.api(`/api/v1/jobs/${id}`)).json()) as JobJson
    return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined
  }, {timeoutMs: 20_000, what: `job ${id} to finish`})
}

const artifactsOf = (target: AgentProcess, id: string) => path.join(target.stateDir, 'artifacts', id)

describe('provenance of a local job', () => {
  let job: JobJson
  beforeAll(async () => {
    job = await runJob(agent, {
      name: 'build',
      env: {MODE: 'release', NPM_TOKEN: 'hunter2-secret-value'},
      secrets: ['NPM_TOKEN'],
      source: {uri: 'https://git.example.com/acme/app', ref: 'refs/heads/main', commit: '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d'},
      steps: [
        {name: 'compile', run: 'mkdir -p "$DANUBE_OUTPUT_DIR/reports" && echo app > "$DANUBE_OUTPUT_DIR/app.bin" && echo ok > "$DANUBE_OUTPUT_DIR/reports/junit.xml" && echo h > "$DANUBE_OUTPUT_DIR/.hidden"'},
        {name: 'look', run: 'env > "$DANUBE_OUTPUT_DIR/env.txt"; ls -laR "$DANUBE_WORKSPACE" > "$DANUBE_OUTPUT_DIR/workspace.txt"; env'},
        {name: 'steal', run: `cat ${JSON.stringify(path.join(agentKeysDir, 'provenance.key'))} > "$DANUBE_OUTPUT_DIR/stolen.txt" 2>&1 || echo "refused: $?" >> "$DANUBE_OUTPUT_DIR/stolen.txt"`},
      ],
    })
  })

  it('is signed, recorded with the key id, and verified by `danube provenance verify` (exit 0)', async () => {
    expect(job).toMatchObject({state: 'succeeded', provenance: {state: 'signed', reason: null, keyId: keys.keyId}})
    const result = await runCli(['provenance', 'verify', artifactsOf(agent, job.id), '--key', keys.publicKeyFile, '--json', '--source-uri', 'https://git.example.com/acme/app'], {stateDir: agent.stateDir})
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      verified: true, subjects: 6, failures: [], keyId: keys.keyId, invocationId: `urn:uuid:${job.id}`,
      builderId: 'https://danube.dev/builders/local-bubblewrap/v1', buildType: 'https://danube.dev/buildtypes/job/v1',
    })
    // Without --key, keys.dir/provenance.pub of the configuration is the pinned key.
    const human = await runCli(['provenance', 'verify', artifactsOf(agent, job.id)], {stateDir: agent.stateDir})
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^verified: 6 file\(s\) in .* match their signed provenance\n {2}builder {4}https:\/\/danube\.dev\/builders\/local-bubblewrap\/v1/)
  })

  it('verifies with openssl pkeyutl -verify -rawin over the pre-authentication bytes', () => {
    const envelope = JSON.parse(readFileSync(path.join(artifactsOf(agent, job.id), 'provenance.intoto.jsonl'), 'utf8')) as {payloadType: string; payload: string; signatures: {sig: string}[]}
    const scratch = makeStateDir('danube-openssl-')
    dirs.push(scratch)
    writeFileSync(path.join(scratch, 'pae'), preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64')))
    writeFileSync(path.join(scratch, 'sig'), Buffer.from(envelope.signatures[0]!.sig, 'base64'))
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-rawin', '-pubin', '-inkey', keys.publicKeyFile, '-in', path.join(scratch, 'pae'), '-sigfile', path.join(scratch, 'sig')])
    expect(out.toString()).toContain('Signature Verified Successfully')
  })

  it('records the job as submitted with secret values redacted, its steps, the source commit and the log digest', () => {
    const text = readFileSync(path.join(artifactsOf(agent, job.id), 'provenance.intoto.jsonl'), 'utf8')
    const envelope = JSON.parse(text) as {payload: string}
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as Statement
    expect(statement.subject.map((s) => s.name)).toEqual(['.hidden', 'app.bin', 'env.txt', 'reports/junit.xml', 'stolen.txt', 'workspace.txt'])
    expect(statement.predicate.buildDefinition.externalParameters.job.env).toEqual({MODE: 'release', NPM_TOKEN: '[REDACTED]'})
    expect(Buffer.from(envelope.payload, 'base64').toString()).not.toContain('hunter2')
    expect(readFileSync(path.join(artifactsOf(agent, job.id), 'provenance.sigstore.json'), 'utf8')).not.toContain('hunter2')
    expect(statement.predicate.buildDefinition.resolvedDependencies).toContainEqual({uri: 'git+https://git.example.com/acme/app@refs/heads/main', digest: {gitCommit: '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d'}})
    expect(statement.predicate.buildDefinition.internalParameters).toMatchObject({executor: 'local', isolation: 'bubblewrap', sandbox: {mode: 'bubblewrap', setting: 'bubblewrap'}, environment: {DANUBE_JOB_ID: job.id}})
    const log = readFileSync(path.join(agent.stateDir, 'logs', `${job.id}.log`))
    expect(statement.predicate.runDetails.byproducts[0]).toEqual({name: `logs/${job.id}.log`, digest: {sha256: createHash('sha256').update(log).digest('hex')}, mediaType: 'text/plain'})
    expect(statement.predicate.runDetails.byproducts.slice(1).map((b) => [b.annotations?.step, b.annotations?.exitCode])).toEqual([['compile', 0], ['look', 0], ['steal', 0]])
  })

  it('never hands the key to the job: not readable in the sandbox, not in its environment, workspace, outputs or log, nor in the agent\'s own log', () => {
    const privatePem = readFileSync(keys.privateKeyFile, 'utf8')
    const secretBody = privatePem.split('\n')[1]!
    const artifacts = artifactsOf(agent, job.id)
    expect(readFileSync(path.join(artifacts, 'stolen.txt'), 'utf8')).toMatch(/No such file or directory[\s\S]*refused: 1/)
    const env = readFileSync(path.join(artifacts, 'env.txt'), 'utf8')
    expect(env).not.toContain(secretBody)
    expect(env).not.toContain(keys.dir)
    expect(env).not.toMatch(/DANUBE_KEYS|provenance\.key/)
    expect(readFileSync(path.join(artifacts, 'workspace.txt'), 'utf8')).not.toContain('provenance.key')
    const files = readdirSync(artifacts, {recursive: true, withFileTypes: true}).filter((entry) => entry.isFile())
    expect(files.length).toBeGreaterThan(5)
    for (const entry of files) expect(readFileSync(path.join(entry.parentPath, entry.name), 'utf8'), entry.name).not.toContain(secretBody)
    expect(readFileSync(path.join(agent.stateDir, 'logs', `${job.id}.log`), 'utf8')).not.toContain(secretBody)
    expect(agent.logs()).not.toContain(secretBody)
  })

  it('fails verification of a tampered copy with one line per problem (exit 1), and usage errors exit 2', async () => {
    const copy = path.join(makeStateDir('danube-copy-'), 'artifacts')
    dirs.push(path.dirname(copy))
    cpSync(artifactsOf(agent, job.id), copy, {recursive: true})
    writeFileSync(path.join(copy, 'app.bin'), 'tampered\n')
    writeFileSync(path.join(copy, 'extra'), 'x')
    const result = await runCli(['provenance', 'verify', copy, '--key', keys.publicKeyFile, '--builder-id', 'https://danube.dev/builders/kubernetes-pod/v1'], {stateDir: agent.stateDir})
    expect(result.code).toBe(1)
    expect(result.stdout.trim().split('\n')).toEqual([
      'FAIL provenance.intoto.jsonl: builder.id is "https://danube.dev/builders/local-bubblewrap/v1", expected "https://danube.dev/builders/kubernetes-pod/v1"',
      'FAIL extra: unexpected file: not a subject of the provenance',
      expect.stringMatching(/^FAIL app\.bin: changed: sha256 [0-9a-f]{64}, provenance says [0-9a-f]{64}$/),
      `verification failed: 3 problem(s) in ${copy}`,
    ])
    const json = await runCli(['provenance', 'verify', copy, '--key', keys.publicKeyFile, '--json'], {stateDir: agent.stateDir})
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({verified: false, failures: [{file: 'extra', reason: expect.any(String)}, {file: 'app.bin', reason: expect.stringMatching(/^changed/)}]})

    cpSync(keys.publicKeyFile, path.join(copy, 'my.pub'))
    const inside = await runCli(['provenance', 'verify', copy, '--key', path.join(copy, 'my.pub')], {stateDir: agent.stateDir})
    expect(inside.code).toBe(2)
    expect(inside.stderr).toContain('the public key must come from outside the directory it verifies')
    const missingKey = await runCli(['provenance', 'verify', copy, '--key', path.join(agent.stateDir, 'nope.pub')], {stateDir: agent.stateDir})
    expect(missingKey.code).toBe(2)
    expect(missingKey.stderr).toMatch(/^danube: cannot read public key .*nope\.pub: ENOENT\nhint: pass the provenance\.pub/)
    const noDir = await runCli(['provenance', 'verify', path.join(copy, 'none'), '--key', keys.publicKeyFile, '--json'], {stateDir: agent.stateDir})
    expect(noDir.code).toBe(2)
    expect(JSON.parse(noDir.stdout)).toMatchObject({error: {code: 'ARTIFACTS_UNREADABLE', exitCode: 2}})
  })

  it('`danube provenance show` prints the verified statement, or with --no-verify the statement labelled UNVERIFIED', async () => {
    const shown = await runCli(['provenance', 'show', artifactsOf(agent, job.id), '--key', keys.publicKeyFile], {stateDir: agent.stateDir})
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/^VERIFIED provenance of /)
    expect(shown.stdout).toContain('NPM_TOKEN=[REDACTED]')
    expect(shown.stdout).toMatch(/Subjects \(6\)\n {2}[0-9a-f]{64} {2}\.hidden/)
    const copy = path.join(makeStateDir('danube-copy-'), 'artifacts')
    dirs.push(path.dirname(copy))
    cpSync(artifactsOf(agent, job.id), copy, {recursive: true})
    writeFileSync(path.join(copy, 'app.bin'), 'tampered\n')
    const refused = await runCli(['provenance', 'show', copy, '--key', keys.publicKeyFile], {stateDir: agent.stateDir})
    expect(refused.code).toBe(1)
    expect(refused.stdout).toMatch(/^FAIL app\.bin: changed/)
    expect(refused.stdout).not.toContain('Subjects')
    const unverified = await runCli(['provenance', 'show', copy, '--no-verify', '--json'], {stateDir: agent.stateDir})
    expect(unverified.code).toBe(0)
    expect(JSON.parse(unverified.stdout)).toMatchObject({verified: null, statement: {_type: 'https://in-toto.io/Statement/v1'}})
    const human = await runCli(['provenance', 'show', copy, '--no-verify'], {stateDir: agent.stateDir})
    expect(human.stdout).toMatch(/^UNVERIFIED \(--no-verify\): nothing below is proven/)
  })

  it('verifies by hand exactly as docs/provenance.md shows (openssl, jq, sha256sum), and that procedure catches a changed file', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/provenance.md'), 'utf8')
    const script = /<!-- verify-by-hand -->\n```sh\n([\s\S]*?)```\n<!-- \/verify-by-hand -->/.exec(doc)![1]!
    const scratch = makeStateDir('danube-by-hand-')
    dirs.push(scratch)
    const run = (dir: string) => execFileSync('sh', ['-c', script], {cwd: scratch, env: {...process.env, DIR: dir, KEY: keys.publicKeyFile}, stdio: ['ignore', 'pipe', 'pipe']}).toString()
    expect(run(artifactsOf(agent, job.id))).toContain('Signature Verified Successfully')
    const copy = path.join(scratch, 'copy')
    cpSync(artifactsOf(agent, job.id), copy, {recursive: true})
    writeFileSync(path.join(copy, 'app.bin'), 'tampered\n')
    const failure = (() => {
      try {
        run(copy)
        return 'passed'
      } catch (error) {
        return `${(error as {stdout: Buffer}).stdout}${(error as {stderr: Buffer}).stderr}`
      }
    })()
    expect(failure).toMatch(/app\.bin: FAILED[\s\S]*computed checksum did NOT match/)
  })

  it('logs the key id at start, and signs with a rotated key from the next job on, without a restart', async () => {
    expect(agent.logs()).toContain(`"keyId":"${keys.keyId}"`)
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const first = generateKeyPair(path.join(stateDir, 'keys'))
    const target = await startAgent({stateDir})
    agents.push(target)
    const before = await runJob(target, {name: 'before', steps: [{run: 'echo 1 > "$DANUBE_OUTPUT_DIR/x"'}]})
    const oldPublicKey = path.join(stateDir, 'old.pub')
    cpSync(first.publicKeyFile, oldPublicKey)
    const rotated = await runCli(['keys', 'generate', '--force', '--json'], {stateDir})
    expect(rotated.code).toBe(0)
    const second = JSON.parse(rotated.stdout) as KeyPairFiles
    const after = await runJob(target, {name: 'after', steps: [{run: 'echo 2 > "$DANUBE_OUTPUT_DIR/x"'}]})
    expect([before.provenance?.keyId, after.provenance?.keyId]).toEqual([first.keyId, second.keyId])
    // The old provenance verifies only with the old public key.
    expect((await runCli(['provenance', 'verify', artifactsOf(target, before.id)], {stateDir})).code).toBe(1)
    expect((await runCli(['provenance', 'verify', artifactsOf(target, before.id), '--key', oldPublicKey], {stateDir})).code).toBe(0)
    expect((await runCli(['provenance', 'verify', artifactsOf(target, after.id)], {stateDir})).code).toBe(0)
  })

  it('shows in `danube job show` and `danube status`', async () => {
    const shown = await runCli(['job', 'show', job.id], {stateDir: agent.stateDir})
    expect(shown.stdout).toMatch(new RegExp(`Provenance +signed \\(key ${keys.keyId}; verify with`))
    const status = JSON.parse((await runCli(['status', '--json'], {stateDir: agent.stateDir})).stdout) as {provenance: Record<string, unknown>}
    expect(status.provenance).toMatchObject({signingKey: 'present', keyId: keys.keyId, signed: expect.any(Number)})
    expect((await runCli(['status'], {stateDir: agent.stateDir})).stdout).toMatch(new RegExp(`Provenance +signing with key ${keys.keyId}; \\d+ signed`))
  })
})

describe('provenance outcomes other than signed', () => {
  it('a step that writes provenance.intoto.jsonl into its outputs: refused, provenance failed with the reason, nothing passed off as signed', async () => {
    const job = await runJob(agent, {name: 'forger', steps: [{run: 'echo forged > "$DANUBE_OUTPUT_DIR/provenance.intoto.jsonl"; echo real > "$DANUBE_OUTPUT_DIR/out.txt"'}]})
    expect(job.state).toBe('succeeded')
    expect(job.provenance).toMatchObject({state: 'failed', reason: expect.stringContaining('"provenance.intoto.jsonl" (reserved artifact name)')})
    expect(readdirSync(artifactsOf(agent, job.id))).toEqual(['out.txt'])
    const verify = await runCli(['provenance', 'verify', artifactsOf(agent, job.id), '--key', keys.publicKeyFile], {stateDir: agent.stateDir})
    expect(verify.code).toBe(1)
    expect(verify.stdout).toContain('FAIL provenance.intoto.jsonl: missing: the directory has no provenance')
    const status = JSON.parse((await runCli(['status', '--json'], {stateDir: agent.stateDir})).stdout) as {provenance: {lastFailure: {jobId: string}}}
    expect(status.provenance.lastFailure.jobId).toBe(job.id)
    expect((await runCli(['job', 'show', job.id], {stateDir: agent.stateDir})).stdout).toMatch(/Provenance +failed \(1 output\(s\) refused: "provenance\.intoto\.jsonl" \(reserved artifact name\)\)/)
  })

  it('a hard link among the outputs: provenance failed, naming it', async () => {
    const job = await runJob(agent, {name: 'linker', steps: [{run: 'echo a > "$DANUBE_OUTPUT_DIR/a" && ln "$DANUBE_OUTPUT_DIR/a" "$DANUBE_OUTPUT_DIR/b"'}]})
    expect(job.provenance).toMatchObject({state: 'failed', reason: expect.stringMatching(/output\(s\) refused: "a" \(hard link\)/)})
  })

  it('failed and cancelled jobs get no provenance', async () => {
    const failed = await runJob(agent, {name: 'fails', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"; exit 3'}]})
    expect(failed).toMatchObject({state: 'failed', provenance: null})
    expect(existsSync(path.join(artifactsOf(agent, failed.id), 'provenance.intoto.jsonl'))).toBe(false)
    const response = await agent.api('/api/v1/jobs', {method: 'POST', body: JSON.stringify({name: 'cancelled', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"; exec sleep 30'}]})})
    const {id} = (await response.json()) as {id: string}
    await waitFor(async () => ((await (await agent.api(`/api/v1/jobs/${id}`)).json()) as {steps: {state: string}[]}).steps[0]!.state === 'running', {what: 'the step to run'})
    expect((await agent.api(`/api/v1/jobs/${id}/cancel`, {method: 'POST'})).status).toBe(202)
    const cancelled = await waitFor(async () => {
      const job = (await (await agent.api(`/api/v1/jobs/${id}`)).json()) as JobJson
      return job.state === 'cancelled' ? job : undefined
    }, {timeoutMs: 20_000, what: 'the job to be cancelled'})
    expect(cancelled.provenance).toBeNull()
    expect(existsSync(path.join(artifactsOf(agent, id), 'provenance.intoto.jsonl'))).toBe(false)
  })

  it('a signing key made group-readable: provenance failed with the fix, and the health check fails; once fixed, the next job is signed', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const own = generateKeyPair(path.join(stateDir, 'keys'))
    const target = await startAgent({stateDir, env: {DANUBE_HEALTH_CACHE_TTL: '1s'}})
    agents.push(target)
    chmodSync(own.privateKeyFile, 0o640)
    const job = await runJob(target, {name: 'unsafe', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"'}]})
    expect(job.provenance).toMatchObject({state: 'failed', reason: expect.stringContaining(`fix it with: chmod 600 ${own.privateKeyFile}`)})
    expect(existsSync(path.join(artifactsOf(target, job.id), 'provenance.intoto.jsonl'))).toBe(false)
    const document = await waitFor(async () => {
      const current = (await (await target.api('/health/ready?verbose')).json()) as HealthDocument
      return current.checks['provenance:signingKey']?.[0]?.status === 'fail' ? current : undefined
    }, {timeoutMs: 15_000, what: 'provenance:signingKey to fail'})
    expect(document.checks['provenance:signingKey']![0]!.output).toContain('chmod 600')
    const status = JSON.parse((await runCli(['status', '--json'], {stateDir})).stdout) as {provenance: {signingKey: string; problem: string}}
    expect(status.provenance).toMatchObject({signingKey: 'unsafe', problem: expect.stringContaining('chmod 600')})
    // The fix the message names takes effect at the next job, without a restart.
    chmodSync(own.privateKeyFile, 0o600)
    const fixed = await runJob(target, {name: 'fixed', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"'}]})
    expect(fixed.provenance).toMatchObject({state: 'signed', keyId: own.keyId})
  })

  it('unsandboxed (jobs.local.sandbox none): signed under its own builder id, local-none, with isolation none', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const own = generateKeyPair(path.join(stateDir, 'keys'))
    const target = await startAgent({stateDir, env: {DANUBE_JOBS_LOCAL_SANDBOX: 'none'}})
    agents.push(target)
    const job = await runJob(target, {name: 'bare', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"'}]})
    const result = await runCli(['provenance', 'verify', artifactsOf(target, job.id), '--json'], {stateDir})
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({verified: true, keyId: own.keyId, builderId: 'https://danube.dev/builders/local-none/v1'})
    const envelope = JSON.parse(readFileSync(path.join(artifactsOf(target, job.id), 'provenance.intoto.jsonl'), 'utf8')) as {payload: string}
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as Statement
    expect(statement.predicate.buildDefinition.internalParameters).toMatchObject({isolation: 'none', sandbox: {mode: 'none', setting: 'none'}})
  })

  it('refuses to start with a provenance.builderId that would give two isolation modes one builder id (exit 2)', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    await expect(startAgent({stateDir, env: {DANUBE_PROVENANCE_BUILDER_ID: 'https://ci.example.com/builders/k3s/v1'}}))
      .rejects.toThrow(/agent exited \(2\)[\s\S]*"provenance\.builderId": expected a URI containing \{executor\} and \{isolation\}/)
  })

  it('no signing key: the job runs, provenance is skipped (no signing key), and status and health say so (warn)', async () => {
    const stateDir = makeStateDir()
    dirs.push(stateDir)
    const target = await startAgent({stateDir})
    agents.push(target)
    expect(target.logs()).toContain('no provenance signing key')
    const job = await runJob(target, {name: 'unsigned', steps: [{run: 'echo x > "$DANUBE_OUTPUT_DIR/x"'}]})
    expect(job).toMatchObject({state: 'succeeded', provenance: {state: 'skipped', reason: 'no signing key', keyId: null}})
    expect(readdirSync(artifactsOf(target, job.id))).toEqual(['x'])
    expect((await runCli(['job', 'show', job.id], {stateDir})).stdout).toMatch(/Provenance +skipped \(no signing key\)/)
    const status = await runCli(['status'], {stateDir})
    expect(status.stdout).toMatch(/Provenance +skipped \(no signing key in .*keys; run `danube keys generate`\); 0 signed, 1 skipped, 0 failed/)
    const health = await runCli(['health', '--json'], {stateDir})
    expect(health.code).toBe(1)
    expect((JSON.parse(health.stdout) as HealthDocument).checks['provenance:signingKey']![0]).toMatchObject({status: 'warn', output: expect.stringContaining('danube keys generate')})
  })
})
