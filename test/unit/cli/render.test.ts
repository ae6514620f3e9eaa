import {describe, expect, it} from 'vitest'

import {table, visible, visibleLines} from '../../../src/cli/render.js'

describe('visible', () => {
  it('escapes C0, DEL, C1 and bidi controls and leaves other text alone', () => {
    expect(visible('a\u001b[31mb\u0007\n\t\r\u007f\u0085\u202e\u2066 é 😀')).toBe('a\\x1b[31mb\\x07\\n\\t\\r\\x7f\\x85\\u202e\\u2066 é 😀')
    expect(visible('plain text')).toBe('plain text')
  })

  it('keeps a table one line per row when a cell held a newline', () => {
    expect(table([['ID', 'NAME'], ['1', visible('two\nlines')]]).split('\n')).toHaveLength(2)
  })

  it('keeps newlines and tabs of multi-line text such as a log, escaping the rest', () => {
    expect(visibleLines('a\tb\n\u001b[2Jc\\t\r\n')).toBe('a\tb\n\\x1b[2Jc\\t\\r\n')
  })
})
