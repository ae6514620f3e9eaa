// Owns how command-line usage errors read: oclif's parse errors (missing argument, missing, unknown or
// repeated flag, bad value, unexpected argument) turned into one line that names the argument or flag and
// the form it accepts, plus the command's usage line built from its metadata. BaseCommand and the
// command_not_found hook render them; nothing else does.

import {Errors} from '@oclif/core'

import {DanubeError, EXIT_USAGE} from '../lib/errors.js'

/** What this module needs of a command class or its manifest entry. */
export interface CommandShape {
  id: string
  args?: Record<string, {name?: string; description?: string; required?: boolean; options?: readonly string[]}>
  flags?: Record<string, FlagShape>
  baseFlags?: Record<string, FlagShape>
  enableJsonFlag?: boolean
}

interface FlagShape {
  name?: string
  type?: string
  description?: string
  required?: boolean
  options?: readonly string[]
  char?: string
  hidden?: boolean
}

/** `danube job run --file <value> [--wait] [--json] [--config <value>]` */
export function usageLine(command: CommandShape, bin = 'danube'): string {
  const words = [bin, ...command.id.split(':')]
  for (const [name, arg] of Object.entries(command.args ?? {})) words.push(arg.required ? name.toUpperCase() : `[${name.toUpperCase()}]`)
  const flags = allFlags(command)
  for (const [name, flag] of Object.entries(flags)) {
    if (flag.hidden) continue
    const text = flag.type === 'boolean' ? `--${name}` : `--${name} ${valueForm(flag)}`
    words.push(flag.required ? text : `[${text}]`)
  }
  return words.join(' ')
}

function allFlags(command: CommandShape): Record<string, FlagShape> {
  const json: Record<string, FlagShape> = command.enableJsonFlag === false ? {} : {json: {type: 'boolean'}}
  return {...command.flags, ...json, ...command.baseFlags}
}

function valueForm(flag: FlagShape): string {
  if (flag.options?.length) return flag.options.join('|')
  return flag.type === 'option' && /integer|number|\(\d+-\d+\)/i.test(flag.description ?? '') ? '<n>' : '<value>'
}

/** The form a flag accepts, in words: "one of a, b", or its description. */
function accepted(flag: FlagShape | undefined): string {
  if (!flag) return ''
  if (flag.options?.length) return `one of ${flag.options.join(', ')}`
  const text = flag.description ?? ''
  return text.charAt(0).toLowerCase() + text.slice(1)
}

/**
 * An oclif parse error as a DanubeError (exit 2, or `exitCode`), or undefined when the error is not one.
 * oclif's classes keep what we need (args, flags) on the error; the rest is read from its message, which
 * is all that oclif 4 keeps (e.g. `Missing required flag file`).
 */
export function usageErrorFromParse(error: Error, command: CommandShape, exitCode = EXIT_USAGE): DanubeError | undefined {
  const flags = allFlags(command)
  const text = error.message.replace(/\nSee more help with --help$/, '')
  const make = (message: string) => new DanubeError('USAGE', message, {exitCode, httpStatus: 400, hint: `usage: ${usageLine(command)}`})
  const describeFlag = (name: string) => {
    const flag = flags[name]
    const form = accepted(flag)
    return form ? `--${name} ${flag?.type === 'boolean' ? '' : '<value>'}`.trim() + `: ${form}` : `--${name}`
  }

  if (error instanceof Errors.CLIError && 'args' in error && /^Missing \d+ required arg/.test(text)) {
    const missing = (error as unknown as {args: {name: string; description?: string}[]}).args
    return make(`missing ${missing.map((arg) => `argument ${arg.name.toUpperCase()}${arg.description ? ` (${arg.description.toLowerCase()})` : ''}`).join(', ')}`)
  }
  if ('flags' in error && /^Nonexistent flag/.test(text)) {
    const unknown = (error as unknown as {flags: string[]}).flags
    const known = Object.keys(flags).map((name) => `--${name}`).join(', ')
    return make(`unknown flag ${unknown.join(', ')} (${command.id.replaceAll(':', ' ')} takes ${known})`)
  }
  if ('args' in error && /^Unexpected argument/.test(text)) {
    const extra = (error as unknown as {args: string[]}).args
    const takes = Object.keys(command.args ?? {}).map((name) => name.toUpperCase())
    return make(`unexpected argument${extra.length === 1 ? '' : 's'} ${extra.map((a) => JSON.stringify(a)).join(', ')} (${command.id.replaceAll(':', ' ')} takes ${takes.length ? takes.join(', ') : 'no arguments'})`)
  }
  const required = [...text.matchAll(/Missing required flag (\S+)/g)].map((m) => m[1]!)
  if (required.length > 0) return make(`missing required flag ${required.map(describeFlag).join('; ')}`)
  const option = /^Expected --([\w-]+)=(.*) to be one of: (.*)$/s.exec(text)
  if (option) return make(`--${option[1]}: "${option[2]}" is not ${accepted(flags[option[1]!]) || `one of ${option[3]}`}`)
  const parsing = /^Parsing --([\w-]+) \n\t(.*)$/s.exec(text)
  if (parsing) {
    const [, name, inner] = parsing as unknown as [string, string, string]
    const integer = /^Expected an integer (?:(greater|less) than or equal to (-?\d+) )?but received: (.*)$/s.exec(inner)
    if (integer) {
      const why = integer[1] ? `is ${integer[1] === 'greater' ? 'less' : 'more'} than the ${integer[1] === 'greater' ? 'minimum' : 'maximum'} ${integer[2]}` : 'is not a whole number'
      return make(`--${name}: "${integer[3]}" ${why}; expected ${accepted(flags[name]) || 'a whole number'}`)
    }
    return make(`--${name}: ${inner.split('\n')[0]}`)
  }
  const needsValue = /^Flag --([\w-]+) expects (?:a value|one of these values: .*)$/.exec(text)
  if (needsValue) return make(`--${needsValue[1]} needs a value: ${accepted(flags[needsValue[1]!]) || 'see --help'}`)
  const once = /^Flag --([\w-]+) can only be specified once$/.exec(text)
  if (once) return make(`--${once[1]} given more than once (it takes one value)`)
  const unexpectedFlag = /^Unexpected flag (\S+)$/.exec(text)
  if (unexpectedFlag) return make(`unknown flag ${unexpectedFlag[1]} (${command.id.replaceAll(':', ' ')} takes ${Object.keys(flags).map((n) => `--${n}`).join(', ')})`)
  if (error instanceof Errors.CLIError && (error as {oclif?: {exit?: number}}).oclif?.exit === 2) return make(text.split('\n')[0]!.replace(/^Error: /, ''))
  return undefined
}

/** Edit distance, for "did you mean" on unknown commands (oclif's plugin for it is not a dependency worth its load time). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: {candidate: string; distance: number} | undefined
  for (const candidate of candidates) {
    const distance = levenshtein(word, candidate)
    if (distance <= Math.max(2, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) best = {candidate, distance}
  }
  return best?.candidate
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_v, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = saved
    }
  }
  return row[b.length]!
}
