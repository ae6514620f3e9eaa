import {describe, expect, it} from 'vitest'

import {formatDuration, parseDuration} from '../../../src/lib/duration.js'

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1h0m5s', 3_605_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['10', '', '-5s', '1.5h', '10 m', 'm10', '1d', '10mins'])('refuses %j and names the accepted form', (text) => {
    expect(() => parseDuration(text, '--timeout')).toThrow(/--timeout: .* use a number with a unit, such as 30s, 10m or 1h30m/)
  })

  it('refuses absurd durations longer than 30 days', () => {
    expect(() => parseDuration('721h')).toThrow(/longer than the maximum/)
  })

  it('formats what it parses', () => {
    for (const text of ['30s', '10m', '1h30m', '2h', '1h0m5s']) expect(parseDuration(formatDuration(parseDuration(text)))).toBe(parseDuration(text))
    expect(formatDuration(5_400_000)).toBe('1h30m')
  })
})
