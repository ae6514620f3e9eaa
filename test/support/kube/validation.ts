// What kube-apiserver checks before it stores an object, for every kind the test API server stores, in its order:
//   1. decoding: a value of the wrong type or a malformed quantity is 400 BadRequest "... cannot be handled as a Kind";
//      unknown fields are dropped with a `Warning` header, or 400 with fieldValidation=Strict (API concepts, "Field
//      validation": https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation);
//   2. validation: 422 Invalid with one `details.causes` entry per field (Required value, Unsupported value, Invalid
//      value, Duplicate value, Not found), as k8s.io/apimachinery's field.ErrorList renders them.
// Types, required fields, enums and formats (quantities, int-or-string) come from kubernetes-models, a validator
// generated from the Kubernetes OpenAPI; the known fields from @kubernetes/client-node's models, generated from the same
// OpenAPI. What the apiserver's hand-written validation adds to the schema (names, labels, container and volume rules,
// non-negative counts: pkg/apis/core/validation, pkg/apis/batch/validation and apimachinery's validation helpers) no
// library provides, so it is written here, with the apiserver's messages.
//
// Other kinds plug in with registerKind (see KindSchema); podSpecRules and metadataRules are there for kinds that embed
// a pod template or need more than the common metadata checks.

import * as clientModels from '@kubernetes/client-node'
import {Job as JobModel} from 'kubernetes-models/batch/v1/Job'
import {Namespace as NamespaceModel} from 'kubernetes-models/v1/Namespace'
import {Pod as PodModel} from 'kubernetes-models/v1/Pod'

import * as statuses from './status.js'
import type {StatusObject} from './types.js'

type Json = Record<string, unknown>

/** An error of kubernetes-models' (ajv 8) generated validators. */
interface ErrorObject {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
}

export interface Cause {
  field: string
  message: string
  reason: 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueInvalid' | 'FieldValueDuplicate' | 'FieldValueNotFound' | 'FieldValueForbidden' | 'FieldValueTooLong'
}

export interface KindSchema {
  kind: string
  apiVersion: string
  /** Plural resource and API group, for Status details. */
  resource: string
  group: string
  /** The kubernetes-models class for this kind: its validate() checks types, required fields, enums and formats. */
  model: new (data: never) => {validate(): void}
  /** The @kubernetes/client-node model for this kind (e.g. V1Job), whose attribute map names the known fields. */
  clientModel: {getAttributeTypeMap(): Attribute[]}
  /** How metadata.name is checked: most kinds are DNS-1123 subdomains; Namespace and Service are DNS-1123 labels. */
  name: 'subdomain' | 'label'
  /** Checks the apiserver's validation adds for this kind (beyond metadata, which every kind gets). */
  rules?: (object: Json, add: (cause: Cause) => void) => void
}

interface Attribute {
  name: string
  baseName: string
  type: string
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore'

export type Admission =
  | {ok: true; object: Json; warnings: string[]}
  | {ok: false; status: StatusObject}

const schemas = new Map<string, KindSchema>()

/** Makes the test API server validate objects of this kind (apiVersion + kind) on create. */
export function registerKind(schema: KindSchema): void {
  schemas.set(`${schema.apiVersion}/${schema.kind}`, schema)
}

export function kindSchema(apiVersion: string, kind: string): KindSchema | undefined {
  return schemas.get(`${apiVersion}/${kind}`)
}

/** The `fieldValidation` query parameter (default Warn, as kube-apiserver ≥ 1.27), or a 400 for any other value. */
export function parseFieldValidation(value: string | undefined): FieldValidation | StatusObject {
  if (value === undefined || value === '') return 'Warn'
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value
  return statuses.badRequest(`fieldValidation parameter unsupported value: ${value}`)
}

/**
 * Decodes and validates an object as kube-apiserver does on create: returns it without its unknown fields and the
 * warnings to send, or the Status to answer with.
 */
export function admit(schema: KindSchema, input: Json, fieldValidation: FieldValidation): Admission {
  const object = structuredClone(input)
  const name = typeof (object.metadata as Json | undefined)?.name === 'string' ? String((object.metadata as Json).name) : ''
  const cannot = `${schema.kind} in version "${schema.apiVersion.split('/').at(-1)}" cannot be handled as a ${schema.kind}`

  const errors = schemaErrors(schema, object)
  const decoding = errors.filter((error) => !['required', 'enum'].includes(error.keyword))
  if (decoding.length > 0) return {ok: false, status: statuses.badRequest(`${cannot}: ${decodeMessage(decoding, object)}`)}

  const unknown: string[] = []
  prune(object, schema.clientModel.getAttributeTypeMap(), '', unknown)
  if (unknown.length > 0 && fieldValidation === 'Strict') {
    return {ok: false, status: statuses.badRequest(`${cannot}: strict decoding error: ${unknown.map((field) => `unknown field "${field}"`).join(', ')}`)}
  }
  const warnings = fieldValidation === 'Warn' ? unknown.map((field) => `unknown field "${field}"`) : []

  const causes: Cause[] = []
  const add = (cause: Cause) => causes.push(cause)
  for (const error of errors) add(validationCause(error, object))
  metadataRules(object.metadata as Json | undefined, 'metadata', schema.name, add)
  schema.rules?.(object, add)
  if (causes.length > 0) {
    return {ok: false, status: statuses.invalid(schema.kind, {resource: schema.resource, group: schema.group}, name, causes)}
  }
  return {ok: true, object, warnings}
}

// ---------------------------------------------------------------- schema (kubernetes-models)

function schemaErrors(schema: KindSchema, object: Json): ErrorObject[] {
  // metadata.name may be absent on create (generateName): kubernetes-models does not require it either.
  try {
    new schema.model(object as never).validate()
    return []
  } catch (error) {
    const errors = (error as {errors?: ErrorObject[]}).errors
    if (!errors) throw error
    // oneOf wraps the real reason (a quantity is a string in its format or a number); keep the specific errors.
    return errors.filter((candidate) => candidate.keyword !== 'oneOf' && candidate.keyword !== 'anyOf')
  }
}

/** `/spec/template/spec/containers/0/name` → `spec.template.spec.containers[0].name`. */
function fieldPath(pointer: string): string {
  return pointer.split('/').slice(1).map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment), '')
}

function valueAt(object: Json, pointer: string): unknown {
  let value: unknown = object
  for (const segment of pointer.split('/').slice(1)) value = (value as Record<string, unknown> | undefined)?.[segment.replaceAll('~1', '/').replaceAll('~0', '~')]
  return value
}

function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value === 'object' ? 'object' : typeof value
}

function decodeMessage(errors: ErrorObject[], object: Json): string {
  // A malformed quantity is its own message (resource.ParseQuantity), whatever else is wrong with the value.
  const quantity = errors.find((error) => error.keyword === 'format' && error.params.format === 'quantity')
  if (quantity) return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
  const error = errors.find((candidate) => candidate.keyword === 'type') ?? errors[0]!
  const field = fieldPath(error.instancePath)
  if (error.keyword === 'type') {
    return `json: cannot unmarshal ${jsonType(valueAt(object, error.instancePath))} into Go struct field ${field} of type ${String(error.params.type)}`
  }
  return `${field}: ${error.message ?? 'invalid value'}`
}

function validationCause(error: ErrorObject, object: Json): Cause {
  const field = fieldPath(error.instancePath)
  if (error.keyword === 'required') {
    return {field: `${field ? `${field}.` : ''}${String(error.params.missingProperty)}`, message: 'Required value', reason: 'FieldValueRequired'}
  }
  const allowed = (error.params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')
  return {field, message: `Unsupported value: ${JSON.stringify(valueAt(object, error.instancePath))}: supported values: ${allowed}`, reason: 'FieldValueNotSupported'}
}

// ---------------------------------------------------------------- unknown fields (@kubernetes/client-node's models)

const models = clientModels as unknown as Record<string, {getAttributeTypeMap?: () => Attribute[]} | undefined>

/** Removes the fields the type does not declare, recording each one's path. */
function prune(value: unknown, attributes: Attribute[], path: string, unknown: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return
  const record = value as Json
  for (const key of Object.keys(record)) {
    const attribute = attributes.find((candidate) => candidate.baseName === key)
    const child = path ? `${path}.${key}` : key
    if (!attribute) {
      unknown.push(child)
      delete record[key]
      continue
    }
    pruneTyped(record[key], attribute.type, child, unknown)
  }
}

function pruneTyped(value: unknown, type: string, path: string, unknown: string[]): void {
  const array = /^Array<(.+)>$/.exec(type)
  if (array) {
    if (Array.isArray(value)) value.forEach((item, index) => pruneTyped(item, array[1]!, `${path}[${index}]`, unknown))
    return
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map) {
    if (typeof value === 'object' && value !== null) for (const [key, item] of Object.entries(value)) pruneTyped(item, map[1]!, `${path}[${key}]`, unknown)
    return
  }
  const model = models[type]
  if (model?.getAttributeTypeMap) prune(value, model.getAttributeTypeMap(), path, unknown)
}

// ---------------------------------------------------------------- the apiserver's own rules

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

const LABEL_MESSAGE = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
const SUBDOMAIN_MESSAGE = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
const QUALIFIED_NAME_MESSAGE = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
const LABEL_VALUE_MESSAGE = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

function invalid(field: string, value: unknown, message: string): Cause {
  return {field, message: `Invalid value: ${JSON.stringify(value)}: ${message}`, reason: 'FieldValueInvalid'}
}

/** IsDNS1123Label / IsDNS1123Subdomain: the problems with a name, as apimachinery words them. */
export function nameProblems(name: string, rule: 'subdomain' | 'label'): string[] {
  const problems: string[] = []
  const max = rule === 'label' ? 63 : 253
  if (name.length > max) problems.push(`must be no more than ${max} characters`)
  if (!(rule === 'label' ? DNS1123_LABEL : DNS1123_SUBDOMAIN).test(name)) problems.push(rule === 'label' ? LABEL_MESSAGE : SUBDOMAIN_MESSAGE)
  return problems
}

/** IsQualifiedName: a label or annotation key, `[prefix/]name`. */
function keyProblems(key: string): string[] {
  const parts = key.split('/')
  if (parts.length > 2) return [`a qualified name ${QUALIFIED_NAME_MESSAGE}`]
  const [prefix, namePart] = parts.length === 2 ? parts : [undefined, parts[0]!]
  const problems: string[] = []
  if (prefix !== undefined) {
    if (prefix === '') problems.push('prefix part must be non-empty')
    else for (const problem of nameProblems(prefix, 'subdomain')) problems.push(`prefix part ${problem}`)
  }
  if (!namePart) problems.push('name part must be non-empty')
  else {
    if (namePart.length > 63) problems.push('name part must be no more than 63 characters')
    if (!QUALIFIED_NAME.test(namePart)) problems.push(QUALIFIED_NAME_MESSAGE)
  }
  return problems
}

function labelValueProblems(value: string): string[] {
  const problems: string[] = []
  if (value.length > 63) problems.push('must be no more than 63 characters')
  if (!LABEL_VALUE.test(value)) problems.push(LABEL_VALUE_MESSAGE)
  return problems
}

/** ValidateLabels: keys are qualified names, values valid label values. */
export function labelRules(labels: unknown, field: string, add: (cause: Cause) => void): void {
  if (typeof labels !== 'object' || labels === null) return
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    for (const problem of keyProblems(key)) add(invalid(field, key, problem))
    if (typeof value === 'string') for (const problem of labelValueProblems(value)) add(invalid(field, value, problem))
  }
}

/** ValidateObjectMeta: the name (when given; generateName is resolved later), labels and annotation keys. */
export function metadataRules(metadata: Json | undefined, field: string, nameRule: 'subdomain' | 'label' | undefined, add: (cause: Cause) => void): void {
  if (!metadata) return
  if (nameRule && typeof metadata.name === 'string' && metadata.name !== '') {
    for (const problem of nameProblems(metadata.name, nameRule)) add(invalid(`${field}.name`, metadata.name, problem))
  }
  labelRules(metadata.labels, `${field}.labels`, add)
  if (typeof metadata.annotations === 'object' && metadata.annotations !== null) {
    for (const key of Object.keys(metadata.annotations)) for (const problem of keyProblems(key)) add(invalid(`${field}.annotations`, key, problem))
  }
}

function nonNegative(value: unknown, field: string, add: (cause: Cause) => void): void {
  if (typeof value === 'number' && value < 0) add(invalid(field, value, 'must be greater than or equal to 0'))
}

interface ContainerJson {
  name?: unknown
  image?: unknown
  volumeMounts?: Array<{name?: unknown}>
}

/** ValidatePodSpec, the parts a Danube manifest can get wrong: containers, their names and images, volumes and mounts. */
export function podSpecRules(spec: Json | undefined, field: string, add: (cause: Cause) => void): void {
  if (!spec) return
  const containers = (spec.containers ?? []) as ContainerJson[]
  const inits = (spec.initContainers ?? []) as ContainerJson[]
  if (containers.length === 0) add({field: `${field}.containers`, message: 'Required value', reason: 'FieldValueRequired'})
  const volumes = new Set<string>()
  ;((spec.volumes ?? []) as Array<{name?: unknown}>).forEach((volume, index) => {
    if (typeof volume.name !== 'string') return
    for (const problem of nameProblems(volume.name, 'label')) add(invalid(`${field}.volumes[${index}].name`, volume.name, problem))
    if (volumes.has(volume.name)) add({field: `${field}.volumes[${index}].name`, message: `Duplicate value: ${JSON.stringify(volume.name)}`, reason: 'FieldValueDuplicate'})
    volumes.add(volume.name)
  })
  const names = new Set<string>()
  const check = (list: ContainerJson[], key: string) => list.forEach((container, index) => {
    const at = `${field}.${key}[${index}]`
    if (typeof container.name === 'string') {
      for (const problem of nameProblems(container.name, 'label')) add(invalid(`${at}.name`, container.name, problem))
      if (names.has(container.name)) add({field: `${at}.name`, message: `Duplicate value: ${JSON.stringify(container.name)}`, reason: 'FieldValueDuplicate'})
      names.add(container.name)
    }
    if (typeof container.image !== 'string' || container.image.trim() === '') add({field: `${at}.image`, message: 'Required value', reason: 'FieldValueRequired'})
    ;(container.volumeMounts ?? []).forEach((mount, mountIndex) => {
      if (typeof mount.name === 'string' && !volumes.has(mount.name)) {
        add({field: `${at}.volumeMounts[${mountIndex}].name`, message: `Not found: ${JSON.stringify(mount.name)}`, reason: 'FieldValueNotFound'})
      }
    })
  })
  check(inits, 'initContainers')
  check(containers, 'containers')
  nonNegative(spec.terminationGracePeriodSeconds, `${field}.terminationGracePeriodSeconds`, add)
  if (typeof spec.activeDeadlineSeconds === 'number' && spec.activeDeadlineSeconds < 1) {
    add(invalid(`${field}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, 'must be between 1 and 2147483647, inclusive'))
  }
}

/** ValidateJob: non-negative counts, a pod template that restarts Never or OnFailure, template labels. */
function jobRules(object: Json, add: (cause: Cause) => void): void {
  const spec = object.spec as Json | undefined
  if (!spec) return
  for (const key of ['backoffLimit', 'parallelism', 'completions', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished']) nonNegative(spec[key], `spec.${key}`, add)
  const template = spec.template as {metadata?: Json; spec?: Json} | undefined
  if (!template) return
  metadataRules(template.metadata, 'spec.template.metadata', undefined, add)
  podSpecRules(template.spec, 'spec.template.spec', add)
  const policy = template.spec?.restartPolicy
  if (policy === undefined) add({field: 'spec.template.spec.restartPolicy', message: 'Required value: valid values: "OnFailure", "Never"', reason: 'FieldValueRequired'})
  else if (policy !== 'Never' && policy !== 'OnFailure') {
    add({field: 'spec.template.spec.restartPolicy', message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "OnFailure", "Never"`, reason: 'FieldValueNotSupported'})
  }
  // The controller labels every pod batch.kubernetes.io/job-name=<name>: the name must be a valid label value too.
  const name = (object.metadata as Json | undefined)?.name
  if (typeof name === 'string' && name.length > 63) add(invalid('spec.template.labels', name, 'must be no more than 63 characters'))
}

registerKind({kind: 'Namespace', apiVersion: 'v1', resource: 'namespaces', group: '', model: NamespaceModel, clientModel: clientModels.V1Namespace, name: 'label'})
registerKind({kind: 'Pod', apiVersion: 'v1', resource: 'pods', group: '', model: PodModel, clientModel: clientModels.V1Pod, name: 'subdomain',
  rules: (object, add) => podSpecRules(object.spec as Json | undefined, 'spec', add)})
registerKind({kind: 'Job', apiVersion: 'batch/v1', resource: 'jobs', group: 'batch', model: JobModel, clientModel: clientModels.V1Job, name: 'subdomain', rules: jobRules})
