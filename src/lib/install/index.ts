// Owns `danube install` as one call: the plan of steps (./steps.ts) run against the machine (./host.ts),
// with the Kubernetes client made lazily once K3s has written its kubeconfig.

import {setTimeout as sleep} from 'node:timers/promises'

import type {KubeClient} from '../kube/index.js'
import {InstallHost} from './host.js'
import {type InstallOptions, PATHS} from './options.js'
import {type PlanListener, type PlanResult, runPlan} from './plan.js'
import type {PreflightResult} from './preflight.js'
import {type InstallContext, INSTALL_STEPS} from './steps.js'

export {PINNED, type InstallOptions} from './options.js'
export {PREFLIGHT_IDS} from './preflight.js'
export type {PlanListener, PlanResult, StepOutcome, StepReport} from './plan.js'

export interface InstallResult extends PlanResult {
  root: string
  preflight: PreflightResult[]
}

export async function runInstall(options: InstallOptions, listener?: PlanListener): Promise<InstallResult> {
  const host = new InstallHost(options.root)
  let client: Promise<KubeClient> | undefined
  const context: InstallContext = {
    host, options, changed: new Set(),
    kube: () => {
      client ??= import('../kube/index.js').then(({createKubeClient}) => createKubeClient({kubeconfig: host.path(PATHS.k3sKubeconfig), requestTimeoutMs: 5000}))
      client.catch(() => (client = undefined))
      return client
    },
    sleep: (ms) => sleep(ms),
  }
  const result = await runPlan(INSTALL_STEPS, context, {
    dryRun: options.dryRun,
    listener: {
      stepStarted: (step) => listener?.stepStarted(step),
      stepFinished: (report) => {
        if (report.outcome === 'changed') context.changed.add(report.id)
        listener?.stepFinished(report)
      },
    },
  })
  return {...result, root: options.root, preflight: context.preflight ?? []}
}
