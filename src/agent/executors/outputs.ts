// Owns turning what steps wrote into the job's artifacts: regular files only, copied under
// artifacts/<id>/ with their relative paths; symlinks and special files are refused and logged.

import {copyFileSync, lstatSync, mkdirSync, readdirSync} from 'node:fs'
import path from 'node:path'

import type {JobLog} from '../../lib/jobs/log.js'

export interface CollectResult {
  files: string[]
  refused: string[]
}

export function collectOutputs(outputDir: string, artifactsDir: string, log: JobLog): CollectResult {
  const result: CollectResult = {files: [], refused: []}
  const walk = (relative: string) => {
    let entries: string[]
    try {
      entries = readdirSync(path.join(outputDir, relative)).sort()
    } catch {
      return
    }
    for (const name of entries) {
      const rel = relative ? path.join(relative, name) : name
      const stat = lstatSync(path.join(outputDir, rel))
      if (stat.isDirectory()) {
        walk(rel)
      } else if (stat.isFile()) {
        const target = path.join(artifactsDir, rel)
        mkdirSync(path.dirname(target), {recursive: true})
        copyFileSync(path.join(outputDir, rel), target)
        result.files.push(rel)
      } else {
        result.refused.push(rel)
        log.note(`refused output ${rel}: ${stat.isSymbolicLink() ? 'symbolic link' : 'not a regular file'}`)
      }
    }
  }
  walk('')
  return result
}
