// provenance:signingKey (degrading): pass with the key id when keys.dir holds a usable Ed25519 key; warn when it
// holds none (jobs run, their provenance is skipped); fail when the key is there but the agent would refuse it
// (group- or world-readable, another owner, not Ed25519, not the pair of provenance.pub). The key is checked as the
// agent checks it before each signature, so this never reports a key usable that signing would refuse.

import type {DanubeError} from '../../../lib/errors.js'
import {loadSigningKey} from '../../../lib/provenance/keys.js'
import type {HealthCheck} from '../types.js'

export function signingKeyCheck(keysDir: string): HealthCheck {
  return {
    key: 'provenance:signingKey',
    componentType: 'component',
    componentId: keysDir,
    importance: 'degrading',
    observedUnit: 'keyId',
    run: async () => {
      try {
        const key = loadSigningKey(keysDir)
        if (!key) {
          return {status: 'warn', observedValue: null, observedUnit: 'keyId', output: `no signing key in ${keysDir}: provenance is skipped (no signing key); create one with \`danube keys generate\``}
        }
        return {status: 'pass', observedValue: key.keyId, observedUnit: 'keyId', output: `jobs are signed with ${key.file}`}
      } catch (error) {
        const danube = error as DanubeError
        return {status: 'fail', observedValue: null, observedUnit: 'keyId', output: `provenance fails for every job: ${danube.message}${danube.hint ? ` (${danube.hint})` : ''}`}
      }
    },
  }
}
