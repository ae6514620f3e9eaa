// Owns the provenance document: the in-toto Statement v1 carrying a SLSA Provenance v1 predicate, as Danube
// writes it (docs/buildtypes/job-v1.md documents every field). There is no in-toto package on npm, so the types
// are ours; the values are plain JSON built from typed objects.

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
export const PREDICATE_TYPE = 'https://slsa.dev/provenance/v1'
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json'
/** Danube's build type; versioned: a change in meaning of any parameter gets a new version. */
export const BUILD_TYPE = 'https://danube.dev/buildtypes/job/v1'
/** Top-level names in artifacts/<id>/ that Danube writes itself: never a job output, never a subject. */
export const ENVELOPE_FILE = 'provenance.intoto.jsonl'
export const BUNDLE_FILE = 'provenance.sigstore.json'
export const RESERVED_PROVENANCE_NAMES: readonly string[] = [ENVELOPE_FILE, BUNDLE_FILE]
/** How a secret env value appears in externalParameters. */
export const REDACTED_VALUE = '[REDACTED]'

export type DigestSet = Record<string, string>

export interface ResourceDescriptor {
  uri?: string
  name?: string
  digest?: DigestSet
  mediaType?: string
  annotations?: Record<string, unknown>
}

export interface Subject {
  name: string
  digest: {sha256: string}
}

export interface JobParameters {
  name: string
  steps: {name: string; image?: string; run: string}[]
  env: Record<string, string>
  timeout: string
}

export interface ExternalParameters {
  job: JobParameters
  source?: {uri: string; ref?: string}
}

export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string
    externalParameters: ExternalParameters
    internalParameters: Record<string, unknown>
    resolvedDependencies: ResourceDescriptor[]
  }
  runDetails: {
    builder: {id: string; version: Record<string, string>}
    metadata: {invocationId: string; startedOn: string; finishedOn: string}
    byproducts: ResourceDescriptor[]
  }
}

export interface Statement {
  _type: typeof STATEMENT_TYPE
  subject: Subject[]
  predicateType: typeof PREDICATE_TYPE
  predicate: ProvenancePredicate
}

/** A job spec as provenance needs it (a structural subset of JobSpec, so lib/provenance does not depend on zod). */
export interface SpecForProvenance {
  name: string
  steps: {name?: string; image?: string; run: string}[]
  env?: Record<string, string>
  secrets?: string[]
  timeout: string
  source?: {uri: string; ref?: string; commit?: string}
  inputs?: {uri: string; digest: string}[]
}

export interface StepRecord {
  name: string
  image?: string
  exitCode: number | null
  startedAt: string | null
  finishedAt: string | null
  /** Kubernetes: the digest the cluster resolved for the step's image (the pod's imageID), `sha256:<hex>`. */
  imageDigest: string | null
}

export interface StatementInput {
  jobId: string
  spec: SpecForProvenance
  /** Outputs as the agent collected and hashed them (POSIX relative paths). */
  files: readonly {path: string; sha256: string}[]
  steps: readonly StepRecord[]
  builderId: string
  builderVersion: Record<string, string>
  internalParameters: Record<string, unknown>
  startedOn: string
  finishedOn: string
  log?: {name: string; sha256: string}
  /** The image an executor used for steps that name none (Kubernetes: kubernetes.defaultImage). */
  defaultImage?: string
}

/** The Statement for one job; subjects sorted by name (code-unit order, the order every verifier can reproduce). */
export function buildStatement(input: StatementInput): Statement {
  const {spec} = input
  const secrets = new Set(spec.secrets ?? [])
  const env = Object.fromEntries(Object.entries(spec.env ?? {}).map(([key, value]) => [key, secrets.has(key) ? REDACTED_VALUE : value]))
  const subject = input.files
    .filter((file) => !RESERVED_PROVENANCE_NAMES.includes(file.path))
    .map((file): Subject => ({name: file.path, digest: {sha256: file.sha256}}))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const externalParameters: ExternalParameters = {
    job: {
      name: spec.name,
      steps: spec.steps.map((step, index) => ({name: step.name ?? `step-${index + 1}`, ...(step.image ? {image: step.image} : {}), run: step.run})),
      env,
      timeout: spec.timeout,
    },
    ...(spec.source ? {source: {uri: spec.source.uri, ...(spec.source.ref ? {ref: spec.source.ref} : {})}} : {}),
  }
  const resolvedDependencies: ResourceDescriptor[] = []
  if (spec.source?.commit) {
    resolvedDependencies.push({uri: `git+${spec.source.uri}${spec.source.ref ? `@${spec.source.ref}` : ''}`, digest: {gitCommit: spec.source.commit}})
  }
  for (const declared of spec.inputs ?? []) resolvedDependencies.push({uri: declared.uri, digest: parseDigest(declared.digest)})
  const seenImages = new Set<string>()
  for (const step of input.steps) {
    if (!step.imageDigest) continue
    const image = step.image ?? input.defaultImage ?? ''
    const key = `${image}@${step.imageDigest}`
    if (seenImages.has(key)) continue
    seenImages.add(key)
    // The imageID the cluster resolved (`docker.io/library/alpine@sha256:…`) names the exact image that ran.
    const digest = /sha256:([0-9a-f]{64})$/.exec(step.imageDigest)
    resolvedDependencies.push({
      uri: `pkg:docker/${image}`,
      digest: digest ? {sha256: digest[1]!} : parseDigest(step.imageDigest),
      annotations: {imageID: step.imageDigest},
    })
  }
  const byproducts: ResourceDescriptor[] = []
  if (input.log) byproducts.push({name: input.log.name, digest: {sha256: input.log.sha256}, mediaType: 'text/plain'})
  input.steps.forEach((step, index) => {
    byproducts.push({
      name: `steps/${index + 1}`,
      uri: `urn:uuid:${input.jobId}#steps/${index + 1}`,
      annotations: {step: step.name, exitCode: step.exitCode, durationSeconds: durationSeconds(step.startedAt, step.finishedAt)},
    })
  })
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: PREDICATE_TYPE,
    predicate: {
      buildDefinition: {buildType: BUILD_TYPE, externalParameters, internalParameters: input.internalParameters, resolvedDependencies},
      runDetails: {
        builder: {id: input.builderId, version: input.builderVersion},
        metadata: {invocationId: `urn:uuid:${input.jobId}`, startedOn: rfc3339(input.startedOn), finishedOn: rfc3339(input.finishedOn)},
        byproducts,
      },
    },
  }
}

/** `sha256:abc…` → {sha256: 'abc…'}; a bare 64-hex value is sha256; git SHA-1/SHA-256 commits stay gitCommit. */
export function parseDigest(text: string): DigestSet {
  const match = /^([a-z0-9-]+):([0-9a-fA-F]+)$/.exec(text)
  if (match) return {[match[1]!]: match[2]!.toLowerCase()}
  if (/^[0-9a-fA-F]{64}$/.test(text)) return {sha256: text.toLowerCase()}
  return {unknown: text}
}

function durationSeconds(start: string | null, end: string | null): number | null {
  if (!start || !end) return null
  return Math.max(0, Date.parse(end) - Date.parse(start)) / 1000
}

/** RFC 3339 UTC with `Z`, whole seconds kept as given by SQLite's millisecond stamps. */
function rfc3339(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toISOString()
}
