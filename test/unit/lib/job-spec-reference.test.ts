// The job spec's documentation is generated from its schema: this fails when schemas/job-spec.v1.json or the
// generated table of docs/job-spec.md is stale (run `npm run build` and commit), and when the doc's example
// or its error table no longer match what the validator does.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {DanubeError} from '../../../src/lib/errors.js'
import {parseJobSpec, validateJobSpec} from '../../../src/lib/jobs/spec.js'
import {jobSpecReference, jobSpecSchemaText, REFERENCE_BEGIN, REFERENCE_END} from '../../../src/lib/jobs/spec-reference.js'
import {REPO_ROOT} from '../../support/agent-process.js'

const docs = readFileSync(path.join(REPO_ROOT, 'docs/job-spec.md'), 'utf8')

function messageOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof DanubeError) return error.message
    throw error
  }
  throw new Error('expected an error')
}

describe('job spec reference', () => {
  it('schemas/job-spec.v1.json is what z.toJSONSchema makes of the schema', () => {
    expect(readFileSync(path.join(REPO_ROOT, 'schemas/job-spec.v1.json'), 'utf8')).toBe(jobSpecSchemaText())
  })

  it("docs/job-spec.md's key and limit tables are generated from the schema", () => {
    const begin = docs.indexOf(REFERENCE_BEGIN)
    const end = docs.indexOf(REFERENCE_END) + REFERENCE_END.length
    expect(docs.slice(begin, end)).toBe(jobSpecReference())
  })

  it("docs/job-spec.md's example is a valid spec", () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(docs)![1]!
    expect(parseJobSpec(example).steps).toHaveLength(2)
  })

  it("docs/job-spec.md's error table says what the validator says", () => {
    const base = {name: 'x', steps: [{run: 'true'}]}
    const said = (written: string) => new RegExp(`\\| ${written.replaceAll(/[.*+?^${}()[\]\\]/g, '\\$&')} \\| \`([^\`]+)\` \\|`).exec(docs)![1]
    expect(messageOf(() => validateJobSpec({...base, timeout: 10}))).toBe(said('`timeout: 10`'))
    expect(messageOf(() => validateJobSpec({name: 'x', stesp: []}))).toBe(said('`stesp:` instead of `steps:`'))
    expect(messageOf(() => validateJobSpec({name: 'x', steps: []}))).toBe(said('`steps: []`'))
    expect(messageOf(() => validateJobSpec({name: 'x', steps: Array.from({length: 300}, () => ({run: 'true'}))}))).toBe(said('300 steps'))
    expect(messageOf(() => validateJobSpec({name: 'x', steps: [{run: 'a\0'}]}))).toBe(said('a NUL byte in `run`'))
    expect(messageOf(() => validateJobSpec({...base, secrets: ['TOKEN']}))).toBe(said('`secrets: [TOKEN]` without `env.TOKEN`'))
  })
})
