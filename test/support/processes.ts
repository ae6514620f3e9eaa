// What tests need to know about processes and modules: whether a process is really alive, and which
// modules a source file imports at load time.

import {readFileSync} from 'node:fs'

/** Live means present and not a zombie: a killed orphan stays a zombie until PID 1 reaps it. */
export function processIsLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
  } catch {
    return false
  }
}

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
