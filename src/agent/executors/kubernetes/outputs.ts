// Owns bringing a Kubernetes job's /outputs home, the way `kubectl cp` does: exec `tar -C /outputs -cf - .` in the
// final container (pods/exec, manifest.ts's COPY_COMMAND) and stream its stdout straight into tar-stream and the
// output rule (../output-rule.ts: staged beside artifacts/<id>/, hashed while written, refusals logged), with
// backpressure all the way to the socket, so memory stays flat whatever the outputs' size. The copy is checked end to
// end: the remote tar's exit status (exec status channel), and the size and SHA-256 the container printed on stderr
// against the bytes that arrived. Only a copy that passes every check is committed into artifacts/<id>/; anything
// else is discarded and reported with its cause. tar-stream (declared in package.json) reads ustar, GNU long names
// and pax headers, which busybox and GNU tar emit.

import {createHash} from 'node:crypto'
import {Writable} from 'node:stream'
import {finished} from 'node:stream/promises'

import {extract} from 'tar-stream'

import type {DanubeError} from '../../../lib/errors.js'
import type {JobLog} from '../../../lib/jobs/log.js'
import type {KubeClient} from '../../../lib/kube/index.js'
import {ArtifactStaging, type OutputsReport, tarEntryRefusal} from '../output-rule.js'
import {COPY_COMMAND, COPY_SUMMARY, FINAL_CONTAINER} from './manifest.js'

/** Stderr of the copy kept for the log (tar's complaints and the summary line); the rest is counted, not kept. */
const MAX_STDERR = 64 * 1024

export interface CopyRequest {
  client: KubeClient
  namespace: string
  pod: string
  artifactsDir: string
  log: JobLog
  /** kubernetes.outputsMaxBytes: the tar stream is cut, and the copy fails, past this many bytes. */
  maxBytes: number
  /** Cancel, timeout, drain force-kill: the connection is closed at once and nothing is committed. */
  signal: AbortSignal
}

export type CopyResult =
  | {ok: true; outputs: OutputsReport; bytes: number}
  /** `error` is the API's typed error when the exec itself failed (KUBE_FORBIDDEN for RBAC, for instance). */
  | {ok: false; problem: string; error?: DanubeError; aborted?: boolean}

interface Summary {
  tarExit: number
  size: number
  sha256: string
}

/** Copies /outputs of the pod's final container into artifacts/<id>/, or leaves artifacts/<id>/ untouched. */
export async function copyOutputs(request: CopyRequest): Promise<CopyResult> {
  const {client, namespace, pod, log, maxBytes} = request
  const staging = new ArtifactStaging(request.artifactsDir, log)
  const controller = new AbortController()
  const onAbort = () => controller.abort()
  request.signal.addEventListener('abort', onAbort, {once: true})
  let tooLarge = false
  let extractError: Error | undefined

  const extractor = extract()
  const hash = createHash('sha256')
  let bytes = 0
  // Hashes and counts exactly what arrived, then hands it to tar-stream, waiting while tar-stream is full.
  const arrival = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      if (bytes > maxBytes) {
        tooLarge = true
        controller.abort()
        return done()
      }
      hash.update(chunk)
      if (extractor.write(chunk)) return done()
      extractor.once('drain', () => done())
    },
  })
  const stderr = new StderrLines()

  const consumed = (async () => {
    for await (const entry of extractor) {
      const {name, type, mode} = entry.header
      const refusal = tarEntryRefusal(type ?? 'file')
      if (refusal) {
        staging.refuse(name, refusal)
        entry.resume()
      } else if (type === 'directory') {
        staging.addDirectory(name)
        entry.resume()
      } else {
        await staging.addFile(name, entry as unknown as AsyncIterable<Uint8Array>, mode ?? 0o644)
        entry.resume()
      }
    }
  })().catch((error: unknown) => {
    // A corrupt archive or a failed write: stop the stream, the copy fails below.
    extractError ??= error as Error
    controller.abort()
  })

  const fail = async (problem: string, extra: Omit<Extract<CopyResult, {ok: false}>, 'ok' | 'problem'> = {}): Promise<CopyResult> => {
    // Let the unpacking stop before the staging directory goes, so no file of it is written after the discard.
    extractor.destroy()
    await consumed
    staging.discard()
    return {ok: false, problem, ...extra}
  }

  try {
    let exitCode: number | null
    let statusMessage: string | undefined
    try {
      const outcome = await client.exec(namespace, pod, FINAL_CONTAINER, COPY_COMMAND, {stdout: arrival, stderr, signal: controller.signal})
      exitCode = outcome.exitCode
      statusMessage = outcome.status.message
    } catch (error) {
      for (const line of stderr.lines()) log.note(`outputs container: ${line}`)
      if (tooLarge) return fail(`the outputs are larger than kubernetes.outputsMaxBytes (${maxBytes} bytes); nothing was copied`)
      if (extractError) return fail(`the outputs archive could not be unpacked: ${extractError.message}`)
      if (request.signal.aborted) return fail('the copy was stopped', {aborted: true})
      const danube = error as DanubeError
      return fail(`cannot copy the outputs of pod ${namespace}/${pod}: ${danube.message}${danube.hint ? ` (${danube.hint})` : ''}`, {error: danube})
    }
    arrival.end()
    await finished(arrival)
    void (extractor as unknown as NodeJS.WritableStream).end()
    await consumed
    const summary = stderr.summary()
    for (const line of stderr.lines()) log.note(`outputs container: ${line}`)
    if (tooLarge) return fail(`the outputs are larger than kubernetes.outputsMaxBytes (${maxBytes} bytes); nothing was copied`)
    if (extractError) return fail(`the outputs archive could not be unpacked: ${extractError.message}`)
    if (summary && summary.tarExit !== 0) return fail(`tar in the outputs container exited with ${summary.tarExit}`)
    if (exitCode !== 0) return fail(`the copy command in the outputs container ${exitCode === null ? `failed: ${statusMessage ?? 'no reason given'}` : `exited with ${exitCode}`}`)
    if (!summary) return fail('the outputs container printed no size and checksum for the archive')
    if (summary.size !== bytes) return fail(`${bytes} bytes of the outputs archive arrived, the container sent ${summary.size}`)
    const sha256 = hash.digest('hex')
    if (summary.sha256 !== sha256) return fail(`the outputs archive that arrived (sha256 ${sha256}) is not the one the container sent (sha256 ${summary.sha256})`)
    return {ok: true, outputs: staging.commit(), bytes}
  } finally {
    request.signal.removeEventListener('abort', onAbort)
  }
}

/** Keeps the copy's stderr as lines (bounded) and finds the summary line among them. */
class StderrLines extends Writable {
  private text = ''
  private dropped = 0

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    const room = MAX_STDERR - this.text.length
    if (room > 0) this.text += chunk.toString('utf8').slice(0, room)
    this.dropped += Math.max(0, chunk.length - Math.max(0, room))
    done()
  }

  summary(): Summary | undefined {
    const pattern = new RegExp(`^${COPY_SUMMARY} tar-exit=(\\d+) size=(\\d+) sha256=([0-9a-f]{64})$`)
    for (const line of this.text.split('\n').reverse()) {
      const match = pattern.exec(line.trim())
      if (match) return {tarExit: Number(match[1]), size: Number(match[2]), sha256: match[3]!}
    }
    return undefined
  }

  /** Everything but the summary line, for the job log. */
  lines(): string[] {
    const lines = this.text.split('\n').map((line) => visible(line.trimEnd())).filter((line) => line && !line.startsWith(`${COPY_SUMMARY} tar-exit=`))
    if (this.dropped > 0) lines.push(`(${this.dropped} more bytes of stderr not kept)`)
    return lines
  }
}

/** What the container wrote, with control characters (from file names, say) escaped before they reach a log. */
function visible(line: string): string {
  // eslint-disable-next-line no-control-regex -- the point is to find control characters
  return line.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
