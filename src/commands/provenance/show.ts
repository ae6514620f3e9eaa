import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import type {ShownProvenance} from '../../lib/provenance/inspect.js'

export default class ProvenanceShow extends BaseCommand<typeof ProvenanceShow> {
  static override summary = 'Show the provenance of an artifacts directory, after verifying it'
  static override description = `Verifies DIR as \`danube provenance verify\` does and then prints its statement readably: subjects, build type, builder, invocation, the job as submitted, what the platform added, dependencies and byproducts. When verification fails it prints the failures instead and exits 1. With --no-verify it prints the statement without checking anything, labelled UNVERIFIED.

${describeExitCodes('provenance show')}`

  static override examples = ['<%= config.bin %> provenance show ./artifacts --key danube.pub', '<%= config.bin %> provenance show ./artifacts --no-verify --json']

  static override args = {dir: Args.string({required: true, description: 'Artifacts directory (artifacts/<job-id>/ or a copy of it)'})}

  static override flags = {
    key: Flags.string({description: 'Public key (SPKI PEM) to verify with (default keys.dir/provenance.pub); never taken from DIR'}),
    'no-verify': Flags.boolean({description: 'Print the statement without verifying it (labelled UNVERIFIED)'}),
  }

  async run(): Promise<ShownProvenance> {
    const {config} = this.loadConfig()
    const {showProvenance} = await import('../../lib/provenance/inspect.js')
    const {renderShown} = await import('../../cli/provenance-render.js')
    const shown = await showProvenance(this.args.dir, {keyFile: this.flags.key, keysDir: config.keys.dir, verify: !this.flags['no-verify']})
    if (!this.jsonEnabled()) this.log(renderShown(shown))
    this.setExitCode(shown.verified === false || shown.statement === null ? 1 : 0)
    return shown
  }
}
