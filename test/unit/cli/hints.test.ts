// A hint may only name flags and commands that exist: every string in src/ that tells the operator to run
// `danube …`, and every flag a hint names, checked against oclif.manifest.json (npm run build makes it).
import {describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../../support/agent-process.js'
import {checkHints, checkTexts, readManifest} from '../../support/hints.js'

describe('hints and messages', () => {
  it('name only commands and flags that exist, on a command that can show them', () => {
    expect(checkHints(REPO_ROOT)).toEqual([])
  })

  it('would catch the hint that sent job run to --http-addr, a flag only the agent has', () => {
    const commands = readManifest(REPO_ROOT)
    const hint = 'start it with `danube agent` (or `systemctl start danube`), or point --http-addr at it'
    expect(checkTexts('src/lib/agent-client.ts', [hint], [hint], commands, ['job:run', 'job:cancel', 'health'])).toEqual([
      {file: 'src/lib/agent-client.ts', text: hint, problem: '--http-addr is not a flag of any command that can show this hint (job run, job cancel, health)'},
    ])
    expect(checkTexts('src/commands/agent.ts', [hint], [hint], commands, ['agent'])).toEqual([])
  })

  it('would catch a renamed command or flag in a `danube …` mention', () => {
    const commands = readManifest(REPO_ROOT)
    const texts = ['resume with: danube drain --resume', 'see `danube jobs list`', 'list them: danube job lst', 'danube is draining; try danube job list --state running']
    expect(checkTexts('x.ts', texts, [], commands, []).map((p) => p.problem)).toEqual(['danube drain has no flag --resume', '"danube job lst" is not a command'])
  })
})
