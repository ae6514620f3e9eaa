// Owns install/manifests/: reading the YAML documents (with the few values an install fills in), applying
// them server-side through the project's Kubernetes client, and telling whether the cluster already has them.

import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'


import type {KubeClient, KubeObject} from '../kube/index.js'
import {yaml} from '../yaml.js'
import {FIELD_MANAGER} from './options.js'

/** Values substituted for `{{name}}` in the manifests. */
export type ManifestValues = Record<string, string>

export function loadManifests(dir: string, files: readonly string[], values: ManifestValues): KubeObject[] {
  const objects: KubeObject[] = []
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8').replaceAll(/\{\{(\w+)\}\}/g, (whole, name: string) => {
      if (!(name in values)) throw new Error(`BUG: ${file} uses {{${name}}}, which the installer does not fill in`)
      return values[name]!
    })
    for (const document of yaml().parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new Error(`BUG: ${file} is not valid YAML: ${document.errors[0]!.message}`)
      const object = document.toJS() as KubeObject | null
      if (object) objects.push(object)
    }
  }
  return objects
}

export function manifestFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort()
}

/** Whether every field the manifest sets has that value in the live object (the server adds the rest). */
export function isSubset(wanted: unknown, live: unknown): boolean {
  if (Array.isArray(wanted)) return Array.isArray(live) && wanted.length === live.length && wanted.every((item, i) => isSubset(item, live[i]))
  if (wanted !== null && typeof wanted === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false
    return Object.entries(wanted).every(([key, value]) => isSubset(value, (live as Record<string, unknown>)[key]))
  }
  return wanted === live
}

const describe = (object: KubeObject) => `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`

/** The objects whose live state differs from the manifest (or that do not exist yet). */
export async function driftedObjects(client: KubeClient, objects: readonly KubeObject[]): Promise<string[]> {
  const drifted: string[] = []
  for (const object of objects) {
    const live = await client.getObject({apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace})
    if (!live || !isSubset(stripSecretData(object), stripSecretData(live))) drifted.push(describe(object))
  }
  return drifted
}

/** stringData is write-only (the server folds it into data), so a Secret is compared by its data. */
function stripSecretData(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret' || !('stringData' in object)) return object
  const {stringData, ...rest} = object as KubeObject & {stringData: Record<string, string>}
  const data = Object.fromEntries(Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value).toString('base64')]))
  return {...rest, data: {...(rest.data as Record<string, string> | undefined), ...data}}
}

/** Applies in order (namespaces first); force: the installer owns these fields, as `kubectl apply --server-side --force-conflicts`. */
export async function applyObjects(client: KubeClient, objects: readonly KubeObject[]): Promise<string[]> {
  const applied: string[] = []
  for (const object of objects) {
    await client.applyObject(object, {fieldManager: FIELD_MANAGER, force: true})
    applied.push(describe(object))
  }
  return applied
}
