import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Removes every temporary directory a test file made (test/support/temp.ts), passed or failed.
    setupFiles: ['test/support/cleanup.ts'],
    // Agents, SQLite files and child processes are real: give each file its own process.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // @oclif/test captures stdout itself; vitest must not intercept console output.
    disableConsoleIntercept: true,
  },
})
