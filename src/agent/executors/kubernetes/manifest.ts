// Owns the shape of the batch/v1 Job that runs one Danube job: its deterministic name, its labels, one init container
// per step, the final container that streams /outputs back, and the safety settings every pod gets. Pure: no client,
// no I/O, so it is unit-tested field by field and imported without loading @kubernetes/client-node.

import type {V1Container, V1EnvVar, V1Job} from '@kubernetes/client-node'

import type {Job} from '../../../lib/jobs/model.js'

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
export const MANAGED_BY = 'danube'
export const JOB_ID_LABEL = 'danube.dev/job-id'
/** Selects every Kubernetes object Danube made, whichever agent made it. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`

export const WORKSPACE_DIR = '/workspace'
export const OUTPUT_DIR = '/outputs'
/** Scratch space of the final container only: the outputs tar is written here before it is streamed. */
const SCRATCH_DIR = '/danube'
export const FINAL_CONTAINER = 'danube-outputs'

/** Marker lines around the base64 tar in the final container's log (only that container writes to its log). */
export const OUTPUTS_BEGIN = 'danube-outputs-begin'
export const OUTPUTS_END = 'danube-outputs-end'

export interface ManifestOptions {
  namespace: string
  defaultImage: string
  outputsImage: string
  gracePeriodSeconds: number
  ttlSecondsAfterFinished: number
  /** The job's timeout; becomes activeDeadlineSeconds so the cluster ends the Job even if the agent is gone. */
  timeoutMs: number
  /** Per-step variables (TRACEPARENT, TRACESTATE) added after Danube's own; see ExecutionContext.stepEnv. */
  stepEnv?: (index: number) => Record<string, string>
}

/** The Kubernetes Job's name: deterministic, so that a create repeated after a crash answers 409 instead of running twice. */
export function kubeJobName(jobId: string): string {
  return `danube-${jobId}`.toLowerCase()
}

/** Container name of step `index` (0-based): step names are free text, container names must be DNS labels. */
export function stepContainerName(index: number): string {
  return `step-${index + 1}`
}

/** 0-based step index of a container name, or undefined for the final container and anything else. */
export function stepIndexOf(container: string): number | undefined {
  const match = /^step-(\d+)$/.exec(container)
  return match ? Number(match[1]) - 1 : undefined
}

export function jobLabels(jobId: string): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY, [JOB_ID_LABEL]: jobId}
}

/**
 * The final container's script. It runs only after every step succeeded (init containers run in order and a failed one
 * stops the pod), so its exit marks completion. It tars /outputs to a file first, so that the size and checksum on the
 * begin line let the agent detect a log that the kubelet truncated or rotated.
 */
export const OUTPUTS_SCRIPT = [
  'set -e',
  `tar -C ${OUTPUT_DIR} -cf ${SCRATCH_DIR}/outputs.tar .`,
  `echo "${OUTPUTS_BEGIN} size=$(wc -c < ${SCRATCH_DIR}/outputs.tar | tr -d ' ') sha256=$(sha256sum ${SCRATCH_DIR}/outputs.tar | cut -d' ' -f1)"`,
  `base64 ${SCRATCH_DIR}/outputs.tar`,
  `echo "${OUTPUTS_END}"`,
].join('\n')

export function buildJobManifest(job: Job, options: ManifestOptions): V1Job {
  const labels = jobLabels(job.id)
  const reserved = new Set(['DANUBE_JOB_ID', 'DANUBE_WORKSPACE', 'DANUBE_OUTPUT_DIR'])
  const env: V1EnvVar[] = [
    // The spec's variables cannot shadow Danube's own: a step must always find its workspace and output directory.
    ...Object.entries(job.spec.env ?? {}).filter(([name]) => !reserved.has(name)).map(([name, value]) => ({name, value})),
    {name: 'DANUBE_JOB_ID', value: job.id},
    {name: 'DANUBE_WORKSPACE', value: WORKSPACE_DIR},
    {name: 'DANUBE_OUTPUT_DIR', value: OUTPUT_DIR},
  ]
  const steps: V1Container[] = job.spec.steps.map((step, index) => ({
    name: stepContainerName(index),
    image: step.image ?? options.defaultImage,
    command: ['sh', '-c', step.run],
    workingDir: WORKSPACE_DIR,
    env: [...env, ...Object.entries(options.stepEnv?.(index) ?? {}).map(([name, value]) => ({name, value}))],
    volumeMounts: [{name: 'workspace', mountPath: WORKSPACE_DIR}, {name: 'outputs', mountPath: OUTPUT_DIR}],
    securityContext: {privileged: false, allowPrivilegeEscalation: false},
  }))
  const final: V1Container = {
    name: FINAL_CONTAINER,
    image: options.outputsImage,
    command: ['sh', '-c', OUTPUTS_SCRIPT],
    volumeMounts: [{name: 'outputs', mountPath: OUTPUT_DIR, readOnly: true}, {name: 'scratch', mountPath: SCRATCH_DIR}],
    securityContext: {privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true},
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {name: kubeJobName(job.id), namespace: options.namespace, labels, annotations: {'danube.dev/job-name': job.name}},
    spec: {
      // One attempt: a Danube job that fails is reported, not silently retried with side effects repeated.
      backoffLimit: 0,
      activeDeadlineSeconds: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      template: {
        metadata: {labels},
        spec: {
          restartPolicy: 'Never',
          // The garbage collector deletes a Job's pods with the pod's own grace period, not the DELETE's.
          terminationGracePeriodSeconds: options.gracePeriodSeconds,
          // Job pods get no Kubernetes credentials, no service links and no host namespaces.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          hostNetwork: false,
          hostPID: false,
          hostIPC: false,
          securityContext: {seccompProfile: {type: 'RuntimeDefault'}},
          initContainers: steps,
          containers: [final],
          volumes: [
            {name: 'workspace', emptyDir: {}},
            {name: 'outputs', emptyDir: {}},
            {name: 'scratch', emptyDir: {}},
          ],
        },
      },
    },
  }
}
