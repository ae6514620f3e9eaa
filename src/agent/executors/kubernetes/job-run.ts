// Owns one Danube job's life as a Kubernetes Job: creating it (or adopting the one a previous agent made), following
// its pod through the shared watch cache to record each step's start, exit code and image digest and copy each
// container's log when it ends, copying /outputs home once the final container waits for it (outputs.ts, through
// pods/exec; again from the start after an agent restart) and then releasing that container, deciding the outcome,
// and cleaning up: a cancelled, timed-out or broken job is deleted
// with propagationPolicy Foreground (and the stop's grace period: a drain's --grace-period, else
// kubernetes.gracePeriodSeconds) and is reported only once its pods are gone, or after kubernetes.cancelCap with the
// pods that are stuck terminating named in the log and in the result's leftBehind.

import type {V1ContainerStatus, V1Job, V1JobCondition, V1Pod} from '@kubernetes/client-node'

import {DanubeError} from '../../../lib/errors.js'
import {formatDuration, parseDuration} from '../../../lib/duration.js'
import type {JobReason} from '../../../lib/jobs/model.js'
import {stepName} from '../../../lib/jobs/model.js'
import type {KubeClient} from '../../../lib/kube/index.js'
import type {Logger} from '../../logger.js'
import {type ExecutionContext, type ExecutionResult, stopGraceMs, stopReason} from '../types.js'
import {PassThrough} from 'node:stream'

import type {OutputsReport} from '../output-rule.js'
import {buildJobManifest, FINAL_CONTAINER, JOB_ID_LABEL, kubeJobName, type ManifestOptions, RELEASE_COMMAND, stepIndexOf} from './manifest.js'
import {copyOutputs, type CopyResult} from './outputs.js'
import type {ClusterWatcher} from './watcher.js'

export interface KubeRunSettings {
  namespace: string
  manifest: Omit<ManifestOptions, 'namespace' | 'timeoutMs'>
  gracePeriodSeconds: number
  cancelCapMs: number
  /** kubernetes.outputsMaxBytes. */
  outputsMaxBytes: number
}

export interface KubeRunDeps {
  client: KubeClient
  watcher: ClusterWatcher
  settings: KubeRunSettings
  logger: Logger
}

type Decision =
  /** The pod succeeded; or (released: false) the outputs are home but the final container could not be released. */
  | {kind: 'succeeded'; pod?: V1Pod; released?: false}
  | {kind: 'failed'; reason: JobReason; exitCode: number | null; message: string; cleanup: boolean}
  | {kind: 'stopped'; reason: JobReason}

/** Waiting reasons that mean the image will not arrive without someone fixing the spec or the registry. */
const IMAGE_PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'])
/** Create failures after which the Job may exist anyway (the request may have reached the server). */
const UNCERTAIN_CODES = new Set(['KUBE_TIMEOUT', 'KUBE_UNREACHABLE', 'KUBE_SERVER_ERROR', 'KUBE_ERROR'])

export class KubeJobRun {
  private readonly name: string
  private readonly started = new Set<number>()
  private readonly finished = new Set<number>()
  private readonly copied = new Set<string>()
  private readonly wakers = new Set<() => void>()
  private logChain: Promise<void> = Promise.resolve()
  private decision?: Decision
  private resolveDecision: (decision: Decision) => void = () => {}
  private seenJob = false
  private seenPod = false
  /** The copy of /outputs, once started (at most once per run of this agent). */
  private copy?: Promise<CopyResult>
  private readonly copyController = new AbortController()
  private outputs?: OutputsReport

  constructor(
    private readonly deps: KubeRunDeps,
    private readonly context: ExecutionContext,
    /** True when recover() found this job's Kubernetes Job: follow it, never create one. */
    private readonly adopt: boolean,
  ) {
    this.name = kubeJobName(context.job.id)
  }

  private get namespace(): string {
    return this.deps.settings.namespace
  }

  async run(): Promise<ExecutionResult> {
    const {job, signal, log} = this.context
    const decided = new Promise<Decision>((resolve) => (this.resolveDecision = resolve))
    // Steps a previous agent already recorded are not started, finished or copied again.
    for (const step of job.steps) {
      if (step.state !== 'pending') this.started.add(step.index)
      if (step.state !== 'pending' && step.state !== 'running') this.finished.add(step.index)
    }
    const unsubscribe = this.deps.watcher.subscribe(job.id, () => this.evaluate())
    const onAbort = () => this.decide({kind: 'stopped', reason: stopReason(signal)})
    signal.addEventListener('abort', onAbort, {once: true})
    try {
      if (signal.aborted) {
        onAbort()
      } else if (this.adopt) {
        log.note(`re-adopted Kubernetes Job ${this.namespace}/${this.name}`)
        if (this.deps.watcher.jobOf(job.id)?.metadata?.deletionTimestamp) {
          // The previous agent was stopping it: finish that (wait for the pods) rather than follow a Job on its way out.
          this.decide({kind: 'failed', reason: 'agent-restart', exitCode: null, cleanup: true, message: `Kubernetes Job ${this.namespace}/${this.name} was being deleted when the previous agent stopped`})
        }
      } else {
        await this.create()
      }
      this.evaluate()
      return await this.finish(await decided)
    } finally {
      signal.removeEventListener('abort', onAbort)
      unsubscribe()
    }
  }

  private decide(decision: Decision): void {
    if (this.decision) return
    this.decision = decision
    this.resolveDecision(decision)
  }

  private async create(): Promise<void> {
    const {job, log} = this.context
    const {client, settings} = this.deps
    // Set before the POST: a restarted agent that finds a handle knows a Job may exist; without one, none does.
    this.context.setHandle(`${this.namespace}/${this.name}`)
    const manifest = buildJobManifest(job, {...settings.manifest, namespace: this.namespace, timeoutMs: parseDuration(job.spec.timeout, 'timeout')})
    for (let attempt = 0; ; attempt++) {
      try {
        await client.createJob(this.namespace, manifest)
        log.note(`created Kubernetes Job ${this.namespace}/${this.name}`)
        return
      } catch (error) {
        const danube = asDanubeError(error)
        if (danube.code === 'KUBE_NOT_FOUND' && attempt === 0) {
          // The namespace was deleted since the agent started: make it again, once.
          await client.ensureNamespace(this.namespace).catch(() => undefined)
          continue
        }
        if (danube.code === 'KUBE_CONFLICT') return this.adoptExisting()
        this.decide({
          kind: 'failed', reason: 'executor-error', exitCode: null,
          message: `cannot create Kubernetes Job ${this.namespace}/${this.name}: ${danube.message}${danube.hint ? ` (${danube.hint})` : ''}`,
          cleanup: UNCERTAIN_CODES.has(danube.code),
        })
        return
      }
    }
  }

  /** The create answered 409: an earlier attempt made the Job. Follow it if it is this job's, never make a second. */
  private async adoptExisting(): Promise<void> {
    const {job, log} = this.context
    let existing: V1Job | undefined = this.deps.watcher.jobOf(job.id)
    if (!existing) existing = await this.deps.client.getJob(this.namespace, this.name).catch(() => undefined)
    if (existing?.metadata?.labels?.[JOB_ID_LABEL] === job.id) {
      log.note(`Kubernetes Job ${this.namespace}/${this.name} already exists; adopted it`)
      return
    }
    this.decide({
      kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: false,
      message: `a Kubernetes Job named ${this.namespace}/${this.name} exists but is not labelled ${JOB_ID_LABEL}=${job.id}; not touching it`,
    })
  }

  /** Runs on every change to this job's Job or pods: records steps, wakes waiters, and decides the outcome once. */
  private evaluate(): void {
    const {watcher} = this.deps
    const id = this.context.job.id
    const kubeJob = watcher.jobOf(id)
    const pod = watcher.podsOf(id).at(-1)
    if (kubeJob) this.seenJob = true
    if (pod) {
      this.seenPod = true
      this.trackSteps(pod)
    }
    for (const wake of [...this.wakers]) wake()
    if (this.decision) return
    if (this.adopt && !this.seenJob) {
      return this.decide({kind: 'failed', reason: 'agent-restart', exitCode: null, cleanup: false, message: `Kubernetes Job ${this.namespace}/${this.name} no longer exists`})
    }
    // Kubernetes ≥ 1.31 marks a Job that ran out of activeDeadlineSeconds FailureTarget at once but Failed only after
    // its pods are terminated, and those pods show phase Failed (containers killed, 137) before they go
    // (https://kubernetes.io/docs/concepts/workloads/controllers/job/#termination-of-job-pods); ≤ 1.30 wrote Failed at
    // once. Either condition decides before the pod's phase does, or a deadline kill would read as a step's exit.
    const failing = failureCondition(kubeJob)
    if (failing?.reason === 'DeadlineExceeded') {
      return this.decide({kind: 'failed', reason: 'timeout', exitCode: null, cleanup: true, message: `Kubernetes ended Job ${this.name} at its activeDeadlineSeconds (${failing.message ?? 'DeadlineExceeded'})`})
    }
    if (pod) {
      const pull = imagePullProblem(pod)
      if (pull) return this.decide({kind: 'failed', reason: 'image-pull', exitCode: null, cleanup: true, message: pull})
      if (pod.status?.phase === 'Succeeded') return this.decide({kind: 'succeeded', pod})
      // A pod that was being deleted when it failed was killed, not ended by a step: the Job's condition, which the
      // controller writes before it deletes the pod, says why; until the Job's watch delivers it, wait.
      if (pod.status?.phase === 'Failed' && killedByDeletion(pod) && !failing) return
      if (pod.status?.phase === 'Failed') return this.decide(this.podFailure(pod))
      if (!this.copy && waitsForCopy(pod)) this.startCopy(pod)
    }
    const failed = kubeJob?.status?.conditions?.find((condition) => condition.type === 'Failed' && condition.status === 'True')
    if (failed && !pod) {
      return this.decide({kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: true, message: `Kubernetes Job ${this.name} failed: ${failed.reason ?? ''} ${failed.message ?? ''}`.trim()})
    }
    if (this.seenJob && !kubeJob) {
      return this.decide({kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: true, message: `Kubernetes Job ${this.namespace}/${this.name} was deleted outside danube`})
    }
    if (this.seenPod && !pod && kubeJob && !kubeJob.metadata?.deletionTimestamp) {
      return this.decide({kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: true, message: `the pod of Kubernetes Job ${this.name} was deleted outside danube`})
    }
  }

  private podFailure(pod: V1Pod): Decision {
    const podName = pod.metadata?.name ?? '?'
    if (pod.status?.reason === 'Evicted') {
      return {kind: 'failed', reason: 'evicted', exitCode: null, cleanup: false, message: `pod ${podName} was evicted: ${pod.status.message ?? 'no message'}`}
    }
    if (killedByDeletion(pod)) {
      // Not at the deadline (decided before) nor by danube (decided at the stop): someone deleted the pod, and the
      // kubelet's 137 is its kill, not a step's exit.
      return {kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: true, message: `the pod ${podName} of Kubernetes Job ${this.name} was deleted outside danube; its containers were killed`}
    }
    for (const status of sortedInitStatuses(pod)) {
      const terminated = status.state?.terminated
      if (!terminated || terminated.exitCode === 0) continue
      const index = stepIndexOf(status.name)!
      const why = terminated.reason && !['Error', 'Completed'].includes(terminated.reason) ? ` (${terminated.reason})` : ''
      return {kind: 'failed', reason: 'exit-code', exitCode: terminated.exitCode, cleanup: false,
        message: `step ${stepName(this.context.job.spec, index)} exited with ${terminated.exitCode}${why}`}
    }
    const final = pod.status?.containerStatuses?.find((status) => status.name === FINAL_CONTAINER)?.state?.terminated
    if (final && final.exitCode !== 0) {
      const why = final.message?.trim() ? `: ${final.message.trim().slice(0, 500)}` : ''
      return {kind: 'failed', reason: 'outputs-incomplete', exitCode: null, cleanup: false, message: `the outputs container exited with ${final.exitCode}${why}`}
    }
    return {kind: 'failed', reason: 'executor-error', exitCode: null, cleanup: false,
      message: `pod ${podName} failed${pod.status?.reason ? `: ${pod.status.reason}` : ''}${pod.status?.message ? `: ${pod.status.message}` : ''}`}
  }

  /** Records steps that started or ended, and queues the log copy of every container that ended. */
  private trackSteps(pod: V1Pod): void {
    // An evicted pod, or one killed by a deletion (a deadline, a cancel), reports its unfinished containers as ended
    // (137, ContainerStatusUnknown); those are not the steps' own exits.
    const killed = pod.status?.phase === 'Failed' && (Boolean(pod.status.reason) || killedByDeletion(pod))
    for (const status of sortedInitStatuses(pod)) {
      const index = stepIndexOf(status.name)!
      const {running, terminated} = status.state ?? {}
      if (killed && !this.started.has(index)) continue
      if ((running || terminated) && !this.started.has(index)) {
        this.started.add(index)
        this.context.stepStarted(index)
      }
      if (!terminated || this.finished.has(index)) continue
      if (killed) {
        this.queueLog(pod, status.name, index, null)
        continue
      }
      this.finished.add(index)
      this.context.stepFinished(index, terminated.exitCode === 0 ? 'succeeded' : 'failed', terminated.exitCode, imageDigest(status))
      this.queueLog(pod, status.name, index, terminated.exitCode)
    }
    const final = pod.status?.containerStatuses?.find((status) => status.name === FINAL_CONTAINER)?.state?.terminated
    // The outputs container only waits to be copied; its log is shown only when something went wrong with it.
    if (final && final.exitCode !== 0) this.queueLog(pod, FINAL_CONTAINER, undefined, final.exitCode)
  }

  /** Copies a container's log into the job log, in the order the containers ended. */
  private queueLog(pod: V1Pod, container: string, index: number | undefined, exitCode: number | null, suffix = ''): void {
    const podName = pod.metadata?.name
    if (!podName) return
    const key = `${podName}/${container}`
    if (this.copied.has(key)) return
    this.copied.add(key)
    const {log, job} = this.context
    const label = index === undefined ? 'outputs container' : `step ${index + 1}/${job.spec.steps.length} ${stepName(job.spec, index)}`
    const image = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((candidate) => candidate.name === container)?.image
    this.logChain = this.logChain.then(async () => {
      let text: string
      try {
        text = await this.deps.client.readPodLog(this.namespace, podName, container)
      } catch (error) {
        log.note(`${label}: log unavailable: ${asDanubeError(error).message}`)
        return
      }
      log.note(`${label}${image ? ` (image ${image})` : ''}${suffix}`)
      log.write(text)
      if (text.length > 0 && !text.endsWith('\n')) log.write('\n')
      if (exitCode !== null && exitCode !== 0) log.note(`${label} exited with ${exitCode}`)
    })
  }

  private async finish(decision: Decision): Promise<ExecutionResult> {
    const {log} = this.context
    if (decision.kind !== 'succeeded') {
      // Cancel, timeout, drain force-kill or failure: a copy in flight is cut off and discarded before anything else.
      this.copyController.abort()
      await this.copy
    }
    switch (decision.kind) {
      case 'stopped': {
        this.snapshotRunningLogs()
        await this.logChain
        const leftBehind = await this.deleteAndWait(this.stopGraceSeconds())
        return {state: decision.reason === 'timeout' ? 'failed' : 'cancelled', reason: decision.reason, exitCode: null, ...(leftBehind.length ? {leftBehind} : {})}
      }
      case 'failed': {
        log.note(decision.message)
        this.deps.logger.warn('Kubernetes job failed', {jobId: this.context.job.id, reason: decision.reason, detail: decision.message})
        let leftBehind: string[] = []
        if (decision.cleanup) {
          this.snapshotRunningLogs()
          await this.logChain
          leftBehind = await this.deleteAndWait(this.deps.settings.gracePeriodSeconds)
        }
        await this.logChain
        return {state: 'failed', reason: decision.reason, exitCode: decision.exitCode, ...(leftBehind.length ? {leftBehind} : {})}
      }
      case 'succeeded': {
        await this.copy
        await this.logChain
        if (!this.outputs) {
          const message = 'the pod ended before its outputs were copied (a previous agent may have released it just before it stopped); outputs not copied'
          log.note(message)
          this.deps.logger.warn('Kubernetes job failed', {jobId: this.context.job.id, reason: 'outputs-incomplete', detail: message})
          return {state: 'failed', reason: 'outputs-incomplete', exitCode: null}
        }
        let leftBehind: string[] = []
        if (decision.released === false) leftBehind = await this.deleteAndWait(this.deps.settings.gracePeriodSeconds)
        return {state: 'succeeded', reason: null, exitCode: 0, outputs: this.outputs, ...(leftBehind.length ? {leftBehind} : {})}
      }
    }
  }

  /**
   * Copies /outputs from the waiting final container, then releases it (it exits 0 and the pod succeeds). A failed
   * copy fails the job outputs-incomplete with its cause and deletes the Job, so the container does not wait on.
   */
  private startCopy(pod: V1Pod): void {
    const {log, artifactsDir} = this.context
    const {client, settings} = this.deps
    const podName = pod.metadata?.name ?? ''
    const signal = this.copyController.signal
    this.copy = (async () => {
      log.note(`copying /outputs from pod ${this.namespace}/${podName} (pods/exec)`)
      let result: CopyResult
      try {
        result = await copyOutputs({client, namespace: this.namespace, pod: podName, artifactsDir, log, maxBytes: settings.outputsMaxBytes, signal})
      } catch (error) {
        // The state directory itself failed (permissions, a full disk at commit): still one job's problem, reported.
        result = {ok: false, problem: `cannot write the outputs into ${artifactsDir}: ${(error as Error).message}`}
      }
      if (!result.ok) {
        if (result.aborted) {
          log.note('outputs not copied: the copy was stopped; nothing was kept')
        } else {
          const code = result.error ? `${result.error.code}: ` : ''
          this.decide({kind: 'failed', reason: 'outputs-incomplete', exitCode: null, cleanup: true, message: `outputs not copied: ${code}${result.problem}`})
        }
        return result
      }
      this.outputs = result.outputs
      log.note(`collected ${result.outputs.files.length} artifact(s) (${result.bytes} bytes of tar, size and sha256 checked against the container's)`)
      try {
        const sink = new PassThrough()
        sink.resume()
        const released = await client.exec(this.namespace, podName, FINAL_CONTAINER, RELEASE_COMMAND, {stdout: sink, stderr: sink, signal})
        if (released.exitCode !== 0) throw new Error(released.status.message ?? `exit code ${released.exitCode}`)
      } catch (error) {
        if (signal.aborted) return result
        log.note(`cannot release the outputs container of pod ${this.namespace}/${podName}: ${(error as Error).message}; deleting the Job instead`)
        this.decide({kind: 'succeeded', released: false})
      }
      return result
    })()
  }

  /** Before a delete: copy what running containers wrote so far, since their logs go with the pod. */
  private snapshotRunningLogs(): void {
    const pod = this.deps.watcher.podsOf(this.context.job.id).at(-1)
    if (!pod) return
    for (const status of sortedInitStatuses(pod)) {
      if (status.state?.running) this.queueLog(pod, status.name, stepIndexOf(status.name), null, ' (output until it was stopped)')
    }
  }

  /** The grace period of a stop: the StopRequest's own (a drain's --grace-period), rounded up to seconds; else the configured one. */
  private stopGraceSeconds(): number {
    const configuredMs = this.deps.settings.gracePeriodSeconds * 1000
    return Math.ceil(stopGraceMs(this.context.signal, configuredMs) / 1000)
  }

  /**
   * Deletes the Job (Foreground, with graceSeconds) and waits until its pods are gone, retrying the delete while the API
   * fails; gives up at kubernetes.cancelCap (longer by however much graceSeconds exceeds kubernetes.gracePeriodSeconds,
   * so that a long drain grace period is never cut short), naming what is left. Returns what is left behind: the pods
   * still terminating, or the Job when it could not be deleted.
   */
  private async deleteAndWait(graceSeconds: number): Promise<string[]> {
    const {client, settings, logger} = this.deps
    const {log, job} = this.context
    const capMs = settings.cancelCapMs + Math.max(0, graceSeconds - settings.gracePeriodSeconds) * 1000
    const deadline = Date.now() + capMs
    const cap = formatDuration(capMs)
    await this.deletePodsWithGrace(graceSeconds)
    let deleted = false
    let complained = false
    while (!deleted && Date.now() < deadline) {
      try {
        await client.deleteJob(this.namespace, this.name, {propagationPolicy: 'Foreground', gracePeriodSeconds: graceSeconds})
        deleted = true
      } catch (error) {
        const danube = asDanubeError(error)
        if (danube.code === 'KUBE_NOT_FOUND') {
          deleted = true
          break
        }
        if (!complained) log.note(`cannot delete Kubernetes Job ${this.namespace}/${this.name} yet: ${danube.message}; retrying until ${cap} have passed`)
        complained = true
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())))
      }
    }
    if (!deleted) {
      log.note(`gave up deleting Kubernetes Job ${this.namespace}/${this.name} after ${cap}; its activeDeadlineSeconds and ttlSecondsAfterFinished end it`)
      logger.warn('Kubernetes Job not deleted', {jobId: job.id, namespace: this.namespace, name: this.name})
      return [`${this.namespace}/${this.name} (Job, not deleted)`]
    }
    const gone = await this.waitUntil(() => this.deps.watcher.podsOf(job.id).length === 0, deadline)
    if (gone) {
      log.note(`deleted Kubernetes Job ${this.namespace}/${this.name}; its pods are gone`)
      return []
    }
    const stuck = this.deps.watcher.podsOf(job.id).map((pod) => pod.metadata?.name ?? '?')
    log.note(`pods still terminating after ${cap}: ${stuck.join(', ')} (namespace ${this.namespace}); reporting the job anyway`)
    logger.warn('Kubernetes pods stuck terminating', {jobId: job.id, namespace: this.namespace, pods: stuck})
    return stuck.map((name) => `${this.namespace}/${name}`)
  }

  /**
   * Deletes each pod whose own terminationGracePeriodSeconds differs from graceSeconds with that grace period, before the
   * Job is deleted. A Foreground delete's gracePeriodSeconds applies to the Job only: the garbage collector then deletes
   * the dependents without one, so each pod would get its spec's terminationGracePeriodSeconds
   * (https://kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion); a pod DELETE's own
   * gracePeriodSeconds overrides the spec's (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
   * 0 becomes 1, as kubectl does without --force: a pod deleted with 0 leaves the API at once, before the kubelet has
   * stopped its containers (force deletion). Best effort: if a pod cannot be deleted (no RBAC `delete` on pods), it keeps
   * its own grace period and the Job delete still ends it.
   */
  private async deletePodsWithGrace(graceSeconds: number): Promise<void> {
    const podGrace = Math.max(1, graceSeconds)
    const pods = this.deps.watcher.podsOf(this.context.job.id)
      .filter((pod) => !pod.metadata?.deletionTimestamp && pod.metadata?.name && (pod.spec?.terminationGracePeriodSeconds ?? 30) !== podGrace)
    for (const pod of pods) {
      const podName = pod.metadata!.name!
      try {
        await this.deps.client.deletePod(this.namespace, podName, {gracePeriodSeconds: podGrace})
      } catch (error) {
        const danube = asDanubeError(error)
        if (danube.code === 'KUBE_NOT_FOUND') continue
        this.context.log.note(`cannot delete pod ${this.namespace}/${podName} with a ${podGrace}s grace period: ${danube.message}; it gets its own ${pod.spec?.terminationGracePeriodSeconds ?? 30}s`)
      }
    }
  }

  /** Resolves true once predicate holds (checked on every watch change), false at the deadline. */
  private waitUntil(predicate: () => boolean, deadline: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer)
        this.wakers.delete(wake)
        resolve(value)
      }
      const wake = () => {
        if (predicate()) done(true)
      }
      const timer = setTimeout(() => done(predicate()), Math.max(0, deadline - Date.now()))
      this.wakers.add(wake)
    })
  }
}

/** True when every step succeeded and the final container runs: it is waiting for its outputs to be copied. */
function waitsForCopy(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false
  const final = pod.status?.containerStatuses?.find((status) => status.name === FINAL_CONTAINER)
  if (!final?.state?.running) return false
  return sortedInitStatuses(pod).every((status) => status.state?.terminated?.exitCode === 0)
}

/** The Job's FailureTarget (≥ 1.31, written first) or Failed condition, if it is failing. */
function failureCondition(job: V1Job | undefined): V1JobCondition | undefined {
  const conditions = job?.status?.conditions ?? []
  return conditions.find((condition) => condition.type === 'FailureTarget' && condition.status === 'True') ??
    conditions.find((condition) => condition.type === 'Failed' && condition.status === 'True')
}

/** The pod was already being deleted when it reached phase Failed (evictions carry their own status.reason). */
function killedByDeletion(pod: V1Pod): boolean {
  return Boolean(pod.metadata?.deletionTimestamp) && !pod.status?.reason
}

function sortedInitStatuses(pod: V1Pod): V1ContainerStatus[] {
  return (pod.status?.initContainerStatuses ?? [])
    .filter((status) => stepIndexOf(status.name) !== undefined)
    .sort((a, b) => stepIndexOf(a.name)! - stepIndexOf(b.name)!)
}

/** The message of a container that waits for an image that cannot be pulled, or undefined. */
function imagePullProblem(pod: V1Pod): string | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
  for (const status of statuses) {
    const waiting = status.state?.waiting
    if (!waiting?.reason || !IMAGE_PULL_REASONS.has(waiting.reason)) continue
    const image = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((container) => container.name === status.name)?.image ?? status.image
    return `container ${status.name}: image ${image} cannot be pulled: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`
  }
  return undefined
}

/** The resolved image of a container (repository@sha256:…) as the runtime reports it, without a runtime prefix. */
export function imageDigest(status: V1ContainerStatus): string | null {
  const id = status.imageID?.replace(/^[a-z-]+:\/\//, '')
  return id && /sha256:[0-9a-f]{64}$/.test(id) ? id : null
}

function asDanubeError(error: unknown): DanubeError {
  return error instanceof DanubeError ? error : new DanubeError('KUBE_ERROR', error instanceof Error ? error.message : String(error))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
