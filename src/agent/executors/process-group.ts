// Owns the process groups that local steps run in: telling whether one still has live members, and
// ending one (SIGTERM, then SIGKILL after a grace period) without leaving a process behind.
// Written against /proc because kill(-pgid, 0) also counts zombies, which a container's PID 1 may
// never reap, and would make a finished group look alive forever.

import {readdirSync, readFileSync} from 'node:fs'

const PROC = '/proc'

/** Live (non-zombie) processes whose process group is pgid. */
export function groupMembers(pgid: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync(PROC)
  } catch {
    return signalProbe(pgid) ? [pgid] : []
  }
  const members: number[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(Number(entry))
  }
  return members
}

/** Whether any member of the group has DANUBE_JOB_ID=jobId in its environment (guards against pid reuse). */
export function groupBelongsToJob(pgid: number, jobId: string): boolean {
  const needle = `DANUBE_JOB_ID=${jobId}`
  return groupMembers(pgid).some((pid) => {
    try {
      return readFileSync(`${PROC}/${pid}/environ`, 'latin1').split('\0').includes(needle)
    } catch {
      return false
    }
  })
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}

/** SIGTERM the group, wait up to graceMs for it to empty, SIGKILL what is left, wait until it is gone. */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM')
  if (await waitUntilEmpty(pgid, graceMs)) return
  signalGroup(pgid, 'SIGKILL')
  await waitUntilEmpty(pgid, 5000)
}

export async function waitUntilEmpty(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (groupMembers(pgid).length === 0) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

function readStat(pid: number): {state: string; pgrp: number} | undefined {
  try {
    const text = readFileSync(`${PROC}/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {state: rest[0]!, pgrp: Number(rest[2])}
  } catch {
    return undefined
  }
}

function signalProbe(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}
