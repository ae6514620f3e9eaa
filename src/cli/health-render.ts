// Renders a readiness document the way monitoring plugins print: a first line
// `DANUBE OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata`, then one line per check.

import {visible} from './render.js'
import type {CheckResult, HealthDocument, HealthStatus} from '../agent/health/types.js'

const STATE: Record<HealthStatus, string> = {pass: 'OK', warn: 'WARNING', fail: 'CRITICAL'}
const STATE_OF_EXIT = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const

export function renderHealth(document: HealthDocument, exitStatus: 0 | 1 | 2, context: {source: 'agent' | 'local'; agentAddr: string}): string {
  const entries = Object.entries(document.checks).flatMap(([key, results]) => results.map((result) => [key, result] as const))
  const troubled = entries.filter(([, result]) => result.status !== 'pass')
  const where = context.source === 'agent' ? `agent ${context.agentAddr}` : `agent not answering at ${context.agentAddr}, checked in-process`
  const summary =
    troubled.length === 0
      ? `${entries.length} checks pass (${where})`
      : `${troubled.map(([key, result]) => `${key} ${result.status}${result.observedValue === null ? '' : ` ${result.observedValue}${unitSuffix(result)}`}`).join(', ')} (${where})`
  const notes = document.notes?.length ? `; ${document.notes.join('; ')}` : ''
  const perfdata = entries.map(([key, result]) => perf(key, result)).filter(Boolean).join(' ')
  const lines = [`DANUBE ${STATE_OF_EXIT[exitStatus]} - ${summary}${notes}${perfdata ? ` | ${perfdata}` : ''}`]
  for (const [key, result] of entries) {
    const value = result.observedValue === null ? '' : ` ${result.observedValue}${unitSuffix(result)}`
    lines.push(`[${STATE[result.status]}] ${key}${value}${result.output ? `: ${result.output}` : ''}`)
  }
  // Check output and notes come from remote components (pods, registries): never raw control characters.
  return lines.map((line) => visible(line)).join('\n')
}

function unitSuffix(result: CheckResult): string {
  if (result.observedUnit === 'ms' || result.observedUnit === 's') return result.observedUnit
  return ''
}

/** `label=value[UOM];warn;crit;min;max`: numbers in ms or s as they are; ready/total as ready;;1:;0;total. */
function perf(key: string, result: CheckResult): string | undefined {
  const label = `'${key}'`
  if (typeof result.observedValue === 'number' && (result.observedUnit === 'ms' || result.observedUnit === 's')) {
    return `${label}=${result.observedValue}${result.observedUnit};;;0;`
  }
  if (typeof result.observedValue === 'string' && result.observedUnit === 'ready/total') {
    const [ready, total] = result.observedValue.split('/')
    return `${label}=${ready};;1:;0;${total}`
  }
  return undefined
}

export function unknownLine(message: string): string {
  return `DANUBE UNKNOWN - ${message}`
}
