// What tests need to know about processes: whether one is really alive.

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
