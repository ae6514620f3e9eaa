// Owns the job spec: the one schema that HTTP, gRPC and `danube job run` validate a job against.

import {parse as parseYaml} from 'yaml'
import {z} from 'zod'

import {DanubeError, type ErrorDetail} from '../errors.js'
import {DURATION_FORM, parseDuration} from '../duration.js'

const duration = z.string().refine((value) => {
  try {
    parseDuration(value)
    return true
  } catch {
    return false
  }
}, `expected ${DURATION_FORM}`)

const step = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  run: z.string().min(1, 'expected a non-empty shell command'),
  image: z.string().min(1).max(500).optional(),
})

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')

export const jobSpecSchema = z.strictObject({
  name: z.string().min(1).max(200),
  steps: z.array(step).min(1, 'expected at least one step'),
  env: z.record(envName, z.string()).optional(),
  /** Keys of `env` whose values are secret: provenance records them as [REDACTED], never their values. */
  secrets: z.array(envName).optional(),
  timeout: duration.default('1h'),
  source: z.strictObject({uri: z.string().min(1), ref: z.string().optional(), commit: z.string().optional()}).optional(),
  inputs: z.array(z.strictObject({uri: z.string().min(1), digest: z.string().min(1)})).optional(),
  /** While danube drains: store the job as deferred (202) and queue it when the drain ends, instead of 503 DRAINING. */
  defer: z.boolean().optional(),
}).superRefine((spec, context) => {
  for (const [index, key] of (spec.secrets ?? []).entries()) {
    if (!spec.env || !Object.hasOwn(spec.env, key)) {
      context.addIssue({code: 'custom', path: ['secrets', index], message: `"${key}" is not a key of env`})
    }
  }
})

export type JobSpec = z.output<typeof jobSpecSchema>
export type JobSpecInput = z.input<typeof jobSpecSchema>

/** Validates a decoded job spec (HTTP body, gRPC message, parsed file). */
export function validateJobSpec(input: unknown): JobSpec {
  const result = jobSpecSchema.safeParse(input)
  if (result.success) return result.data
  const details: ErrorDetail[] = result.error.issues.map((issue) => ({
    path: formatPath(issue.path) || '(root)',
    message: issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message,
  }))
  const first = details[0]!
  throw new DanubeError('INVALID_SPEC', `invalid job spec: ${first.path}: ${first.message}`, {httpStatus: 400, exitCode: 2, details})
}

/** Parses YAML or JSON text (JSON is YAML) into a validated spec. */
export function parseJobSpec(text: string, origin = 'job spec'): JobSpec {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (error) {
    throw new DanubeError('INVALID_SPEC', `${origin} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`, {httpStatus: 400, exitCode: 2})
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new DanubeError('INVALID_SPEC', `${origin} must be a mapping with "name" and "steps"`, {httpStatus: 400, exitCode: 2})
  }
  return validateJobSpec(document)
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part)
  }
  return out
}
