// Owns the record of orphaned Kubernetes Jobs: Jobs labelled app.kubernetes.io/managed-by=danube whose
// danube.dev/job-id has no row in this database. The Kubernetes executor replaces the set whenever it changes;
// `danube status` reads it. Danube never deletes an orphan: it may belong to another agent or hold evidence.

import {type Clock, isoNow} from '../clock.js'
import type {Store} from './index.js'

export interface KubeOrphan {
  namespace: string
  name: string
  /** The danube.dev/job-id label, or null when it is missing. */
  jobId: string | null
  /** running, succeeded or failed, from the Job's status. */
  state: string
  createdAt: string | null
  /** When the agent last saw it (the list goes stale while the agent is down). */
  seenAt: string
}

interface Row {
  namespace: string
  name: string
  job_id: string | null
  state: string
  created_at: string | null
  seen_at: string
}

export class KubeOrphanStore {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  replace(orphans: ReadonlyArray<Omit<KubeOrphan, 'seenAt'>>): void {
    const now = isoNow(this.clock)
    this.store.immediate(() => {
      this.store.run('DELETE FROM kube_orphans')
      for (const orphan of orphans) {
        this.store.run('INSERT INTO kube_orphans (namespace, name, job_id, state, created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)', [
          orphan.namespace, orphan.name, orphan.jobId, orphan.state, orphan.createdAt, now,
        ])
      }
    })
  }

  list(): KubeOrphan[] {
    return this.store.all<Row>('SELECT * FROM kube_orphans ORDER BY namespace, name').map((row) => ({
      namespace: row.namespace,
      name: row.name,
      jobId: row.job_id,
      state: row.state,
      createdAt: row.created_at,
      seenAt: row.seen_at,
    }))
  }
}
