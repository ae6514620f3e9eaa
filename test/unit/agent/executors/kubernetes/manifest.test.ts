// The Job manifest of the kubernetes executor, field by field: what the issue requires of every Job Danube creates.

import {describe, expect, it} from 'vitest'

import {buildJobManifest, FINAL_CONTAINER, finalContainerScript, kubeJobName, stepIndexOf} from '../../../../../src/agent/executors/kubernetes/manifest.js'
import type {Job} from '../../../../../src/lib/jobs/model.js'

const job: Job = {
  id: '0b9f7c1e-4a5d-4c3e-9f00-1234567890ab', name: 'build', state: 'running', reason: null, executor: 'kubernetes', executorHandle: null, exitCode: null,
  createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, updatedAt: '2026-01-01T00:00:00.000Z',
  spec: {
    name: 'build', timeout: '90s', env: {GREETING: 'hi', DANUBE_OUTPUT_DIR: '/elsewhere'},
    steps: [{name: 'fetch', run: 'echo fetch', image: 'alpine:3.20'}, {run: 'make > $DANUBE_OUTPUT_DIR/out.txt'}],
  },
  steps: [],
}
const options = {namespace: 'danube-jobs', defaultImage: 'busybox:1.36', outputsImage: 'busybox:1.36-outputs', gracePeriodSeconds: 7, ttlSecondsAfterFinished: 600, timeoutMs: 90_500, outputsWaitMs: 120_500}
const manifest = buildJobManifest(job, options)
const pod = manifest.spec!.template.spec!
const containers = [...(pod.initContainers ?? []), ...pod.containers]

describe('buildJobManifest', () => {
  it('names the Job danube-<id> in the job namespace and labels the Job and its pods', () => {
    expect(manifest.metadata?.name).toBe(`danube-${job.id}`)
    expect(kubeJobName(job.id)).toBe(manifest.metadata?.name)
    expect(manifest.metadata?.name!.length).toBeLessThanOrEqual(63)
    expect(manifest.metadata?.namespace).toBe('danube-jobs')
    const labels = {'app.kubernetes.io/managed-by': 'danube', 'danube.dev/job-id': job.id}
    expect(manifest.metadata?.labels).toEqual(labels)
    expect(manifest.spec?.template.metadata?.labels).toEqual(labels)
  })

  it('runs each step as an init container in order with sh -c, the step image or the default, then the outputs container', () => {
    expect(pod.initContainers?.map((c) => [c.name, c.image, c.command])).toEqual([
      ['step-1', 'alpine:3.20', ['sh', '-c', 'echo fetch']],
      ['step-2', 'busybox:1.36', ['sh', '-c', 'make > $DANUBE_OUTPUT_DIR/out.txt']],
    ])
    expect(pod.containers.map((c) => [c.name, c.image])).toEqual([[FINAL_CONTAINER, 'busybox:1.36-outputs']])
    expect(pod.containers[0]!.command).toEqual(['sh', '-c', finalContainerScript(121)])
    expect(stepIndexOf('step-2')).toBe(1)
    expect(stepIndexOf(FINAL_CONTAINER)).toBeUndefined()
  })

  it('sets backoffLimit 0, activeDeadlineSeconds from the timeout, ttlSecondsAfterFinished and restartPolicy Never', () => {
    expect(manifest.spec).toMatchObject({backoffLimit: 0, activeDeadlineSeconds: 91, ttlSecondsAfterFinished: 600})
    expect(pod.restartPolicy).toBe('Never')
  })

  it('sets terminationGracePeriodSeconds, because the garbage collector deletes pods with their own grace period', () => {
    expect(pod.terminationGracePeriodSeconds).toBe(7)
  })

  it('mounts no service account token, no host paths and no host namespaces', () => {
    expect(pod.automountServiceAccountToken).toBe(false)
    expect(pod.volumes?.every((volume) => Object.keys(volume).sort().join() === 'emptyDir,name')).toBe(true)
    expect(pod).toMatchObject({hostNetwork: false, hostPID: false, hostIPC: false})
    expect(JSON.stringify(manifest)).not.toMatch(/hostPath|secret/i)
  })

  it('runs no container privileged and none may escalate privileges', () => {
    for (const container of containers) {
      expect(container.securityContext).toMatchObject({privileged: false, allowPrivilegeEscalation: false})
    }
  })

  it('shares the workspace and outputs emptyDirs and sets the DANUBE_* variables, which the spec cannot override', () => {
    for (const step of pod.initContainers ?? []) {
      expect(step.workingDir).toBe('/workspace')
      expect(step.volumeMounts).toEqual([{name: 'workspace', mountPath: '/workspace'}, {name: 'outputs', mountPath: '/outputs'}])
      expect(step.env).toEqual([
        {name: 'GREETING', value: 'hi'},
        {name: 'DANUBE_JOB_ID', value: job.id},
        {name: 'DANUBE_WORKSPACE', value: '/workspace'},
        {name: 'DANUBE_OUTPUT_DIR', value: '/outputs'},
      ])
    }
    expect(pod.containers[0]!.volumeMounts).toContainEqual({name: 'outputs', mountPath: '/outputs', readOnly: true})
  })
})
