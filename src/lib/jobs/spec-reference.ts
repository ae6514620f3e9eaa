// Owns the generated parts of the job spec's documentation: schemas/job-spec.v1.json (from the zod schema
// through z.toJSONSchema) and the key and limit tables of docs/job-spec.md. `npm run build` writes both
// (scripts/build-job-spec.js); a unit test fails when the committed files are stale.

import {JOB_SPEC_LIMITS, jobSpecJsonSchema} from './spec.js'

export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED: job spec keys (npm run build) -->'
export const REFERENCE_END = '<!-- END GENERATED -->'

interface JsonSchema {
  type?: string
  description?: string
  default?: unknown
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  additionalProperties?: JsonSchema | boolean
  propertyNames?: JsonSchema
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  pattern?: string
}

/** The committed JSON Schema file's text. */
export function jobSpecSchemaText(): string {
  return `${JSON.stringify(jobSpecJsonSchema(), null, 2)}\n`
}

/** The generated block of docs/job-spec.md: every key with its type, default, limits and meaning, then the limits. */
export function jobSpecReference(): string {
  const rows: string[][] = []
  walk(jobSpecJsonSchema() as JsonSchema, '', rows)
  const limits = JOB_SPEC_LIMITS
  return [
    REFERENCE_BEGIN,
    '',
    '| Key | Type | Required | Default | Limits | Meaning |',
    '|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    '| Limit | Value |',
    '|---|---|',
    `| steps | at most ${limits.steps} |`,
    `| \`run\` of one step | at most ${limits.runBytes} bytes (UTF-8) |`,
    `| \`name\`, a step's \`name\` | at most ${limits.nameBytes} bytes |`,
    `| \`env\` variables | at most ${limits.envKeys}; a name at most ${limits.envKeyBytes} bytes, a value at most ${limits.envValueBytes} bytes, all names and values together at most ${limits.envTotalBytes} bytes |`,
    `| \`secrets\` | at most ${limits.secrets} |`,
    `| \`inputs\` | at most ${limits.inputs}; a \`uri\` at most ${limits.uriBytes} bytes, a \`digest\` at most ${limits.digestBytes} bytes |`,
    `| keys of any mapping | at most ${limits.mappingKeys} (checked before validation) |`,
    '| NUL bytes | refused in every string |',
    '| lone UTF-16 surrogates | refused in every string (not storable as UTF-8) |',
    '| `env` key `__proto__` | refused |',
    '| the whole spec | the request limit, `api.maxRequestBytes` (1 MiB by default), over HTTP and gRPC |',
    '',
    REFERENCE_END,
  ].join('\n')
}

function walk(schema: JsonSchema, prefix: string, rows: string[][]): void {
  const required = new Set(schema.required ?? [])
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    rows.push([`\`${path}\``, typeOf(property), required.has(key) ? 'yes' : 'no', property.default === undefined ? '-' : `\`${String(property.default)}\``, limitsOf(property), cell(property.description ?? property.items?.description ?? '')])
    if (property.properties) walk(property, path, rows)
    if (property.items?.properties) walk(property.items, `${path}[]`, rows)
  }
}

function typeOf(schema: JsonSchema): string {
  if (schema.type === 'array') return `list of ${schema.items?.type === 'object' ? 'mappings' : `${schema.items?.type ?? 'any'}s`}`
  if (schema.type === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') return 'mapping of name to string'
  if (schema.type === 'object') return 'mapping'
  if (schema.pattern === '^(?:\\d+(?:ms|h|m|s))+$') return 'duration (`90s`, `10m`, `1h30m`)'
  return schema.type ?? 'any'
}

function limitsOf(schema: JsonSchema): string {
  const parts: string[] = []
  if (schema.minItems !== undefined && schema.minItems > 0) parts.push(`at least ${schema.minItems}`)
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems}`)
  if (schema.minLength !== undefined && schema.minLength > 0) parts.push('not empty')
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} bytes`)
  const value = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined
  if (schema.propertyNames?.pattern) parts.push(`names match \`${schema.propertyNames.pattern}\``)
  if (value?.maxLength !== undefined) parts.push(`values at most ${value.maxLength} bytes`)
  if (schema.items?.pattern) parts.push(`entries match \`${schema.items.pattern}\``)
  return parts.join(', ') || '-'
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}
