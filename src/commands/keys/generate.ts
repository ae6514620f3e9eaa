import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {describeExitCodes} from '../../cli/exit-codes.js'
import type {KeyPairFiles} from '../../lib/provenance/keys.js'

export default class KeysGenerate extends BaseCommand<typeof KeysGenerate> {
  static override summary = 'Generate the Ed25519 key pair that signs provenance'
  static override description = `Writes provenance.key (PKCS#8 PEM, mode 0600) and provenance.pub (SPKI PEM) into --out or keys.dir, each to a temporary file renamed into place. Refuses to replace an existing key unless --force. The key id printed is the hex SHA-256 of the public key's DER; install/gen-keys.sh writes the same formats with openssl alone. Publish provenance.pub to whoever verifies; the agent reads provenance.key at every signature and refuses it when group- or world-readable or owned by another user.

${describeExitCodes('keys generate')}`

  static override examples = ['<%= config.bin %> keys generate', 'sudo -u danube <%= config.bin %> keys generate --out /etc/danube/keys --force --json']

  static override flags = {
    out: Flags.string({description: 'Directory to write provenance.key and provenance.pub to (default keys.dir)'}),
    force: Flags.boolean({description: 'Replace an existing key pair (provenance signed before then verifies only with the old public key)'}),
  }

  async run(): Promise<KeyPairFiles> {
    const {config} = this.loadConfig()
    const {generateKeyPair} = await import('../../lib/provenance/keys.js')
    const files = generateKeyPair(this.flags.out ?? config.keys.dir, {force: this.flags.force})
    if (!this.jsonEnabled()) {
      this.log(`wrote ${files.privateKeyFile} (private, 0600) and ${files.publicKeyFile} (public)`)
      this.log(`key id ${files.keyId}`)
    }
    return files
  }
}
