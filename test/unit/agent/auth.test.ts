import {describe, expect, it} from 'vitest'

import {isAuthenticated} from '../../../src/agent/auth.js'
import {DanubeError} from '../../../src/lib/errors.js'

describe('the one bearer parser (HTTP and gRPC)', () => {
  it('accepts the token with any case of scheme and surrounding blanks', () => {
    for (const value of ['Bearer t0k', 'bearer t0k', 'BEARER   t0k ', ' Bearer\tt0k\t']) expect(isAuthenticated([value], 't0k'), value).toBe(true)
  })

  it('refuses a wrong token, another scheme, a missing value and a token with spaces', () => {
    for (const values of [['Bearer nope'], ['Basic t0k'], [], [''], ['Bearer t0k extra']]) expect(isAuthenticated(values, 't0k'), JSON.stringify(values)).toBe(false)
  })

  it('refuses two values with a 400 instead of taking the first (grpc-js clients cannot even send two)', () => {
    let error: unknown
    try {
      isAuthenticated(['Bearer t0k', 'Bearer t0k'], 't0k')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(DanubeError)
    expect(error).toMatchObject({code: 'DUPLICATE_AUTHORIZATION', httpStatus: 400})
  })
})
