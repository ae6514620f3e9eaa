// Temporary directories for tests, all removed when the test file ends (test/support/cleanup.ts, a vitest
// setup file, calls removeTempDirs in afterAll): a test that fails half-way leaves nothing behind in /tmp.

import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

const made = new Set<string>()

export function tempDir(prefix = 'danube-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  made.add(dir)
  return dir
}

export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, {recursive: true, force: true})
  made.clear()
}
