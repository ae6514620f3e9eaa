// Owns the job spec: the one schema that HTTP, gRPC and `danube job run` validate a job against, its
// limits, and the operator-worded messages its errors carry. Validation is bounded: counts and sizes are
// checked before the schema looks at a single element, and an error never carries more than a few details.

import {z} from 'zod'

import {DanubeError, type ErrorDetail} from '../errors.js'
import {parseDuration} from '../duration.js'
import {yaml} from '../yaml.js'

/**
 * The spec's limits, the same over HTTP, gRPC and the CLI (docs/job-spec.md lists them). Sizes are UTF-8
 * bytes. A step runs as `sh -c <run>` with env in its environment: Linux refuses any single argument or
 * `KEY=value` string over 128 KiB (MAX_ARG_STRLEN) and argv + environment over ARG_MAX (2 MiB by default),
 * with E2BIG only when the step starts; these limits keep a job well inside both, so it fails at admission.
 */
export const JOB_SPEC_LIMITS = {
  nameBytes: 200,
  steps: 256,
  runBytes: 64 * 1024,
  stepNameBytes: 200,
  imageBytes: 500,
  envKeys: 128,
  envKeyBytes: 256,
  envValueBytes: 32 * 1024,
  /** All env keys and values together. */
  envTotalBytes: 128 * 1024,
  secrets: 128,
  inputs: 256,
  uriBytes: 2048,
  refBytes: 256,
  digestBytes: 256,
  /** Keys of one mapping checked before validation: more means a document that is not a job spec. */
  mappingKeys: 64,
} as const

export const DURATION_EXPECTED = 'a duration with a unit such as 90s, 10m or 1h30m'

// Each string rule says what it expects in the operator's words; byte limits are checked with the length.
function text(what: string, maxBytes: number, options: {min?: number} = {}) {
  return z
    .string({error: `expected ${what}`})
    .min(options.min ?? 0, `expected ${what}, not an empty string`)
    .max(maxBytes)
    .superRefine((value, context) => {
      const bytes = Buffer.byteLength(value)
      if (bytes > maxBytes && value.length <= maxBytes) context.addIssue({code: 'custom', message: `is ${bytes} bytes; at most ${maxBytes} bytes are allowed`})
      if (value.includes('\0')) context.addIssue({code: 'custom', message: 'contains a NUL byte, which no command or variable can carry'})
      // A lone surrogate cannot be stored as UTF-8: refused rather than silently replaced (docs/job-spec.md).
      if (/\p{Cs}/u.test(value)) context.addIssue({code: 'custom', message: 'contains a lone UTF-16 surrogate, which is not valid Unicode text'})
    })
}

const duration = z
  .string({error: `expected ${DURATION_EXPECTED}`})
  // The pattern is for editors validating against the JSON Schema; parseDuration also bounds it.
  .regex(/^(?:\d+(?:ms|h|m|s))+$/, `expected ${DURATION_EXPECTED}`)
  .refine((value) => {
    try {
      parseDuration(value)
      return true
    } catch {
      return false
    }
  }, `expected ${DURATION_EXPECTED}, at most 720h`)

const L = JOB_SPEC_LIMITS

const step = z
  .strictObject(
    {
      name: text('a step name', L.stepNameBytes, {min: 1}).optional().meta({description: 'Shown in logs and `job show`; default `step-<n>`.'}),
      run: text('a shell command', L.runBytes, {min: 1}).meta({description: 'Run as `sh -c <run>` in the workspace; a non-zero exit fails the job.'}),
      image: text('a container image such as alpine:3.20', L.imageBytes, {min: 1}).optional().meta({description: 'Container image (kubernetes executor); default `kubernetes.defaultImage`. The local executor ignores it.'}),
    },
    {error: 'expected a step: a mapping with "run"'},
  )
  .meta({description: 'One step.'})

const envName = z
  .string({error: 'expected an environment variable name'})
  .max(L.envKeyBytes)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name: letters, digits and _, not starting with a digit')

export const jobSpecSchema = z
  .strictObject(
    {
      name: text('a job name', L.nameBytes, {min: 1}).meta({description: 'What the job is called in lists and logs.', examples: ['build']}),
      steps: z
        .array(step, {error: 'expected a list of steps, each a mapping with "run"'})
        .min(1, 'expected at least one step')
        .max(L.steps)
        .meta({description: 'Run in order; the first that fails ends the job.'}),
      env: z
        .record(envName, text('a string value (quote numbers and booleans in YAML)', L.envValueBytes), {error: 'expected a mapping of variable names to string values'})
        .optional()
        .meta({description: 'Environment variables of every step.', examples: [{GOFLAGS: '-mod=mod'}]}),
      secrets: z
        .array(envName, {error: 'expected a list of env keys'})
        .max(L.secrets)
        .optional()
        .meta({description: 'Keys of `env` whose values are secret: provenance records them as `[REDACTED]`.'}),
      timeout: duration.default('1h').meta({description: 'Ends the job (failed, reason `timeout`) when it runs longer.', examples: ['90s', '10m', '1h30m']}),
      source: z
        .strictObject(
          {
            uri: text('a URI', L.uriBytes, {min: 1}).meta({description: 'Where the source comes from, e.g. a git URL.'}),
            ref: text('a git ref', L.refBytes).optional().meta({description: 'Branch or tag.'}),
            commit: text('a commit id', L.refBytes).optional().meta({description: 'Commit id.'}),
          },
          {error: 'expected a mapping with "uri"'},
        )
        .optional()
        .meta({description: 'The source the job builds; recorded in provenance.'}),
      inputs: z
        .array(
          z.strictObject(
            {
              uri: text('a URI', L.uriBytes, {min: 1}).meta({description: 'Where the input comes from.'}),
              digest: text('a digest such as sha256:<hex>', L.digestBytes, {min: 1}).meta({description: 'Its digest, `<algorithm>:<hex>`, e.g. `sha256:…`.'}),
            },
            {error: 'expected a mapping with "uri" and "digest"'},
          ),
          {error: 'expected a list of inputs'},
        )
        .max(L.inputs)
        .optional()
        .meta({description: 'Other artifacts the job consumes; recorded in provenance.'}),
      defer: z
        .boolean({error: 'expected true or false'})
        .optional()
        .meta({description: 'While danube drains: store the job as deferred (HTTP 202) and queue it when the drain ends, instead of refusing it (503 DRAINING).'}),
    },
    {error: 'expected a job spec: a mapping with "name" and "steps"'},
  )
  .superRefine((spec, context) => {
    for (const [index, key] of (spec.secrets ?? []).entries()) {
      if (!spec.env || !Object.hasOwn(spec.env, key)) {
        context.addIssue({code: 'custom', path: ['secrets', index], message: `"${key}" is not a key of env`})
      }
    }
  })

export type JobSpec = z.output<typeof jobSpecSchema>
export type JobSpecInput = z.input<typeof jobSpecSchema>

/** Keys each mapping of the spec accepts, for "did you mean" hints. */
const KNOWN_KEYS = {
  root: Object.keys(jobSpecSchema.shape),
  step: Object.keys(step.shape),
  source: ['uri', 'ref', 'commit'],
  input: ['uri', 'digest'],
}

/** Throws INVALID_SPEC when a decoded spec's counts are over the limits: cheap, before any other work on it. */
export function assertSpecBounds(input: unknown): void {
  const bounds = checkBounds(input)
  if (bounds.length > 0) throw invalidSpec(bounds)
}

/** Validates a decoded job spec (HTTP body, gRPC message, parsed file). */
export function validateJobSpec(input: unknown): JobSpec {
  assertSpecBounds(input)
  const result = jobSpecSchema.safeParse(input)
  if (result.success) return result.data
  const details: ErrorDetail[] = []
  // Unknown keys first: `stesp:` is the cause, "steps is required" only its consequence.
  const issues = [...result.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'))
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({path: formatPath(issue.path) || '(root)', message: unknownKey(key, knownKeysAt(issue.path))})
    } else {
      details.push({path: formatPath(issue.path) || '(root)', message: describeIssue(issue, input)})
    }
  }
  throw invalidSpec(details)
}

/**
 * The cheap walk before the schema: counts of every list and mapping, and keys the schema would silently drop.
 * It looks at no more than a bounded number of entries, so a 1 MiB array of junk costs microseconds, not seconds.
 */
function checkBounds(input: unknown): ErrorDetail[] {
  const out: ErrorDetail[] = []
  if (!isMapping(input)) return out
  const tooMany = (path: string, count: number, max: number, what: string) => {
    if (count > max) out.push({path, message: `has ${count} ${what}; at most ${max} are allowed`})
  }
  tooMany('(root)', Object.keys(input).length, L.mappingKeys, 'keys')
  if (Array.isArray(input.steps)) {
    tooMany('steps', input.steps.length, L.steps, 'steps')
    if (input.steps.length <= L.steps) {
      for (const [index, entry] of input.steps.entries()) if (isMapping(entry)) tooMany(`steps[${index}]`, Object.keys(entry).length, L.mappingKeys, 'keys')
    }
  }
  if (isMapping(input.env)) {
    const keys = Object.keys(input.env)
    tooMany('env', keys.length, L.envKeys, 'variables')
    if (keys.length <= L.envKeys) {
      // JSON.parse keeps "__proto__" as an own key, but a plain object cannot hold it: refuse it rather than drop it.
      if (keys.includes('__proto__')) out.push({path: 'env', message: '"__proto__" is not accepted as a variable name'})
      let total = 0
      for (const [key, value] of Object.entries(input.env)) total += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 0)
      if (total > L.envTotalBytes) out.push({path: 'env', message: `keys and values are ${total} bytes together; at most ${L.envTotalBytes} bytes are allowed`})
    }
  }
  if (Array.isArray(input.secrets)) tooMany('secrets', input.secrets.length, L.secrets, 'entries')
  if (Array.isArray(input.inputs)) tooMany('inputs', input.inputs.length, L.inputs, 'inputs')
  if (isMapping(input.source)) tooMany('source', Object.keys(input.source).length, L.mappingKeys, 'keys')
  return out
}

/** Details are bounded where they are rendered (DanubeError.toJSON, the CLI): at most MAX_ERROR_DETAILS, then "and N more". */
function invalidSpec(details: ErrorDetail[]): DanubeError {
  const first = details[0]!
  const where = first.path === '(root)' ? '' : `${first.path}: `
  return new DanubeError('INVALID_SPEC', `invalid job spec: ${where}${first.message}`, {
    httpStatus: 400,
    exitCode: 2,
    details,
    hint: 'the job spec is described in docs/job-spec.md',
  })
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const received = valueAt(input, issue.path)
      const expected = issue.message.startsWith('expected') ? issue.message : `expected ${article(issue.expected)}`
      return received.found ? `${expected}, not ${describeValue(received.value)}` : `is required: ${expected}`
    }
    case 'too_big': {
      const what = issue.origin === 'array' ? 'entries' : 'characters'
      return `has more than ${String(issue.maximum)} ${what}; at most ${String(issue.maximum)} are allowed`
    }
    case 'too_small': {
      if (issue.message && !issue.message.startsWith('Too small')) return issue.message
      return issue.origin === 'array' ? `expected at least ${String(issue.minimum)} entries` : `expected at least ${String(issue.minimum)} characters`
    }
    case 'invalid_key':
      return `has a key that is not ${issue.issues[0]?.message.replace(/^expected /, '') ?? 'valid'}`
    default:
      return issue.message
  }
}

function article(type: string): string {
  const words: Record<string, string> = {string: 'text', number: 'a number', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping'}
  return words[type] ?? type
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return 'text'
  if (typeof value === 'number') return `the number ${String(value).slice(0, 20)}`
  if (typeof value === 'boolean') return String(value)
  return typeof value
}

function valueAt(input: unknown, path: readonly PropertyKey[]): {found: boolean; value?: unknown} {
  let current: unknown = input
  for (const part of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return {found: false}
    current = (current as Record<PropertyKey, unknown>)[part]
  }
  return {found: current !== undefined, value: current}
}

function knownKeysAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return KNOWN_KEYS.root
  if (path[0] === 'steps') return KNOWN_KEYS.step
  if (path[0] === 'source') return KNOWN_KEYS.source
  if (path[0] === 'inputs') return KNOWN_KEYS.input
  return []
}

function unknownKey(key: string, known: readonly string[]): string {
  const shown = key.length > 40 ? `${key.slice(0, 40)}…` : key
  const best = known
    .map((candidate) => ({candidate, distance: editDistance(key.toLowerCase(), candidate.toLowerCase())}))
    .sort((a, b) => a.distance - b.distance)[0]
  const close = best && best.distance <= (best.candidate.length >= 5 ? 2 : 1)
  return `unknown key "${shown}"${close ? ` (did you mean "${best.candidate}"?)` : ''}`
}

/**
 * Edit distance with transpositions (optimal string alignment), for "did you mean" among a handful of short
 * key names. Written by hand: a dozen lines against a dependency; long keys are never close to a known one.
 */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8 || a.length > 64) return Number.POSITIVE_INFINITY
  const d = Array.from({length: a.length + 1}, (_r, i) => Array.from({length: b.length + 1}, (_c, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}

/** Parses YAML or JSON text (JSON is YAML) into a validated spec. */
export function parseJobSpec(text: string, origin = 'job spec'): JobSpec {
  let document: unknown
  try {
    document = yaml().parse(text)
  } catch (error) {
    throw new DanubeError('INVALID_SPEC', `${origin} is not valid YAML or JSON: ${describeYamlError(error, text)}`, {httpStatus: 400, exitCode: 2})
  }
  if (!isMapping(document)) {
    throw new DanubeError('INVALID_SPEC', `${origin} must be a mapping with "name" and "steps"`, {httpStatus: 400, exitCode: 2})
  }
  return validateJobSpec(document)
}

/** `line 5, column 4: <reason>: "<the offending line>"`, from the yaml library's own position. */
function describeYamlError(error: unknown, text: string): string {
  const message = (error as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
  if (!(error instanceof yaml().YAMLParseError) || !error.linePos) return message
  const {line, col} = error.linePos[0]
  const offending = (text.split('\n')[line - 1] ?? '').replace(/\r$/, '')
  const shown = offending.length > 120 ? `${offending.slice(0, 120)}…` : offending
  return `line ${line}, column ${col}: ${message}: ${JSON.stringify(shown)}`
}

/** The JSON Schema of the job spec as a file author writes it (schemas/job-spec.v1.json). */
export function jobSpecJsonSchema(): Record<string, unknown> {
  const {$schema, ...schema} = z.toJSONSchema(jobSpecSchema, {io: 'input', unrepresentable: 'any'})
  return {$schema, $id: 'https://danube.dev/schemas/job-spec.v1.json', title: 'Danube job spec v1', ...schema}
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part)
  }
  return out
}
