import {describe, expect, it} from 'vitest'

import {DanubeError} from '../../../src/lib/errors.js'
import {JOB_SPEC_LIMITS, parseJobSpec, validateJobSpec} from '../../../src/lib/jobs/spec.js'

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
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'true'}], timeout: '10'})).message).toMatch(/^invalid job spec: timeout: expected a duration with a unit such as 90s/)
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

  it('says what it expected in the operator\'s words: a number for timeout, a typo of steps', () => {
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'true'}], timeout: 10})).message).toBe(
      'invalid job spec: timeout: expected a duration with a unit such as 90s, 10m or 1h30m, not the number 10',
    )
    const typo = errorOf(() => validateJobSpec({name: 'x', stesp: [{run: 'true'}]}))
    expect(typo.message).toBe('invalid job spec: unknown key "stesp" (did you mean "steps"?)')
    expect(typo.details?.[1]).toEqual({path: 'steps', message: 'is required: expected a list of steps, each a mapping with "run"'})
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{rnu: 'true'}]})).message).toBe('invalid job spec: steps[0]: unknown key "rnu" (did you mean "run"?)')
  })

  it('names the line, column and offending line of a YAML error', () => {
    const error = errorOf(() => parseJobSpec('name: x\nsteps:\n  - run: make\n   bad: [1\n', 'job.yaml'))
    expect(error.message).toMatch(/^job.yaml is not valid YAML or JSON: line 4, column \d+: .+: " {3}bad: \[1"$/)
    expect(error.message).not.toContain('\n')
  })

  it('refuses more steps than the limit before looking at any of them, with a small error', () => {
    const started = performance.now()
    const error = errorOf(() => validateJobSpec({name: 'x', steps: Array.from({length: 524_270}, () => 1)}))
    expect(performance.now() - started).toBeLessThan(1000)
    expect(error.message).toBe(`invalid job spec: steps: has 524270 steps; at most ${JOB_SPEC_LIMITS.steps} are allowed`)
    expect(JSON.stringify(error.toJSON()).length).toBeLessThan(4096)
  })

  it('reports at most 20 details then "and N more", each short, for many unknown keys', () => {
    const input: Record<string, unknown> = {name: 'x', steps: [{run: 'true'}]}
    for (let n = 0; n < 60; n++) input[`bad${n}${'k'.repeat(500)}`] = 1
    const body = errorOf(() => validateJobSpec(input)).toJSON()
    expect(body.error.details).toHaveLength(21)
    expect(body.error.details?.[20]).toEqual({path: '(more)', message: 'and 40 more'})
    expect(JSON.stringify(body).length).toBeLessThan(4096)
    const many: Record<string, unknown> = {name: 'x', steps: [{run: 'true'}]}
    for (let n = 0; n < 100_000; n++) many[`bad${n}`] = 1
    expect(errorOf(() => validateJobSpec(many)).message).toBe(`invalid job spec: has 100002 keys; at most ${JOB_SPEC_LIMITS.mappingKeys} are allowed`)
  })

  it('enforces the run, env and NUL limits that would otherwise fail only when the step starts', () => {
    const spec = (extra: Record<string, unknown>) => ({name: 'x', steps: [{run: 'true'}], ...extra})
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'x'.repeat(JOB_SPEC_LIMITS.runBytes + 1)}]})).details?.[0]?.path).toBe('steps[0].run')
    // Multi-byte text is measured in bytes, as the kernel counts it.
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'é'.repeat(JOB_SPEC_LIMITS.runBytes / 2 + 1)}]})).message).toMatch(/steps\[0\]\.run: is \d+ bytes; at most 65536 bytes/)
    expect(errorOf(() => validateJobSpec(spec({env: {BIG: 'v'.repeat(40_000)}}))).details?.[0]?.path).toBe('env.BIG')
    const manyEnv = Object.fromEntries(Array.from({length: JOB_SPEC_LIMITS.envKeys + 1}, (_v, i) => [`K${i}`, 'v']))
    expect(errorOf(() => validateJobSpec(spec({env: manyEnv}))).message).toBe(`invalid job spec: env: has ${JOB_SPEC_LIMITS.envKeys + 1} variables; at most ${JOB_SPEC_LIMITS.envKeys} are allowed`)
    const wide = Object.fromEntries(Array.from({length: 8}, (_v, i) => [`K${i}`, 'v'.repeat(30_000)]))
    expect(errorOf(() => validateJobSpec(spec({env: wide}))).message).toMatch(/^invalid job spec: env: keys and values are \d+ bytes together; at most 131072/)
    expect(errorOf(() => validateJobSpec({name: 'x', steps: [{run: 'echo a\0b'}]})).message).toBe('invalid job spec: steps[0].run: contains a NUL byte, which no command or variable can carry')
    expect(errorOf(() => validateJobSpec(spec({env: {A: 'a\0'}}))).details?.[0]?.path).toBe('env.A')
  })

  it('refuses a name with a lone surrogate (not storable as UTF-8) and an env key __proto__ (never silently dropped)', () => {
    expect(errorOf(() => validateJobSpec({name: 'bad\uD800', steps: [{run: 'true'}]})).message).toMatch(/^invalid job spec: name: contains a lone UTF-16 surrogate/)
    expect(validateJobSpec({name: 'ok \u{1F600}', steps: [{run: 'true'}]}).name).toBe('ok \u{1F600}')
    const proto = JSON.parse('{"name":"x","steps":[{"run":"true"}],"env":{"__proto__":"x","A":"1"}}') as unknown
    expect(errorOf(() => validateJobSpec(proto)).message).toBe('invalid job spec: env: "__proto__" is not accepted as a variable name')
  })
})
