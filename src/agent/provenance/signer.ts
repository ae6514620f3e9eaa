// Owns provenance in the agent: after a job succeeds, the Statement over the digests the output rule computed while
// it copied the outputs (never anything the job says about itself), signed with the key in keys.dir, written as
// provenance.intoto.jsonl and provenance.sigstore.json, and the outcome the job row records: signed, skipped (no
// signing key) or failed with the reason. The private key is read here, in the agent process, at each use, and
// never passed to an executor; steps get no path to it (the local sandbox masks keys.dir, pods never see it).

import {createHash} from 'node:crypto'
import {createReadStream, rmSync} from 'node:fs'
import path from 'node:path'

import {DanubeError, EXIT_USAGE} from '../../lib/errors.js'
import type {Job, JobProvenance} from '../../lib/jobs/model.js'
import {writeProvenanceFiles} from '../../lib/provenance/files.js'
import {loadSigningKey} from '../../lib/provenance/keys.js'
import {buildStatement, BUNDLE_FILE, ENVELOPE_FILE} from '../../lib/provenance/statement.js'
import type {Logger} from '../logger.js'
import type {OutputsReport} from '../executors/output-rule.js'
import type {ProvenanceContext} from '../executors/types.js'

export const NO_SIGNING_KEY = 'no signing key'

export interface ProvenanceSignerOptions {
  keysDir: string
  /** provenance.builderId: a template with {executor} and {isolation}. */
  builderIdTemplate: string
  version: string
  executor: string
  /** Configuration that affects every build, recorded in internalParameters. */
  settings: Record<string, unknown>
  logger: Logger
}

export interface SignInput {
  /** The job as recorded after its steps ran (exit codes, times, image digests). */
  job: Job
  outputs: OutputsReport | undefined
  artifactsDir: string
  logFile: string
  finishedOn: string
  context: ProvenanceContext
}

/** Checks provenance.builderId once, at agent start: each executor and sandbox mode must get its own builder id. */
export function checkBuilderIdTemplate(template: string): void {
  const missing = ['{executor}', '{isolation}'].filter((placeholder) => !template.includes(placeholder))
  if (missing.length > 0) {
    throw new DanubeError('CONFIG_INVALID', `invalid value "${template}" for "provenance.builderId": expected a URI containing ${missing.join(' and ')}`, {
      exitCode: EXIT_USAGE,
      hint: 'for example https://ci.example.com/builders/{executor}-{isolation}/v1: SLSA requires a different builder id per isolation mode',
    })
  }
}

export function builderIdFor(template: string, executor: string, isolation: string): string {
  return template.replaceAll('{executor}', executor).replaceAll('{isolation}', isolation)
}

/**
 * The local executor's context: where this job's steps ran, as the executor reported it in its result
 * (`ExecutionResult.sandbox`: `bubblewrap` or `none`; the sandbox settings from the executor's `isolation`).
 * Anything else, or nothing, is `none`: provenance never claims an isolation nobody reported.
 */
export function localProvenanceContext(result: {sandbox?: unknown}, isolation?: {setting?: unknown; network?: unknown}): ProvenanceContext {
  const mode = result.sandbox === 'bubblewrap' ? 'bubblewrap' : 'none'
  const sandbox: Record<string, unknown> = {mode}
  if (typeof isolation?.setting === 'string') sandbox.setting = isolation.setting
  if (mode === 'bubblewrap' && typeof isolation?.network === 'string') sandbox.network = isolation.network
  return {isolation: mode, internal: {sandbox}}
}

export class ProvenanceSigner {
  constructor(private readonly options: ProvenanceSignerOptions) {
    checkBuilderIdTemplate(options.builderIdTemplate)
  }

  /** Logged once at start, so an agent without a usable key never runs silently unsigned. */
  announce(): void {
    const {logger, keysDir} = this.options
    try {
      const key = loadSigningKey(keysDir)
      if (key) logger.info('provenance signing key loaded', {keyId: key.keyId, keysDir})
      else logger.warn('no provenance signing key: jobs run, their provenance is skipped', {keysDir, fix: 'danube keys generate'})
    } catch (error) {
      const danube = error as DanubeError
      logger.error('provenance signing key unusable: provenance of every job will fail', {error: danube.message, hint: danube.hint})
    }
  }

  /** Signs a succeeded job's artifacts. Never throws: every problem becomes `failed` with its reason. */
  async sign(input: SignInput): Promise<JobProvenance> {
    const {job, outputs, artifactsDir} = input
    const started = Date.now()
    try {
      if (!outputs) return failed('the executor reported no outputs to sign')
      if (outputs.refused.length > 0) {
        const listed = outputs.refused.slice(0, 3).map((refused) => `${JSON.stringify(refused.path)} (${refused.reason})`).join(', ')
        return failed(`${outputs.refused.length} output(s) refused: ${listed}${outputs.refused.length > 3 ? ', …' : ''}`)
      }
      let key
      try {
        key = loadSigningKey(this.options.keysDir)
      } catch (error) {
        return failed((error as Error).message)
      }
      if (!key) return {state: 'skipped', reason: NO_SIGNING_KEY, keyId: null}
      const {context} = input
      const statement = buildStatement({
        jobId: job.id,
        spec: job.spec,
        files: outputs.files,
        steps: job.steps.map((step, index) => ({
          name: step.name,
          image: job.spec.steps[index]?.image,
          exitCode: step.exitCode,
          startedAt: step.startedAt,
          finishedAt: step.finishedAt,
          imageDigest: step.imageDigest,
        })),
        builderId: builderIdFor(this.options.builderIdTemplate, this.options.executor, context.isolation),
        builderVersion: {danube: this.options.version, ...context.versions},
        internalParameters: {
          executor: this.options.executor,
          isolation: context.isolation,
          ...context.internal,
          environment: {DANUBE_JOB_ID: job.id, ...context.environment},
          settings: this.options.settings,
        },
        startedOn: job.startedAt ?? job.createdAt,
        finishedOn: input.finishedOn,
        log: {name: `logs/${job.id}.log`, sha256: await sha256OfFile(input.logFile)},
        defaultImage: context.defaultImage,
      })
      // Loaded at the first signature: @sigstore/* stays off the agent's start-up path.
      const {signStatement} = await import('../../lib/provenance/dsse.js')
      const signed = signStatement(statement, key)
      try {
        writeProvenanceFiles(artifactsDir, signed)
      } catch (error) {
        // Never leave one of the two files behind: an envelope without its job's outcome is not to be trusted.
        for (const name of [ENVELOPE_FILE, BUNDLE_FILE]) rmSync(path.join(artifactsDir, name), {force: true})
        return failed(`cannot write the provenance files: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      }
      this.options.logger.info('provenance signed', {jobId: job.id, subjects: statement.subject.length, keyId: key.keyId, durationMs: Date.now() - started})
      return {state: 'signed', reason: null, keyId: key.keyId}
    } catch (error) {
      return failed(`internal error: ${(error as Error).message}`)
    }

    function failed(reason: string): JobProvenance {
      return {state: 'failed', reason, keyId: null}
    }
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  } catch (error) {
    // A job that wrote nothing has no log file yet: its log is the empty string.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  return hash.digest('hex')
}
