import {Flags} from '@oclif/core'

import type {HealthReport} from '../agent/health/probe.js'
import type {HealthDocument} from '../agent/health/types.js'
import {BaseCommand} from '../cli/base-command.js'
import {describeExitCodes} from '../cli/exit-codes.js'
import {renderHealth, unknownLine} from '../cli/health-render.js'
import {formatDurationExact, parseDuration} from '../lib/duration.js'
import {DanubeError} from '../lib/errors.js'

export const EXIT_UNKNOWN = 3

export default class HealthCommand extends BaseCommand<typeof HealthCommand> {
  static override summary = 'Check the agent and its dependencies, as a monitoring plugin'
  static override description = `Asks the running agent for its readiness document (GET /health/ready?verbose, answered from its cache); when the agent does not answer, runs the same checks in this process and reports agent:heartbeat as failing with the heartbeat's age. The first line is "DANUBE OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata", then one line per check; --json prints only the readiness document (application/health+json shape). Checks and thresholds: docs/operations.md.

${describeExitCodes('health')}`

  static override examples = ['<%= config.bin %> health', '<%= config.bin %> health --json --timeout 10s', '<%= config.bin %> health --exclude cac:freshness --exclude dex:pods']

  static override flags = {
    timeout: Flags.string({description: 'Give up and exit 3 (UNKNOWN) after this long', default: '10s'}),
    exclude: Flags.string({description: 'Leave out a check by key (component:measurement); repeatable', multiple: true}),
  }

  async run(): Promise<HealthDocument> {
    const timeoutMs = parseDuration(this.flags.timeout, '--timeout')
    const {config} = this.loadConfig()
    const {probeHealth, exitStatusOf} = await import('../agent/health/probe.js')
    const probe = probeHealth({config, clock: {now: () => new Date()}, version: this.config.version, exclude: this.flags.exclude ?? [], timeoutMs})
    const report = await withTimeout(probe, timeoutMs)
    const status = exitStatusOf(report.document)
    if (!this.jsonEnabled()) this.log(renderHealth(report.document, status, report))
    this.setExitCode(status)
    return report.document
  }

  /**
   * Cron waits for the process, not for the output: once the answer is printed, checks still running in
   * this process (bounded by their own timeouts) must not hold the exit. Normally nothing is left and the
   * process exits at once; this unref'd timer only fires when something is.
   */
  protected override async finally(error: Error | undefined): Promise<void> {
    await super.finally(error)
    setTimeout(() => process.exit(), 100).unref()
  }

  /** Every error, usage errors included, is UNKNOWN (3) for a monitoring plugin. */
  protected override usageExitCode(): number {
    return EXIT_UNKNOWN
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<void> {
    await super.catch(error)
    process.exitCode = EXIT_UNKNOWN
  }

  /** The report (its first line says UNKNOWN and why) on stdout, once; stderr carries only the hint. */
  protected override renderError(danube: DanubeError): void {
    process.stdout.write(`${unknownLine(danube.message)}\n`)
    this.renderDiagnostics(danube)
  }
}

function withTimeout(probe: Promise<HealthReport>, timeoutMs: number): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DanubeError('HEALTH_TIMEOUT', `health checks did not finish within ${formatDurationExact(timeoutMs)} (--timeout)`, {exitCode: EXIT_UNKNOWN})), timeoutMs)
  })
  return Promise.race([probe, expired]).finally(() => clearTimeout(timer))
}
