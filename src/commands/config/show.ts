import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {table, visible} from '../../cli/render.js'
import {describeConfig, envName} from '../../lib/config/index.js'

export interface ConfigShowResult {
  file: string | null
  settings: {key: string; value: unknown; source: string; env: string}[]
}

export default class ConfigShow extends BaseCommand<typeof ConfigShow> {
  static override summary = 'Show the effective configuration and where each value comes from'
  static override description = `Sources, highest first: command-line flags, DANUBE_* environment variables, the config file, defaults. Secrets are shown as [REDACTED].

${describeExitCodes('config show')}`

  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show --json --config ./danube.yaml']

  async run(): Promise<ConfigShowResult> {
    const loaded = this.loadConfig()
    const result: ConfigShowResult = {
      file: loaded.file ?? null,
      settings: describeConfig(loaded).map((entry) => ({...entry, env: envName(entry.key)})),
    }
    if (!this.jsonEnabled()) {
      this.log(`config file: ${visible(result.file ?? '(none)')}`)
      this.log(table([['KEY', 'VALUE', 'SOURCE'], ...result.settings.map((s) => [s.key, s.value === null ? '-' : visible(String(s.value)), s.source])]))
    }
    return result
  }
}
