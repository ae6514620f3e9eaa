// Owns the agent's bearer token: created once (32 random bytes, mode 0600, never overwritten), refused by
// the agent when an existing file is readable by others or owned by another user, read by the CLI, and
// compared in constant time.

import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'
import {closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeSync} from 'node:fs'
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
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      checkTokenFile(file)
      return readToken(file)
    }
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

/**
 * Refuses an existing token file another user could read or replace: group- or world-readable (or
 * writable), owned by someone else, or not a regular file (a symlink could point anywhere).
 */
export function checkTokenFile(file: string, uid: number | undefined = process.getuid?.()): void {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new DanubeError('TOKEN_INSECURE', `agent token file ${file} is a symbolic link`, {hint: `replace it with a regular file: rm ${file} and restart the agent to create a new token`})
    throw new DanubeError('TOKEN_UNREADABLE', `cannot read agent token ${file} (${code})`, {hint: 'run the agent as the user that owns it, or set auth.tokenFile', cause: error})
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new DanubeError('TOKEN_INSECURE', `agent token file ${file} is not a regular file`, {hint: `remove it (rm ${file}) and restart the agent to create a new token`})
    if (uid !== undefined && stat.uid !== uid) {
      throw new DanubeError('TOKEN_INSECURE', `agent token file ${file} is owned by uid ${stat.uid}, not by the agent's user (uid ${uid})`, {
        hint: `chown ${uid} ${file} && chmod 600 ${file}, or run the agent as its owner; if others could read it, rm ${file} and restart to create a new token`,
      })
    }
    const mode = stat.mode & 0o777
    if ((mode & 0o077) !== 0) {
      throw new DanubeError('TOKEN_INSECURE', `agent token file ${file} has mode ${mode.toString(8).padStart(4, '0')}: readable or writable by other users`, {
        hint: `chmod 600 ${file}; if someone may have read it, rm ${file} and restart the agent to create a new token`,
      })
    }
  } finally {
    closeSync(fd)
  }
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
