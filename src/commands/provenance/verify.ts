import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import {renderVerification} from '../../cli/provenance-render.js'
import type {VerificationReport} from '../../lib/provenance/inspect.js'

export default class ProvenanceVerify extends BaseCommand<typeof ProvenanceVerify> {
  static override summary = 'Prove an artifacts directory is exactly what its signed provenance says'
  static override description = `Checks provenance.intoto.jsonl in DIR against a public key you hold (--key, else keys.dir/provenance.pub; never a key from DIR): the envelope, its payloadType and Ed25519 signature over the DSSE pre-authentication encoding, the statement's _type, predicateType and buildType, builder.id and source when asked, safe and unique subject names, and that the regular files in DIR (walked without following links, hidden files included, the two provenance files excluded) are exactly the subjects with their sha256 digests. Every failure is reported, one line each naming the file and the reason.

${describeExitCodes('provenance verify')}`

  static override examples = [
    '<%= config.bin %> provenance verify ./artifacts --key danube.pub',
    '<%= config.bin %> provenance verify /var/lib/danube/artifacts/6f1c2d7e-3b7a-4c1e-9a55-0d8b8f6f2a10 --builder-id https://danube.dev/builders/kubernetes-pod/v1 --json',
  ]

  static override args = {dir: Args.string({required: true, description: 'Artifacts directory (artifacts/<job-id>/ or a copy of it)'})}

  static override flags = {
    key: Flags.string({description: 'Public key (SPKI PEM) to verify with (default keys.dir/provenance.pub); never taken from DIR'}),
    'builder-id': Flags.string({description: 'Require this runDetails.builder.id'}),
    'source-uri': Flags.string({description: 'Require this source uri (externalParameters.source.uri)'}),
  }

  async run(): Promise<VerificationReport> {
    const {config} = this.loadConfig()
    const {verifyWithKeyFile} = await import('../../lib/provenance/inspect.js')
    const result = await verifyWithKeyFile(this.args.dir, {keyFile: this.flags.key, keysDir: config.keys.dir, builderId: this.flags['builder-id'], sourceUri: this.flags['source-uri']})
    if (!this.jsonEnabled()) this.log(renderVerification(result))
    this.setExitCode(result.verified ? 0 : 1)
    return result
  }
}
