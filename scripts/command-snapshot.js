#!/usr/bin/env node
// The command snapshot (as salesforcecli's command-snapshot keeps one): every command's flags and
// arguments with their types, and the fields its --json result promises (from schemas/<command>.v1.json),
// committed as command-snapshot.json. `--json` output and flags are a public API: adding is fine,
// renaming or removing breaks scripts, so the check fails on anything in the committed snapshot that is
// gone or changed type.
//   node scripts/command-snapshot.js            check (exit 1 and a list of what broke)
//   node scripts/command-snapshot.js --update   rewrite command-snapshot.json (after npm run build),
//                                              for additions, or for a breaking change made on purpose
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const SNAPSHOT_FILE = path.join(root, 'command-snapshot.json')

/** schemas/<id with : as ->.v1.json: the schema of a command's --json result. */
export function schemaFileOf(id) {
  return path.join(root, 'schemas', `${id.replaceAll(':', '-')}.v1.json`)
}

function loadSchema(file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** Required field paths of a schema (`agent.state`, `jobs[].id`), following $ref to files under schemas/. */
export function fieldPaths(schema, prefix = '', seen = new Set()) {
  if (!schema || typeof schema !== 'object') return []
  if (schema.$ref) {
    const file = path.join(root, 'schemas', schema.$ref.replace(/^.*\//, ''))
    if (seen.has(file) || !existsSync(file)) return []
    return fieldPaths(loadSchema(file), prefix, new Set([...seen, file]))
  }
  const out = []
  for (const branch of [...(schema.anyOf ?? []), ...(schema.allOf ?? [])]) out.push(...fieldPaths(branch, prefix, seen))
  if (schema.items) out.push(...fieldPaths(schema.items, `${prefix}[]`, seen))
  for (const name of schema.required ?? []) {
    const child = `${prefix ? `${prefix}.` : ''}${name}`
    out.push(child, ...fieldPaths(schema.properties?.[name], child, seen))
  }
  return [...new Set(out)].sort()
}

/** The snapshot of the commands in oclif.manifest.json (built by npm run build). */
export function currentSnapshot() {
  const {commands} = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
  return Object.values(commands)
    .filter((command) => !command.hidden)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((command) => {
      const json = command.enableJsonFlag !== false
      const schemaFile = schemaFileOf(command.id)
      return {
        command: command.id,
        flags: Object.values(command.flags)
          .filter((flag) => !flag.hidden)
          .map((flag) => ({name: flag.name, type: flag.type === 'boolean' ? 'boolean' : flag.multiple ? 'option[]' : 'option', ...(flag.char ? {char: flag.char} : {}), ...(flag.options ? {options: flag.options} : {})}))
          .sort((a, b) => a.name.localeCompare(b.name)),
        args: Object.values(command.args ?? {}).map((arg) => ({name: arg.name, required: Boolean(arg.required)})),
        json,
        ...(json ? {fields: existsSync(schemaFile) ? fieldPaths(loadSchema(schemaFile)) : null} : {}),
      }
    })
}

/** What the committed snapshot has that the current one lost or changed: each a line an operator understands. */
export function breakingChanges(committed, current) {
  const problems = []
  const now = new Map(current.map((entry) => [entry.command, entry]))
  for (const before of committed) {
    const name = before.command.replaceAll(':', ' ')
    const after = now.get(before.command)
    if (!after) {
      problems.push(`command "${name}" was removed or renamed`)
      continue
    }
    const flags = new Map(after.flags.map((flag) => [flag.name, flag]))
    for (const flag of before.flags) {
      const found = flags.get(flag.name)
      if (!found) problems.push(`${name}: flag --${flag.name} was removed or renamed`)
      else {
        if (found.type !== flag.type) problems.push(`${name}: flag --${flag.name} changed type from ${flag.type} to ${found.type}`)
        if (flag.char && found.char !== flag.char) problems.push(`${name}: flag --${flag.name} lost its short form -${flag.char}`)
        for (const option of flag.options ?? []) if (found.options && !found.options.includes(option)) problems.push(`${name}: flag --${flag.name} no longer accepts "${option}"`)
      }
    }
    before.args.forEach((arg, i) => {
      const found = after.args[i]
      if (!found || found.name !== arg.name) problems.push(`${name}: argument ${arg.name.toUpperCase()} was removed, renamed or moved`)
      else if (found.required && !arg.required) problems.push(`${name}: argument ${arg.name.toUpperCase()} became required`)
    })
    for (const [i, arg] of after.args.entries()) if (i >= before.args.length && arg.required) problems.push(`${name}: new argument ${arg.name.toUpperCase()} is required`)
    for (const flag of after.flags) if (flag.required && !before.flags.some((f) => f.name === flag.name)) problems.push(`${name}: new flag --${flag.name} is required`)
    if (before.json && !after.json) problems.push(`${name}: --json was removed`)
    if (before.json && after.json) {
      if (after.fields === null) problems.push(`${name}: its --json result has no schema (${path.relative(root, schemaFileOf(before.command))})`)
      else for (const field of before.fields ?? []) if (!after.fields.includes(field)) problems.push(`${name}: --json field ${field} was removed or renamed`)
    }
  }
  for (const after of current) {
    if (after.json && after.fields === null) problems.push(`${after.command.replaceAll(':', ' ')}: its --json result has no schema (${path.relative(root, schemaFileOf(after.command))})`)
  }
  return [...new Set(problems)]
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const current = currentSnapshot()
  if (process.argv.includes('--update')) {
    writeFileSync(SNAPSHOT_FILE, `${JSON.stringify(current, null, 2)}\n`)
    console.log(`command-snapshot.json: ${current.length} commands`)
  } else {
    const committed = existsSync(SNAPSHOT_FILE) ? JSON.parse(readFileSync(SNAPSHOT_FILE, 'utf8')) : []
    const problems = breakingChanges(committed, current)
    for (const problem of problems) console.error(`breaking: ${problem}`)
    const added = current.filter((entry) => JSON.stringify(entry) !== JSON.stringify(committed.find((c) => c.command === entry.command)))
    if (problems.length === 0 && added.length > 0) console.error(`command-snapshot.json is behind (additions only): run node scripts/command-snapshot.js --update`)
    process.exitCode = problems.length > 0 ? 1 : 0
  }
}
