// `npm run bench`: runs every benchmark script in bench/ in turn and prints their figures (JSON lines).
// Benchmarks measure; they do not pass or fail. bench/README.md records the figures measured.
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const dir = path.dirname(fileURLToPath(import.meta.url))
const TSX_SCRIPTS = new Set(['kubernetes.js', 'kubernetes-outputs.js'])
const only = process.argv.slice(2)
const scripts = readdirSync(dir)
  .filter((name) => name.endsWith('.js') && !['run.js', 'support.js'].includes(name))
  .filter((name) => only.length === 0 || only.some((o) => name.startsWith(o)))
  .sort()
let failures = 0
for (const script of scripts) {
  console.log(`# ${script}`)
  // kubernetes*.js import the TypeScript Kubernetes test API server from test/support: it needs tsx's loader.
  const loader = TSX_SCRIPTS.has(script) ? ['--import', 'tsx'] : []
  const result = spawnSync(process.execPath, [...loader, path.join(dir, script)], {stdio: 'inherit'})
  if (result.status !== 0) failures++
}
process.exitCode = failures ? 1 : 0
