// Issue 9's figures: `danube provenance verify` throughput against sha256sum over the same files in the same run
// (1 GiB in large files; 10,000 small files), and the time provenance generation adds to a job with 10,000 outputs.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {ProvenanceSigner} from '../dist/agent/provenance/signer.js'
import {generateKeyPair, loadSigningKey, readPublicKey} from '../dist/lib/provenance/keys.js'
import {signStatement} from '../dist/lib/provenance/dsse.js'
import {writeProvenanceFiles} from '../dist/lib/provenance/files.js'
import {buildStatement} from '../dist/lib/provenance/statement.js'
import {sha256File, verifyDirectory} from '../dist/lib/provenance/verify.js'
import {BIN, benchEnv, median, report, startAgent, stateDir} from './support.js'

const RUNS = 3
// `node bench/provenance.js generation` measures generation only.
const only = process.argv[2]
const root = stateDir()
try {
  if (only !== 'generation') await verification()
  await generationCost()
} finally {
  rmSync(root, {recursive: true, force: true})
}

async function verification() {
  const keys = generateKeyPair(path.join(root, 'keys'))
  const publicKey = readPublicKey(keys.publicKeyFile)

  const large = await signedDirectory(path.join(root, 'large'), keys, Array.from({length: 8}, (_, i) => [`part-${i}.bin`, 128 * 1024 * 1024]))
  await compare('1 GiB in 8 files of 128 MiB', large, 1024, publicKey, keys)
  rmSync(large.dir, {recursive: true, force: true})

  const small = await signedDirectory(path.join(root, 'small'), keys, Array.from({length: 10_000}, (_, i) => [`d${i % 100}/f${i}.txt`, 1024]))
  await compare('10,000 files of 1 KiB', small, 10_000 / 1024, publicKey, keys)
  rmSync(small.dir, {recursive: true, force: true})
}

/** Files of the given sizes (random bytes) and their provenance, signed with the library the agent uses. */
async function signedDirectory(dir, keys, files) {
  const names = []
  const chunk = randomBytes(1024 * 1024)
  for (const [name, size] of files) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    const buffers = []
    for (let written = 0; written < size; written += chunk.length) buffers.push(size - written >= chunk.length ? chunk : randomBytes(size - written))
    // Each large file differs: its first bytes are its own.
    const content = Buffer.concat(buffers)
    content.write(name)
    writeFileSync(path.join(dir, name), content)
    names.push(name)
  }
  const outputs = []
  for (const name of names) outputs.push({path: name, sha256: await sha256File(path.join(dir, name))})
  const statement = buildStatement({
    jobId: '00000000-0000-4000-8000-000000000000', spec: {name: 'bench', steps: [{run: 'true'}], timeout: '1h'}, files: outputs, steps: [],
    builderId: 'https://danube.dev/builders/local-none/v1', builderVersion: {danube: 'bench'}, internalParameters: {}, startedOn: new Date().toISOString(), finishedOn: new Date().toISOString(),
  })
  writeProvenanceFiles(dir, signStatement(statement, loadSigningKey(keys.dir)))
  return {dir, names}
}

/** Median of RUNS alternating runs, warm page cache for both (one warm-up each). */
async function compare(label, {dir, names}, mebibytes, publicKey, keys) {
  const sha256sum = () => timed(() => run('xargs', ['-0', 'sha256sum'], {cwd: dir, input: names.join('\0')}))
  const library = () => timed(async () => {
    const result = await verifyDirectory(dir, {publicKey})
    if (!result.verified) throw new Error(`bench directory did not verify: ${JSON.stringify(result.failures.slice(0, 3))}`)
  })
  const cli = () => timed(() => run(process.execPath, [BIN, 'provenance', 'verify', dir, '--key', keys.publicKeyFile, '--json'], {env: benchEnv(root)}))
  await sha256sum()
  await library()
  const times = {sha256sum: [], library: [], cli: []}
  for (let i = 0; i < RUNS; i++) {
    times.sha256sum.push(await sha256sum())
    times.library.push(await library())
    times.cli.push(await cli())
  }
  const [s, l, c] = [median(times.sha256sum), median(times.library), median(times.cli)]
  report({figure: `verify throughput, ${label}`, sha256sumMs: round(s), verifyMs: round(l), cliMs: round(c), sha256sumMiBps: round(mebibytes / (s / 1000)), verifyMiBps: round(mebibytes / (l / 1000)),
    ratioToSha256sum: round(s / l), cliRatioToSha256sum: round(s / c), target: label.startsWith('1 GiB') ? '>= 0.8x' : '(reported)'})
}

/** A real agent runs a job writing 10,000 files, with a signing key and without one; the difference is generation. */
async function generationCost() {
  const spec = {name: 'many', steps: [{run: 'cd "$DANUBE_OUTPUT_DIR" && for d in $(seq 0 99); do mkdir d$d; for f in $(seq 0 99); do echo "$d-$f" > d$d/f$f.txt; done; done'}]}
  const figures = {}
  for (const withKey of [false, true]) {
    const dir = stateDir()
    if (withKey) generateKeyPair(path.join(dir, 'keys'))
    const agent = await startAgent(dir)
    try {
      const durations = []
      for (let i = 0; i < RUNS; i++) {
        const {id} = await agent.trigger(spec)
        let job
        for (;;) {
          // A poll may meet a keep-alive socket the agent just closed: ask again.
          job = await agent.api(`/api/v1/jobs/${id}`).then((response) => response.json()).catch(() => ({state: 'unknown'}))
          if (['succeeded', 'failed', 'cancelled'].includes(job.state)) break
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
        if (job.state !== 'succeeded' || job.provenance?.state !== (withKey ? 'signed' : 'skipped')) throw new Error(`job ${id}: ${job.state}, provenance ${JSON.stringify(job.provenance)}`)
        durations.push(Date.parse(job.finishedAt) - Date.parse(job.startedAt))
      }
      figures[withKey ? 'signed' : 'unsigned'] = {jobMs: durations.sort((a, b) => a - b)[1]}
    } finally {
      await agent.stop()
      rmSync(dir, {recursive: true, force: true})
    }
  }
  report({figure: 'job with 10,000 output files (real agent, median of 3)', unsignedJobMs: figures.unsigned.jobMs, signedJobMs: figures.signed.jobMs, addedMs: figures.signed.jobMs - figures.unsigned.jobMs})
  report({figure: 'provenance generation alone for 10,000 outputs (ProvenanceSigner.sign, median of 3)', ms: round(await signerAlone())})
}

/** The agent's signer on a 10,000-file outputs report: statement, log digest, signature, both files written. */
async function signerAlone() {
  const dir = stateDir()
  try {
    generateKeyPair(path.join(dir, 'keys'))
    const artifactsDir = path.join(dir, 'artifacts')
    mkdirSync(artifactsDir)
    writeFileSync(path.join(dir, 'job.log'), 'x'.repeat(64 * 1024))
    const files = Array.from({length: 10_000}, (_, i) => ({path: `d${Math.floor(i / 100)}/f${i % 100}.txt`, size: 6, sha256: randomBytes(32).toString('hex')}))
    const signer = new ProvenanceSigner({keysDir: path.join(dir, 'keys'), builderIdTemplate: 'https://danube.dev/builders/{executor}-{isolation}/v1', version: 'bench', executor: 'local', settings: {}, logger: {info() {}, warn() {}, error() {}}})
    const now = new Date().toISOString()
    const job = {id: '00000000-0000-4000-8000-000000000000', name: 'many', state: 'running', spec: {name: 'many', steps: [{run: 'true'}], timeout: '1h'}, steps: [{index: 0, name: 'step-1', state: 'succeeded', exitCode: 0, imageDigest: null, startedAt: now, finishedAt: now}], startedAt: now, createdAt: now}
    const times = []
    for (let i = 0; i < RUNS + 1; i++) {
      const started = performance.now()
      const outcome = await signer.sign({job, outputs: {files, refused: []}, artifactsDir, logFile: path.join(dir, 'job.log'), finishedOn: now, context: {isolation: 'none'}})
      if (outcome.state !== 'signed') throw new Error(`signer: ${JSON.stringify(outcome)}`)
      if (i > 0) times.push(performance.now() - started)
    }
    return times.sort((a, b) => a - b)[1]
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

async function timed(fn) {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

function run(command, args, {cwd, input, env} = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {cwd, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit']})
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))))
    if (input !== undefined) child.stdin.end(input)
  })
}

function round(n) {
  return Math.round(n * 100) / 100
}
