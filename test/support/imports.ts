// Which modules a source file loads at import time, for the tests that keep heavy modules
// (@kubernetes/client-node, gRPC, OpenTelemetry) off the CLI's start-up path.

import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

/**
 * Static (non-type) import/export specifiers of a module. Under verbatimModuleSyntax `import type …` and
 * `import {type A, type B} …` are erased, so they do not load anything and are left out.
 */
export function valueImports(source: string): string[] {
  const specifiers: string[] = []
  for (const match of source.matchAll(/^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/gm)) {
    const [, , typeOnly, clause, specifier] = match
    if (typeOnly) continue
    const names = clause!.replace(/[{}]/g, '').split(',').map((name) => name.trim()).filter(Boolean)
    if (clause!.startsWith('{') && names.length > 0 && names.every((name) => name.startsWith('type '))) continue
    specifiers.push(specifier!)
  }
  for (const match of source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) specifiers.push(match[1]!)
  return specifiers
}

/**
 * Every module reachable from entry through static value imports: relative ones as absolute paths, packages by
 * name. Works on src/ (a `./x.js` specifier resolves to `./x.ts`) and on dist/ alike.
 */
export function staticImportGraph(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen
  seen.add(entry)
  for (const specifier of valueImports(readFileSync(entry, 'utf8'))) {
    if (!specifier.startsWith('.')) {
      seen.add(specifier)
      continue
    }
    const target = path.resolve(path.dirname(entry), specifier)
    staticImportGraph(existsSync(target) ? target : target.replace(/\.js$/, '.ts'), seen)
  }
  return seen
}
