// Plays the kubernetes executor's final container for tests and the bench: fills a job pod's outputs volume (what
// the steps left in /outputs), stands in for a compromised image whose `tar` emits a crafted archive, and waits for
// the agent's release before the pod succeeds, as the container's wait loop would. The bytes travel through the test
// API server's real pods/exec (test/support/kube/exec.ts).

import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {pack} from 'tar-stream'

import type {ExecRecord, KubeApiServer} from './kube-api-server.js'

export type TarEntry =
  | {name: string; type?: 'file'; content: string; mode?: number}
  | {name: string; type: 'directory'}
  | {name: string; type: 'symlink' | 'link'; linkname: string}
  | {name: string; type: 'fifo' | 'character-device' | 'block-device'}

export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const archive = pack()
  const chunks: Buffer[] = []
  archive.on('data', (chunk: unknown) => chunks.push(chunk as Buffer))
  const ended = new Promise<void>((resolve, reject) => {
    archive.on('end', () => resolve())
    archive.on('error', reject)
  })
  for (const entry of entries) {
    if (entry.type === undefined || entry.type === 'file') archive.entry({name: entry.name, mode: entry.mode ?? 0o644}, entry.content)
    else if (entry.type === 'symlink' || entry.type === 'link') archive.entry({name: entry.name, type: entry.type, linkname: entry.linkname})
    else archive.entry({name: entry.name, type: entry.type, mode: 0o755})
  }
  archive.finalize()
  await ended
  return Buffer.concat(chunks)
}

/** The pod's outputs volume on the test kubelet: what the steps wrote to /outputs. */
export function outputsDir(server: KubeApiServer, pod: string): string {
  return server.podVolume(pod, 'outputs')
}

/** Writes files (relative path → content) into the pod's /outputs. */
export function fillOutputs(server: KubeApiServer, pod: string, files: Record<string, string | Buffer>): void {
  const root = outputsDir(server, pod)
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), {recursive: true})
    writeFileSync(path.join(root, name), content)
  }
}

/**
 * A compromised outputs image: its `tar -C /outputs -cf - .` prints `archive` instead. The rest of the agent's copy
 * command (the size and checksum it prints) runs unchanged, so the archive arrives "verified" and only the output rule
 * stands between it and the artifacts directory.
 */
export function serveCraftedArchive(server: KubeApiServer, pod: string, archive: Buffer): () => void {
  writeFileSync(path.join(server.podVolume(pod, 'scratch'), 'crafted.tar'), archive)
  return replaceInCopyScript(server, pod, 'tar -C /outputs -cf - .', 'cat /danube/crafted.tar')
}

/** Edits the copy command the kubelet runs in this pod (a broken image, a lying checksum, …). */
export function replaceInCopyScript(server: KubeApiServer, pod: string, from: string, to: string): () => void {
  return server.overrideExec(pod, (command) => (command[0] === 'sh' && command[2]?.includes(from) ? [command[0], command[1]!, command[2].replace(from, to)] : undefined))
}

/** True for the agent's release of the final container (`touch /danube/released`). */
export function isRelease(record: ExecRecord): boolean {
  return record.command[0] === 'touch' && record.command[1] === '/danube/released'
}

/** True for the agent's copy of /outputs. */
export function isCopy(record: ExecRecord): boolean {
  return record.command[0] === 'sh' && Boolean(record.command[2]?.includes('tar -C /outputs -cf - .'))
}

/** Resolves once the agent has released the pod's final container (its release exec ended with 0). */
export function released(server: KubeApiServer, pod: string): Promise<void> {
  const name = pod.includes('/') ? pod.split('/')[1]! : pod
  return new Promise((resolve) => {
    const done = () => {
      unsubscribe()
      resolve()
    }
    const unsubscribe = server.onExecEnded((record) => {
      if (record.pod === name && isRelease(record) && record.exitCode === 0) done()
    })
    if (server.execs(name).some((record) => isRelease(record) && record.exitCode === 0)) done()
  })
}

/**
 * The final container's part after the steps: it runs (startPod), the agent copies /outputs and releases it, and it
 * exits 0, so the pod succeeds. Checks the release marker really is in the container's scratch volume.
 */
export async function finishWithOutputs(server: KubeApiServer, pod: string, files: Record<string, string | Buffer> = {}): Promise<void> {
  fillOutputs(server, pod, files)
  server.startPod(pod)
  await released(server, pod)
  if (!existsSync(path.join(server.podVolume(pod, 'scratch'), 'released'))) throw new Error(`the release of ${pod} left no marker`)
  server.succeedPod(pod)
}
