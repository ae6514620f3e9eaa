// Owns how provenance results read on a terminal: one line per verification failure, and a statement laid out
// for people. Every string from the directory is made printable first: a hostile name never drives the terminal.

import type {ShownProvenance, VerificationReport} from '../lib/provenance/inspect.js'
import type {ResourceDescriptor, Statement} from '../lib/provenance/statement.js'
import {printableName as p} from '../lib/provenance/subject-names.js'
import {table} from './render.js'

export function renderVerification(report: VerificationReport): string {
  if (report.verified) {
    return [
      `verified: ${report.subjects} file(s) in ${p(report.dir)} match their signed provenance`,
      `  builder    ${p(report.builderId ?? '-')}`,
      `  invocation ${p(report.invocationId ?? '-')}`,
      `  key        ${report.keyId}`,
    ].join('\n')
  }
  return [...report.failures.map((failure) => `FAIL ${failure.file}: ${failure.reason}`), `verification failed: ${report.failures.length} problem(s) in ${p(report.dir)}`].join('\n')
}

export function renderShown(shown: ShownProvenance): string {
  if (shown.statement === null || typeof shown.statement !== 'object') {
    return [...shown.failures.map((failure) => `FAIL ${failure.file}: ${failure.reason}`), `not shown: the provenance of ${p(shown.dir)} did not verify`].join('\n')
  }
  const statement = shown.statement as Partial<Statement>
  const predicate = statement.predicate
  const definition = predicate?.buildDefinition
  const run = predicate?.runDetails
  const job = definition?.externalParameters?.job
  const lines: string[] = []
  lines.push(shown.verified ? `VERIFIED provenance of ${p(shown.dir)}` : `UNVERIFIED (--no-verify): nothing below is proven; ${p(shown.dir)}`)
  lines.push('')
  lines.push(table([
    ['Build type', p(String(definition?.buildType ?? '-'))],
    ['Builder', `${p(String(run?.builder?.id ?? '-'))} ${p(JSON.stringify(run?.builder?.version ?? {}))}`],
    ['Invocation', p(String(run?.metadata?.invocationId ?? '-'))],
    ['Started', p(String(run?.metadata?.startedOn ?? '-'))],
    ['Finished', p(String(run?.metadata?.finishedOn ?? '-'))],
    ['Job', p(String(job?.name ?? '-'))],
    ['Source', definition?.externalParameters?.source ? p(`${definition.externalParameters.source.uri}${definition.externalParameters.source.ref ? ` (${definition.externalParameters.source.ref})` : ''}`) : '-'],
  ]))
  lines.push('', 'Steps')
  for (const [index, step] of (job?.steps ?? []).entries()) lines.push(`  ${index + 1}. ${p(String(step.name))}${step.image ? ` [${p(String(step.image))}]` : ''}: ${p(String(step.run))}`)
  const env = Object.entries(job?.env ?? {})
  if (env.length > 0) lines.push('', 'Environment', ...env.map(([key, value]) => `  ${p(key)}=${p(String(value))}`))
  lines.push('', 'Platform (internalParameters)', ...JSON.stringify(definition?.internalParameters ?? {}, null, 2).split('\n').map((line) => `  ${p(line)}`))
  const dependencies = definition?.resolvedDependencies ?? []
  if (dependencies.length > 0) lines.push('', 'Resolved dependencies', ...dependencies.map((d) => `  ${descriptor(d)}`))
  const byproducts = run?.byproducts ?? []
  if (byproducts.length > 0) lines.push('', 'Byproducts', ...byproducts.map((d) => `  ${descriptor(d)}`))
  const subjects = Array.isArray(statement.subject) ? statement.subject : []
  lines.push('', `Subjects (${subjects.length})`, ...subjects.map((s) => `  ${p(String(s?.digest?.sha256 ?? '-'))}  ${p(String(s?.name))}`))
  return lines.join('\n')
}

function descriptor(d: ResourceDescriptor): string {
  const digest = Object.entries(d.digest ?? {}).map(([algorithm, value]) => `${algorithm}:${value}`).join(' ')
  const annotations = d.annotations ? ` ${JSON.stringify(d.annotations)}` : ''
  return p(`${d.name ?? d.uri ?? '-'}${d.name && d.uri ? ` <${d.uri}>` : ''}${digest ? ` ${digest}` : ''}${annotations}`)
}
