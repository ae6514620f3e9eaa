import {describe, expect, it} from 'vitest'

import {DanubeError} from '../../../src/lib/errors.js'
import {parseJobSpec, validateJobSpec} from '../../../src/lib/jobs/spec.js'

function errorOf(fn: () => unknown): DanubeError {
  try {
    fn()
  } catch (error) {
    if (error instanceof DanubeError) return error
    throw error
  }
  throw new Error('expected an error')
}

describe('job spec', () => {
  it('accepts YAML and fills the default timeout', () => {
    const spec = parseJobSpec('name: build\nsteps:\n  - run: make\n    image: alpine:3.20\nenv:\n  GOFLAGS: -mod=mod\n')
    expect(spec.timeout).toBe('1h')
    expect(spec.steps[0]?.image).toBe('alpine:3.20')
    expect(spec.env).toEqual({GOFLAGS: '-mod=mod'})
  })

  it('names the path of an unknown key', () => {
    const error = errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'true', command: 'x'}]}))
    expect(error.code).toBe('INVALID_SPEC')
    expect(error.details?.[0]).toEqual({path: 'steps[0]', message: 'unknown key "command"'})
  })

  it('refuses empty steps, an empty run and a timeout without a unit', () => {
    expect(errorOf(() => validateJobSpec({name: 'x', steps: []})).message).toBe('invalid job spec: steps: expected at least one step')
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: ''}]})).details?.[0]?.path).toBe('steps[0].run')
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'true'}], timeout: '10'})).message).toMatch(/timeout: expected a number with a unit/)
  })

  it('refuses malformed YAML and JSON with a 400 and exit status 2', () => {
    const error = errorOf(() => parseJobSpec('{"name": "x", "steps": [', 'job.json'))
    expect(error.message).toMatch(/^job.json is not valid YAML or JSON/)
    expect(error.httpStatus).toBe(400)
    expect(error.exitCode).toBe(2)
    expect(errorOf(() => parseJobSpec('- a\n- b\n')).message).toMatch(/must be a mapping/)
  })

  it('accepts secrets that name env keys and refuses one that names no env key', () => {
    expect(validateJobSpec({name: 'x', steps: [{run: 'true'}], env: {TOKEN: 's3cret'}, secrets: ['TOKEN']}).secrets).toEqual(['TOKEN'])
    const error = errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'true'}], env: {A: '1'}, secrets: ['TOKEN']}))
    expect(error.details?.[0]).toEqual({path: 'secrets[0]', message: '"TOKEN" is not a key of env'})
  })
})
