// Validates real --json outputs against the committed JSON Schemas under schemas/ (the public contract of
// each command's result and of the error envelope), with ajv (draft-07).

import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import Ajv from 'ajv'

import {REPO_ROOT} from './agent-process.js'

export const SCHEMA_DIR = path.join(REPO_ROOT, 'schemas')
const BASE = 'https://danube.dev/schemas/'

let ajv: Ajv.Ajv | undefined

function validator(): Ajv.Ajv {
  if (ajv) return ajv
  ajv = new Ajv({allErrors: true})
  for (const file of readdirSync(SCHEMA_DIR).filter((name) => name.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as {$schema?: string}
    // Result schemas are draft-07; the job-spec schema (generated from zod, another draft) is not a result.
    if (schema.$schema === 'http://json-schema.org/draft-07/schema#') ajv.addSchema(schema)
  }
  return ajv
}

/** The errors of document against schemas/<name>.v1.json (`job-run`, `status`, `error`, …); [] when valid. */
export function schemaErrors(name: string, document: unknown): string[] {
  const validate = validator().getSchema(`${BASE}${name}.v1.json`)
  if (!validate) return [`no schema ${name}.v1.json under schemas/`]
  if (validate(document)) return []
  return (validate.errors ?? []).map((error) => `${error.dataPath || '(root)'} ${error.message}${error.params ? ` ${JSON.stringify(error.params)}` : ''}`)
}

/** Parses stdout as one JSON document and returns it once it matches schemas/<name>.v1.json; throws the mismatches otherwise. */
export function parseAs<T = unknown>(name: string, stdout: string): T {
  const document = JSON.parse(stdout) as T
  const errors = schemaErrors(name, document)
  if (errors.length > 0) throw new Error(`--json output does not match schemas/${name}.v1.json:\n  ${errors.join('\n  ')}\n${stdout}`)
  return document
}
