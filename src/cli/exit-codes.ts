// The one table of every command's exit statuses. Help text and man pages are generated from it, and
// commands exit only with statuses listed here.

export type ExitCodeTable = Readonly<Record<number, string>>

const COMMON = {1: 'error (the message says what failed and how to fix it)', 2: 'usage error: unknown flag, bad value, invalid configuration or job spec'}

export const EXIT_CODES: Readonly<Record<string, ExitCodeTable>> = {
  agent: {
    0: 'stopped cleanly after SIGTERM or SIGINT',
    1: 'error, e.g. jobs.executor is kubernetes and the Kubernetes API is unreachable, does not answer, or refuses the credentials or the job namespace',
    2: 'usage error or invalid configuration, e.g. jobs.executor is kubernetes but Kubernetes is disabled or the kubeconfig is missing or does not parse',
  },
  status: {
    0: 'status printed (the agent may be running or down)',
    ...COMMON,
    1: 'error, e.g. the state directory or its database does not exist (--json: error.code STATE_DIR_MISSING or NO_DATABASE)',
  },
  'config show': {0: 'configuration printed', ...COMMON},
  'job run': {
    0: 'job admitted; with --wait, job succeeded',
    ...COMMON,
    1: 'error; with --wait, the job failed or was cancelled',
    75: 'the agent is draining and did not admit the job (retry after the drain)',
  },
  // The monitoring-plugins convention (Nagios, Icinga, Sensu): cron and monitors read the state from the status.
  health: {
    0: 'OK: every check passes',
    1: 'WARNING: a check warns (in the agent, also a degrading check failing fewer than health.failureThreshold times in a row)',
    2: 'CRITICAL: a check fails, degrading checks included',
    3: 'UNKNOWN: the state could not be determined: --timeout expired, bad flag or --exclude key, invalid configuration, or an internal error',
  },
  drain: {
    0: 'drained: no job is running (after the force-kills asked for; see jobsKilled), or --detach/--cancel done, or the agent is not running',
    ...COMMON,
    1: 'error; or killed jobs still not gone 60s after the forced deadline plus grace period, or whose Kubernetes pods were still terminating at kubernetes.cancelCap (named); or the agent stopped while watching',
    3: 'deadline reached without --force: jobs still running (listed); the drain stays on',
    4: 'the drain was cancelled (by someone else) while watching',
    130: 'interrupted (Ctrl-C): stopped watching; the drain continues',
  },
  install: {
    0: 'installed: every step ok, changed or skipped (with --dry-run: the plan has no failing step)',
    1: 'a step failed (named, with the command output and the troubleshooting section); re-running resumes. With --dry-run: a step of the plan would fail (preflight)',
    2: 'usage error: unknown flag, bad value, missing --yes without a terminal, or not confirmed',
  },
  uninstall: {
    0: 'removed what danube install created (the keys and the database kept unless --purge); with --dry-run: plan printed',
    1: 'a removal step failed (named, with the command output); re-running continues',
    2: 'usage error: unknown flag, bad value, missing --yes without a terminal, or not confirmed',
  },
  'job list': {0: 'jobs printed', ...COMMON},
  'keys generate': {0: 'key pair written', 1: 'error: a key exists and --force was not given, or the directory is not writable', 2: COMMON[2]},
  'provenance verify': {
    0: 'verified: every file is a subject with its digest, and the signature checks with the pinned key',
    1: 'verification failed (every failure is listed, one line each)',
    2: 'usage error, or unreadable input: the directory, or the public key missing, unreadable or not Ed25519',
  },
  'provenance show': {
    0: 'statement printed after it verified (or, with --no-verify, printed unverified)',
    1: 'verification failed (the failures are printed instead), or with --no-verify the statement cannot be read',
    2: 'usage error, or unreadable input: the directory, or the public key missing, unreadable or not Ed25519',
  },
  'job show': {0: 'job printed', ...COMMON, 1: 'error, or no job with that id'},
  'job logs': {0: 'log printed', ...COMMON, 1: 'error, or no job with that id'},
  'job cancel': {0: 'cancel requested (queued jobs are cancelled at once)', ...COMMON, 1: 'error, no job with that id, or the job already finished'},
}

export function exitCodesFor(id: string): ExitCodeTable {
  const table = EXIT_CODES[id]
  if (!table) throw new Error(`BUG: no exit-code table for command "${id}"`)
  return table
}

/**
 * The EXIT STATUS section appended to a command's description (and so to --help). Codes are padded on the
 * right: oclif's help trims each description line's leading spaces, so right-aligned codes lost their
 * alignment (`75` stood out of the column).
 */
export function describeExitCodes(id: string): string {
  const table = exitCodesFor(id)
  const width = Math.max(...Object.keys(table).map((code) => code.length))
  const lines = Object.entries(table).map(([code, meaning]) => `${code.padEnd(width)}  ${meaning}`)
  return `EXIT STATUS\n${lines.join('\n')}`
}
