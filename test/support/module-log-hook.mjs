// A module loader hook (registered by module-log.mjs) that appends every resolved module URL to the file named by
// its registration data: the tests that prove which commands load OpenTelemetry, and in which order, read it.
import {appendFileSync} from 'node:fs'

let file

export function initialize(data) {
  file = data.file
}

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  appendFileSync(file, `${result.url}\n`)
  return result
}
