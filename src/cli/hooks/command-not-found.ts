// oclif's command_not_found hook: an unknown command is a usage error like any other, worded and
// rendered as BaseCommand renders them (one line with the closest command, the usage line, exit 2; a
// JSON envelope with --json), not in oclif's own style.

import type {Hook} from '@oclif/core'

import {closest} from '../usage.js'

const hook: Hook<'command_not_found'> = async function (options) {
  const spaced = (id: string) => id.replaceAll(':', ' ')
  const commands = options.config.commandIDs.filter((id) => !options.config.findCommand(id)?.hidden).map(spaced).sort()
  const asked = spaced(options.id)
  const guess = closest(asked, commands)
  // `danube --bogus`: oclif takes a leading flag for a command id.
  const message = asked.startsWith('-')
    ? `unknown flag ${asked} (flags go after a command, e.g. danube status --json)`
    : `unknown command "${asked}"${guess ? ` (did you mean "${guess}"?)` : ''}`
  const usage = `usage: ${options.config.bin} COMMAND [flags]; commands: ${commands.join(', ')}`
  process.exitCode = 2
  if ((options.argv ?? []).includes('--json')) {
    process.stdout.write(`${JSON.stringify({error: {code: 'USAGE', message, hint: usage, exitCode: 2}})}\n`)
  } else {
    process.stderr.write(`danube: ${message}\n${usage}\n`)
  }
  this.exit(2)
}

export default hook
