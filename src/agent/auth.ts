// Owns how a caller presents the agent's token, for HTTP and gRPC alike: exactly one `authorization` value
// of the form `Bearer <token>` (scheme case-insensitive, surrounding blanks ignored). One parser, so the two
// transports can never disagree on what counts as authenticated.

import {DanubeError} from '../lib/errors.js'
import {tokenMatches} from '../lib/token.js'

const BEARER = /^Bearer[ \t]+([^\s]+)$/i

/**
 * Whether the presented `authorization` values carry the token. Two or more values are refused (400 /
 * INVALID_ARGUMENT) rather than the first one taken: a proxy that adds a header must not decide who you are.
 */
export function isAuthenticated(values: readonly string[], token: string): boolean {
  if (values.length > 1) {
    throw new DanubeError('DUPLICATE_AUTHORIZATION', `${values.length} Authorization headers were sent; send exactly one`, {
      httpStatus: 400,
      hint: 'send one Authorization: Bearer <token from agent.token>',
    })
  }
  const match = BEARER.exec((values[0] ?? '').trim())
  return tokenMatches(match?.[1], token)
}
