// Owns the shape of the batch/v1 Job that runs one Danube job: its deterministic name, its labels, one init container
// per step, the final container that holds /outputs until the agent has copied them, and the safety settings every
// pod gets; and the commands the agent execs in that container (outputs.ts runs them). Pure: no client,
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
/** Scratch space of the final container only (its root filesystem is read-only): the copy's fifos, the release marker. */
export const SCRATCH_DIR = '/danube'
export const FINAL_CONTAINER = 'danube-outputs'
/** The file whose existence lets the final container exit 0: the agent creates it once the outputs are safely home. */
export const RELEASE_FILE = `${SCRATCH_DIR}/released`
/** Exit status of a final container that gave up waiting for the agent (kubernetes.outputsWait). */
export const WAIT_EXPIRED_EXIT = 3

/** The line the copy command prints last on stderr: the tar's exit status, size and SHA-256 as the container saw them. */
export const COPY_SUMMARY = 'danube-outputs'

export interface ManifestOptions {
  namespace: string
  defaultImage: string
  outputsImage: string
  gracePeriodSeconds: number
  ttlSecondsAfterFinished: number
  /** The job's timeout; becomes activeDeadlineSeconds so the cluster ends the Job even if the agent is gone. */
  timeoutMs: number
  /** kubernetes.outputsWait: how long the final container waits to be copied and released (default 10 minutes). */
  outputsWaitMs?: number
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
 * stops the pod), so a running final container means the outputs are complete. It then only waits: the agent copies
 * /outputs through pods/exec (COPY_COMMAND) and, once they are safely home, creates RELEASE_FILE; the container exits
 * 0 and the pod succeeds. An agent that never comes (gone, or down longer than kubernetes.outputsWait) cannot keep the
 * pod: the container exits WAIT_EXPIRED_EXIT with a termination message saying so.
 */
export function finalContainerScript(waitSeconds: number): string {
  return [
    'waited=0',
    `while [ ! -e ${RELEASE_FILE} ]; do`,
    `  if [ "$waited" -ge ${waitSeconds} ]; then`,
    `    echo "the agent did not copy /outputs within ${waitSeconds}s (kubernetes.outputsWait)" | tee /dev/termination-log >&2`,
    `    exit ${WAIT_EXPIRED_EXIT}`,
    '  fi',
    '  sleep 1',
    '  waited=$((waited + 1))',
    'done',
  ].join('\n')
}

/**
 * What the agent execs in the final container: `tar -C /outputs -cf - .` on stdout, and on stderr (after tar's own
 * complaints) one summary line with tar's exit status and the size and SHA-256 of exactly the bytes written to
 * stdout, counted by `tee` into two fifos inside the container, so the agent can prove nothing was lost or changed on
 * the way. Each run uses its own temp directory, so a copy started again after an agent restart does not meet the
 * remains of the interrupted one. POSIX sh and busybox only.
 */
export const COPY_SCRIPT = [
  `d=$(mktemp -d ${SCRATCH_DIR}/copy.XXXXXX) || exit 125`,
  'trap \'rm -rf "$d"\' EXIT',
  'mkfifo "$d/sum" "$d/size" || exit 125',
  'sha256sum < "$d/sum" > "$d/sum.out" &',
  'wc -c < "$d/size" > "$d/size.out" &',
  `{ tar -C ${OUTPUT_DIR} -cf - . ; echo $? > "$d/tar.status"; } | tee "$d/sum" "$d/size"`,
  'teed=$?',
  'wait',
  'status=$(cat "$d/tar.status" 2>/dev/null || echo 125)',
  `echo "${COPY_SUMMARY} tar-exit=$status size=$(tr -d ' ' < "$d/size.out") sha256=$(cut -d' ' -f1 < "$d/sum.out")" >&2`,
  '[ "$status" -ne 0 ] && exit "$status"',
  'exit "$teed"',
].join('\n')

export const COPY_COMMAND = ['sh', '-c', COPY_SCRIPT]
export const RELEASE_COMMAND = ['touch', RELEASE_FILE]

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
    env,
    volumeMounts: [{name: 'workspace', mountPath: WORKSPACE_DIR}, {name: 'outputs', mountPath: OUTPUT_DIR}],
    securityContext: {privileged: false, allowPrivilegeEscalation: false},
  }))
  const final: V1Container = {
    name: FINAL_CONTAINER,
    image: options.outputsImage,
    command: ['sh', '-c', finalContainerScript(Math.max(1, Math.ceil((options.outputsWaitMs ?? 600_000) / 1000)))],
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
