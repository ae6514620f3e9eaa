// Generates one roff man page per command (man/man1/danube-<topic>-<command>.1) and man/man1/danube.1 from the
// oclif manifest and the exit-code table in dist/cli/exit-codes.js, so pages never drift from --help.
// man/man1/ is a man(1) section directory, so `man -M man danube` finds the pages.
// Written by hand: no maintained oclif man-page generator exists, and help2man misreads oclif's output.
// Usage: node scripts/build-man.js [output-dir]   (default: man/man1/)
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'man', 'man1'))
const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const {EXIT_CODES} = await import(path.join(root, 'dist/cli/exit-codes.js'))

const escape = (text) =>
  String(text)
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n')
const pageName = (id) => `danube-${id.replaceAll(':', '-').replaceAll(' ', '-')}`
const commandLine = (id) => `danube ${id.replaceAll(':', ' ')}`
const withoutExitSection = (text) => (text ?? '').split('\nEXIT STATUS')[0].trim()
// The date of this version's pages: fixed (not today's) so that regenerating them changes nothing; bump with the version.
const MAN_DATE = 'December 1, 2026'
const header = (name, summary) => [`.TH ${name.toUpperCase().replaceAll('-', '\\-')} 1 "${MAN_DATE}" "danube ${pkg.version}" "Danube Manual"`, '.SH NAME', `${escape(name)} \\- ${escape(summary)}`]

mkdirSync(outDir, {recursive: true})
const write = (file, lines) => {
  const target = path.join(outDir, file)
  writeFileSync(`${target}.tmp`, `${lines.join('\n')}\n`)
  renameSync(`${target}.tmp`, target)
}

const ids = Object.keys(manifest.commands).sort()
for (const id of ids) {
  const command = manifest.commands[id]
  const spaced = id.replaceAll(':', ' ')
  const lines = header(pageName(id), command.summary ?? '')
  const args = Object.values(command.args ?? {})
  lines.push('.SH SYNOPSIS', `.B ${escape(commandLine(id))}`)
  for (const arg of args) lines.push(`.I ${escape(arg.name.toUpperCase())}`)
  lines.push('[\\fIOPTIONS\\fR]')
  lines.push('.SH DESCRIPTION', escape(withoutExitSection(command.description)))
  const flags = Object.values(command.flags ?? {}).sort((a, b) => a.name.localeCompare(b.name))
  if (args.length + flags.length > 0) lines.push('.SH OPTIONS')
  for (const arg of args) lines.push('.TP', `.I ${escape(arg.name.toUpperCase())}`, escape(arg.description ?? ''))
  for (const flag of flags) {
    const name = `${flag.char ? `\\-${flag.char}, ` : ''}\\-\\-${escape(flag.name)}${flag.type === 'option' ? ` \\fI${flag.name.toUpperCase().replaceAll('-', '_')}\\fR` : ''}`
    const extras = [flag.options ? `one of: ${flag.options.join(', ')}` : '', flag.default !== undefined && flag.default !== false ? `default: ${flag.default}` : '', flag.env ? `environment: ${flag.env}` : '']
      .filter(Boolean)
      .join('; ')
    lines.push('.TP', `.B ${name}`, escape(`${flag.description ?? flag.summary ?? ''}${extras ? ` (${extras})` : ''}`))
  }
  const codes = EXIT_CODES[spaced]
  if (!codes) throw new Error(`no exit-code table for ${spaced}: add it to src/cli/exit-codes.ts`)
  lines.push('.SH EXIT STATUS')
  for (const [code, meaning] of Object.entries(codes)) lines.push('.TP', `.B ${code}`, escape(meaning))
  if (command.examples?.length) {
    lines.push('.SH EXAMPLES')
    for (const [i, example] of command.examples.entries()) lines.push(...(i === 0 ? [] : ['.PP']), '.nf', `.RS 4`, escape(String(example).replaceAll('<%= config.bin %>', 'danube')), '.RE', '.fi')
  }
  lines.push('.SH SEE ALSO', '.BR danube (1)')
  write(`${pageName(id)}.1`, lines)
}

const overview = header('danube', pkg.description)
overview.push('.SH SYNOPSIS', '.B danube', '\\fICOMMAND\\fR [\\fIOPTIONS\\fR]', '.SH DESCRIPTION', escape('The danube command-line tool and the agent it embeds. Every read command takes --json and prints one JSON document on stdout; diagnostics go to stderr.'), '.SH COMMANDS')
for (const id of ids) overview.push('.TP', `.BR ${pageName(id)} (1)`, escape(manifest.commands[id].summary ?? ''))
overview.push('.SH ENVIRONMENT', '.TP', '.B DANUBE_HOME', 'State directory (config key stateDir).', '.TP', '.B DANUBE_CONFIG', 'Config file (default /etc/danube/config.yaml when it exists).', '.TP', '.B NO_COLOR', 'Disables colour.')
write('danube.1', overview)
console.log(`man: ${ids.length + 1} pages in ${path.relative(root, outDir) || '.'}`)
