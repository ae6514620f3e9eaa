// The agent's token file: created 0600 once, and an existing one refused when others could read or replace it.
import {chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {checkTokenFile, ensureToken} from '../../../src/lib/token.js'

let dir: string
let file: string
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'danube-token-'))
  file = path.join(dir, 'agent.token')
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

describe('ensureToken', () => {
  it('creates a 0600 token once and reuses it', () => {
    const token = ensureToken(file)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(ensureToken(file)).toBe(token)
  })

  it.each([0o640, 0o604, 0o660, 0o620])('refuses an existing token file with mode %o, naming chmod 600', (mode) => {
    writeFileSync(file, 'a'.repeat(64))
    chmodSync(file, mode)
    expect(() => ensureToken(file)).toThrow(expect.objectContaining({code: 'TOKEN_INSECURE', message: expect.stringContaining(`mode 0${mode.toString(8)}`), hint: expect.stringContaining(`chmod 600 ${file}`)}))
  })

  it('refuses a token file owned by another user, naming chown', () => {
    writeFileSync(file, 'a'.repeat(64), {mode: 0o600})
    const uid = process.getuid!()
    // As root the file can be given away; as anyone else, compare against a uid that is not ours.
    if (uid === 0) chownSync(file, 65534, 65534)
    const as = uid === 0 ? 0 : uid + 1
    expect(() => checkTokenFile(file, as)).toThrow(expect.objectContaining({code: 'TOKEN_INSECURE', message: expect.stringContaining('owned by uid'), hint: expect.stringContaining(`chown ${as} ${file}`)}))
  })

  it('refuses a symbolic link', () => {
    const target = path.join(dir, 'elsewhere')
    writeFileSync(target, 'a'.repeat(64), {mode: 0o600})
    symlinkSync(target, file)
    expect(() => ensureToken(file)).toThrow(expect.objectContaining({code: 'TOKEN_INSECURE', message: expect.stringContaining('symbolic link')}))
    expect(readFileSync(target, 'utf8')).toBe('a'.repeat(64))
  })
})
