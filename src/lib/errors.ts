// Owns Danube's typed errors: thrown deep in agent and lib code, rendered once at the top
// (CLI: one line plus hint and an exit status; HTTP: a JSON envelope and a status code).

/** At most this many details travel with an error; the rest are counted ("and N more"). */
export const MAX_ERROR_DETAILS = 20
/** Longest message, hint or detail text an error carries: error bodies stay a few KiB whatever was sent. */
const MAX_TEXT = 300
const MAX_DETAIL_TEXT = 160

export interface ErrorDetail {
  path: string
  message: string
}

export interface DanubeErrorOptions {
  /** Process exit status when this error ends a CLI command (1 unless said otherwise). */
  exitCode?: number
  /** HTTP status when this error ends an API request. */
  httpStatus?: number
  /** What the operator can do about it. */
  hint?: string
  details?: ErrorDetail[]
  /** With HTTP 503: when the client may retry (the Retry-After header); 30 s unless said otherwise. */
  retryAfterSeconds?: number
  cause?: unknown
}

export class DanubeError extends Error {
  readonly code: string
  readonly exitCode: number
  readonly httpStatus: number
  readonly hint?: string
  readonly details?: ErrorDetail[]
  readonly retryAfterSeconds?: number

  constructor(code: string, message: string, options: DanubeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'DanubeError'
    this.code = code
    this.exitCode = options.exitCode ?? 1
    this.httpStatus = options.httpStatus ?? 500
    this.hint = options.hint
    this.details = options.details
    this.retryAfterSeconds = options.retryAfterSeconds
  }

  /** The JSON error envelope shared by the HTTP API and `--json` output. */
  toJSON(): {error: {code: string; message: string; hint?: string; details?: ErrorDetail[]}} {
    return {
      error: {
        code: this.code,
        message: clip(this.message, MAX_TEXT),
        ...(this.hint ? {hint: clip(this.hint, MAX_TEXT)} : {}),
        ...(this.details ? {details: boundDetails(this.details)} : {}),
      },
    }
  }
}

/** The first MAX_ERROR_DETAILS details, each clipped, then one that counts the rest. */
export function boundDetails(details: readonly ErrorDetail[]): ErrorDetail[] {
  const kept = details.slice(0, MAX_ERROR_DETAILS).map((d) => ({path: clip(d.path, MAX_DETAIL_TEXT), message: clip(d.message, MAX_DETAIL_TEXT)}))
  const more = details.length - kept.length
  if (more > 0) kept.push({path: '(more)', message: `and ${more} more`})
  return kept
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** Exit status for command-line usage errors, as oclif and BSD sysexits use it. */
export const EXIT_USAGE = 2

export function usageError(message: string, hint?: string): DanubeError {
  return new DanubeError('USAGE', message, {exitCode: EXIT_USAGE, httpStatus: 400, hint})
}

export function isDanubeError(error: unknown): error is DanubeError {
  return error instanceof DanubeError
}
