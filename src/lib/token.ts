// Owns the agent's bearer token: created once (32 random bytes, mode 0600, never overwritten), read by
// the CLI, and compared in constant time.

import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import {closeSync, mkdirSync, openSync, readFileSync, writeSync} from 'node:fs'
import path from 'node:path'

import {DanubeError} from './errors.js'

/** Creates the token file if it does not exist yet and returns the token. */
export function ensureToken(file: string): string {
  mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  let fd: number
  try {
    // O_EXCL: two agents starting at once cannot both write a token; the loser reads the winner's.
    fd = openSync(file, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readToken(file)
    throw new DanubeError('TOKEN_UNWRITABLE', `cannot create token file ${file}: ${(error as NodeJS.ErrnoException).code}`, {cause: error})
  }
  const token = randomBytes(32).toString('hex')
  try {
    writeSync(fd, `${token}\n`)
  } finally {
    closeSync(fd)
  }
  return token
}

export function readToken(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new DanubeError('TOKEN_UNREADABLE', `cannot read agent token ${file} (${code})`, {
      hint: code === 'ENOENT' ? 'start the agent once (danube agent) to create it' : 'run as the user the agent runs as, or set auth.tokenFile',
      exitCode: 1,
    })
  }
  if (!text) throw new DanubeError('TOKEN_UNREADABLE', `agent token file ${file} is empty`, {hint: 'delete it and restart the agent to create a new one'})
  return text
}

/** Constant-time comparison of a presented token with the expected one (hashing first equalises lengths). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** Extracts the token from an `Authorization: Bearer <token>` header value. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}
