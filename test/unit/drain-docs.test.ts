import {readFileSync} from 'node:fs'
import path from 'node:path'

import {expect, it} from 'vitest'

import {EXIT_CODES} from '../../src/cli/exit-codes.js'
import {REPO_ROOT} from '../support/agent-process.js'

it('docs/upgrade.md lists exactly the exit statuses of `danube drain`', () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/upgrade.md'), 'utf8')
  const section = doc.slice(doc.indexOf('### Exit status'), doc.indexOf('### `--json`'))
  const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => m[1])
  expect(documented).toEqual(Object.keys(EXIT_CODES.drain!))
})
