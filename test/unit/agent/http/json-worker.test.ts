import {describe, expect, it} from 'vitest'

import {MAX_ENTRIES, oversized} from '../../../../src/agent/http/json-worker.js'

describe('the body parser worker refuses documents no API takes', () => {
  it('names the first list or mapping with more than MAX_ENTRIES entries, with its path', () => {
    expect(oversized({name: 'x', steps: Array.from({length: MAX_ENTRIES + 1}, () => 1)})).toEqual({path: 'steps', count: MAX_ENTRIES + 1})
    expect(oversized({a: [{b: Object.fromEntries(Array.from({length: MAX_ENTRIES + 5}, (_v, i) => [`k${i}`, i]))}]})).toEqual({path: 'a[0].b', count: MAX_ENTRIES + 5})
    expect(oversized(Array.from({length: MAX_ENTRIES + 1}, () => ({})))).toEqual({path: '(root)', count: MAX_ENTRIES + 1})
  })

  it('passes bounded documents, however many of them there are in total', () => {
    expect(oversized({steps: Array.from({length: MAX_ENTRIES}, () => ({run: 'true', env: {A: '1'}}))})).toBeUndefined()
    expect(oversized('text')).toBeUndefined()
    expect(oversized(null)).toBeUndefined()
  })
})
