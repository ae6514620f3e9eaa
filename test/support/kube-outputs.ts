// Builds what the kubernetes executor's final container prints: a tar of /outputs, base64 between marker lines with
// its size and sha256, so tests (and the bench) can play the kubelet's part with exact bytes, unsafe entries included.

import {createHash} from 'node:crypto'

import {pack} from 'tar-stream'

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

/** The final container's log for this archive, base64 wrapped at 76 columns as busybox base64 does. */
export function outputsLog(archive: Buffer): string {
  const sha256 = createHash('sha256').update(archive).digest('hex')
  const lines = archive.toString('base64').match(/.{1,76}/g) ?? []
  return `danube-outputs-begin size=${archive.length} sha256=${sha256}\n${lines.join('\n')}\ndanube-outputs-end\n`
}
