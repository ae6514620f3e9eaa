// Every troubleshooting section a failed install or uninstall step points to exists in docs/troubleshooting.md,
// and each has the symptom, the command that shows it, and the fix.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {INSTALL_STEPS} from '../../../src/lib/install/steps.js'
import {UNINSTALL_STEPS} from '../../../src/lib/install/uninstall.js'
import {REPO_ROOT} from '../../support/agent-process.js'

const doc = readFileSync(path.join(REPO_ROOT, 'docs/troubleshooting.md'), 'utf8')
/** GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped. */
const anchors = new Map([...doc.matchAll(/^#{2,3} (.+)$/gm)].map((m) => [m[1]!.toLowerCase().replaceAll(/[^a-z0-9 _-]/g, '').replaceAll(' ', '-'), m.index!]))

describe('docs/troubleshooting.md', () => {
  it('has every section the install and uninstall steps name', () => {
    const named = new Set([...INSTALL_STEPS, ...UNINSTALL_STEPS].map((step) => step.troubleshooting))
    for (const link of named) {
      const [file, anchor] = link.split('#')
      expect(file).toBe('docs/troubleshooting.md')
      expect([...anchors.keys()], link).toContain(anchor)
    }
  })

  it('gives each install section a symptom, the command that shows it, and the fix', () => {
    const install = doc.slice(doc.indexOf('\n## Install'))
    const sections = install.split('\n### ').slice(1)
    expect(sections.length).toBeGreaterThanOrEqual(11)
    for (const section of sections) {
      const title = section.split('\n')[0]
      for (const part of ['**Symptom**', '**Shows it**', '**Fix**']) expect(section, `${title}: ${part}`).toContain(part)
    }
  })

  it('covers what the issue lists', () => {
    for (const heading of ['Node NotReady before Cilium', 'systemd-networkd removes Cilium routes', 'ufw blocks the cluster', 'DNS with the systemd-resolved stub',
      'Missing apparmor_parser', 'K3s restart hangs', 'Dex or registry pods not ready', 'Locked database', 'A drain stuck', 'Provenance verification fails']) {
      expect(doc).toContain(`### ${heading}\n`)
    }
  })
})
