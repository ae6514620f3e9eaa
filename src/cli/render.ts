// Owns terminal rendering helpers for commands: colour only on a TTY without NO_COLOR, aligned tables,
// relative times, and `visible()`, through which every human renderer passes text that came from outside
// (job names, step names, reasons, messages) so that no control character reaches the terminal raw.

import type {ChalkInstance} from 'chalk'

/**
 * Chalk for a stream (colour only on a TTY without NO_COLOR), loaded only for human output: `--json`, as
 * cron runs `danube status`, never pays for it.
 */
export async function colors(stream: NodeJS.WriteStream = process.stdout): Promise<ChalkInstance> {
  const enabled = Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb'
  const {Chalk} = await import('chalk')
  return new Chalk({level: enabled ? 1 : 0})
}

// C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates that reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g
const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * Text as a terminal may show it: control characters as escapes (`\x1b`, `\n`, `\u202e`), everything else as
 * it is. `--json` output never goes through this: it stays exact.
 */
export function visible(text: string, keep = ''): string {
  return text.replaceAll(UNSAFE, (char) => {
    if (keep.includes(char)) return char
    const named = NAMED[char]
    if (named) return named
    const code = char.codePointAt(0)!
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** Like visible(), for multi-line text such as a job log: newlines and tabs stay as they are. */
export function visibleLines(text: string): string {
  return visible(text, '\n\t')
}

export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))))
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell)))).join('  ')).join('\n')
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replaceAll(/\u001B\[[0-9;]*m/g, '').length
}

export function ago(iso: string | null, now = new Date()): string {
  if (!iso) return '-'
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000))
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`
  return `${Math.floor(seconds / 86_400)}d ago`
}
