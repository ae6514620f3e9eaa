// Owns the process groups that local steps run in: telling whether one still has live members, and
// ending one (SIGTERM, then SIGKILL after a grace period) without leaving a process behind; and, for
// unsandboxed steps, finding the processes that left the group (setsid, daemonising) by the
// DANUBE_JOB_ID in their environment. Only the sandbox's PID namespace is absolute: a process that
// clears its environment and leaves the group escapes this.
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

/** Live processes (other than this one) whose environment carries DANUBE_JOB_ID=jobId. */
export function jobProcesses(jobId: string): number[] {
  const needle = `DANUBE_JOB_ID=${jobId}`
  let entries: string[]
  try {
    entries = readdirSync(PROC)
  } catch {
    return []
  }
  const found: number[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (!readFileSync(`${PROC}/${entry}/environ`, 'latin1').split('\0').includes(needle)) continue
    } catch {
      continue
    }
    const stat = readStat(Number(entry))
    if (stat && stat.state !== 'Z' && stat.state !== 'X') found.push(Number(entry))
  }
  return found
}

/**
 * SIGKILLs every process carrying the job's id until none is left (a process may fork while its siblings
 * die, so one pass is not enough); gives up after timeoutMs. Returns how many were killed.
 */
export async function killJobProcesses(jobId: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  const killed = new Set<number>()
  for (;;) {
    const live = jobProcesses(jobId)
    if (live.length === 0) return killed.size
    for (const pid of live) {
      killed.add(pid)
      signalProcess(pid, 'SIGKILL')
    }
    if (Date.now() >= deadline) return killed.size
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // ESRCH: already gone.
  }
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
