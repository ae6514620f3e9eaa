// The one base of every danube command: `--json` (the value run() returns is the contract), `--config`,
// loading the configuration, and rendering errors once: a line and a hint on stderr, or a compact JSON
// envelope on stdout with --json, always with the exit status the error carries.

import {Command, Flags, type Interfaces} from '@oclif/core'

import {type LoadedConfig, loadConfig} from '../lib/config/index.js'
import {boundDetails, DanubeError} from '../lib/errors.js'
import {visible} from './render.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    config: Flags.string({
      description: 'Config file (YAML); default /etc/danube/config.yaml when it exists',
      env: 'DANUBE_CONFIG',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** The effective configuration; `overrides` are flag values keyed by config key. */
  protected loadConfig(overrides: Record<string, string | number | boolean | undefined> = {}): LoadedConfig {
    return loadConfig({configFile: this.flags.config as string | undefined, flags: overrides})
  }

  /** Ends the command with a non-zero status that is not an error (e.g. a job that failed under --wait). */
  protected setExitCode(code: number): void {
    process.exitCode = code
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    const danube = toDanubeError(error)
    process.exitCode = danube.exitCode
    if (this.jsonEnabled()) {
      const {error: body} = danube.toJSON()
      process.stdout.write(`${JSON.stringify({error: {...body, exitCode: danube.exitCode}})}\n`)
      return
    }
    // Messages quote what operators and clients sent (job names, ids, keys): never raw control characters.
    process.stderr.write(`danube: ${visible(danube.message)}\n`)
    if (danube.hint) process.stderr.write(`hint: ${visible(danube.hint)}\n`)
    for (const detail of boundDetails(danube.details ?? []).slice(1)) process.stderr.write(`  ${visible(detail.path)}: ${visible(detail.message)}\n`)
    if (process.env.DEBUG && !(error instanceof DanubeError)) process.stderr.write(`${error.stack}\n`)
  }
}

function toDanubeError(error: Error & {oclif?: {exit?: number}}): DanubeError {
  if (error instanceof DanubeError) return error
  const exit = error.oclif?.exit
  // oclif's own parse errors (unknown flag, missing argument) are usage errors.
  if (exit !== undefined && exit !== 0) {
    const message = error.message.split('\n')[0]!.replace(/^Error: /, '')
    return new DanubeError('USAGE', message, {exitCode: exit, hint: 'see --help'})
  }
  return new DanubeError('INTERNAL', `internal error: ${error.message}`, {exitCode: 1, hint: 'set DEBUG=1 for a stack trace, and report it'})
}
