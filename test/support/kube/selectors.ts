// Label and field selectors as the Kubernetes API server parses them.
// Labels: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
//   equality-based `k=v`, `k==v`, `k!=v`; set-based `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist);
//   the comma is AND; `!=` and `notin` also match objects without the key. (`k>n` / `k<n` exist in the apimachinery
//   parser too and are accepted.)
// Fields: https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
//   `f=v`, `f==v`, `f!=v` joined by commas, only on the fields each resource supports; anything else is a 400.

export type Labels = Record<string, string> | undefined

type Requirement =
  | {key: string; op: 'in' | 'notin'; values: string[]}
  | {key: string; op: 'exists' | '!exists'}
  | {key: string; op: 'gt' | 'lt'; value: number}

export class SelectorError extends Error {}

const KEY = /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const VALUE = /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`)
  return key
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value) || value.length > 63) throw new SelectorError(`unable to parse requirement: invalid label value "${value}" in selector "${selector}"`)
  return value
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const char of text) {
    if (char === '(') depth++
    if (char === ')') depth--
    if (char === ',' && depth === 0) {
      parts.push(current)
      current = ''
    } else {
      current += char
    }
  }
  parts.push(current)
  return parts
}

export function parseLabelSelector(selector: string | undefined): Requirement[] {
  if (selector === undefined || selector.trim() === '') return []
  return splitTopLevel(selector).map((raw) => {
    const part = raw.trim()
    let match: RegExpMatchArray | null
    if ((match = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = match[3]!.split(',').map((value) => checkValue(value.trim(), selector))
      return {key: checkKey(match[1]!, selector), op: match[2] as 'in' | 'notin', values}
    }
    if ((match = part.match(/^([^=!<>\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/))) {
      const value = checkValue(match[3]!, selector)
      return {key: checkKey(match[1]!, selector), op: match[2] === '!=' ? 'notin' : 'in', values: [value]}
    }
    if ((match = part.match(/^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/))) {
      return {key: checkKey(match[1]!, selector), op: match[2] === '>' ? 'gt' : 'lt', value: Number(match[3])}
    }
    if ((match = part.match(/^!\s*([^=!<>\s]+)$/))) return {key: checkKey(match[1]!, selector), op: '!exists'}
    if ((match = part.match(/^([^=!<>\s(),]+)$/))) return {key: checkKey(match[1]!, selector), op: 'exists'}
    throw new SelectorError(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`)
  })
}

export function matchesLabels(requirements: Requirement[], labels: Labels): boolean {
  return requirements.every((requirement) => {
    const value = labels?.[requirement.key]
    switch (requirement.op) {
      case 'exists':
        return value !== undefined
      case '!exists':
        return value === undefined
      case 'in':
        return value !== undefined && requirement.values.includes(value)
      case 'notin':
        return value === undefined || !requirement.values.includes(value)
      case 'gt':
        return value !== undefined && /^-?\d+$/.test(value) && Number(value) > requirement.value
      case 'lt':
        return value !== undefined && /^-?\d+$/.test(value) && Number(value) < requirement.value
    }
  })
}

export interface FieldRequirement {
  field: string
  negate: boolean
  value: string
}

export function parseFieldSelector(selector: string | undefined, supported: readonly string[]): FieldRequirement[] {
  if (selector === undefined || selector.trim() === '') return []
  return selector.split(',').map((raw) => {
    const match = raw.trim().match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/)
    if (!match) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${raw}'`)
    const field = match[1]!
    if (!supported.includes(field)) throw new SelectorError(`field label not supported: ${field}`)
    return {field, negate: match[2] === '!=', value: match[3]!.trim()}
  })
}

export function matchesFields(requirements: FieldRequirement[], fields: Record<string, string>): boolean {
  return requirements.every(({field, negate, value}) => ((fields[field] ?? '') === value) !== negate)
}
