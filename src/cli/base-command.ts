// The one base of every danube command: `--json` (the value run() returns is the contract), `--config`,
// loading the configuration, and rendering errors once: a line and a hint on stderr, or a compact JSON
// envelope on stdout with --json, always with the exit status the error carries. oclif's own parse errors
// go through here too (src/cli/usage.ts words them): one line naming the argument or flag and its form,
// then the usage line, exit 2.

import {Command, Flags, type Interfaces} from '@oclif/core'

import {type LoadedConfig, loadConfig} from '../lib/config/index.js'
import {boundDetails, DanubeError, EXIT_USAGE} from '../lib/errors.js'
import {visible} from './render.js'
import {type CommandShape, usageErrorFromParse} from './usage.js'

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

  /** Exit status for usage errors: 2, as oclif and BSD sysexits use it (health: 3, UNKNOWN). */
  protected usageExitCode(): number {
    return EXIT_USAGE
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    const danube = toDanubeError(error, this.ctor as unknown as CommandShape, this.usageExitCode())
    // A parse error is rendered here, once: oclif would add "did not parse its arguments" (NODE_ENV development/test).
    this.parsed = true
    process.exitCode = danube.exitCode
    if (this.jsonEnabled()) {
      const {error: body} = danube.toJSON()
      process.stdout.write(`${JSON.stringify({error: {...body, exitCode: danube.exitCode}})}\n`)
      return
    }
    this.renderError(danube)
    if (process.env.DEBUG && !(error instanceof DanubeError)) process.stderr.write(`${error.stack}\n`)
  }

  /** Human rendering of an error: `danube: message`, then the hint (or the usage line) and details, on stderr. */
  protected renderError(danube: DanubeError): void {
    // Messages quote what operators and clients sent (job names, ids, keys): never raw control characters.
    process.stderr.write(`danube: ${visible(danube.message)}\n`)
    this.renderDiagnostics(danube)
  }

  /** What follows the message: the hint (a usage line as it is), then details after the first. */
  protected renderDiagnostics(danube: DanubeError): void {
    if (danube.hint) process.stderr.write(danube.hint.startsWith('usage: ') ? `${visible(danube.hint)}\n` : `hint: ${visible(danube.hint)}\n`)
    for (const detail of boundDetails(danube.details ?? []).slice(1)) process.stderr.write(`  ${visible(detail.path)}: ${visible(detail.message)}\n`)
  }
}

function toDanubeError(error: Error & {oclif?: {exit?: number}}, command: CommandShape, usageExit: number): DanubeError {
  if (error instanceof DanubeError) return error
  const usage = usageErrorFromParse(error, command, usageExit)
  if (usage) return usage
  return new DanubeError('INTERNAL', `internal error: ${error.message}`, {exitCode: 1, hint: 'set DEBUG=1 for a stack trace, and report it'})
}
