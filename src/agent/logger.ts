// Owns the agent's structured log: JSON lines when stderr is not a terminal (journald, files), short
// human lines when it is. Callers pass fields, never secrets.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

const RANK: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export function createLogger(options: {stream?: NodeJS.WritableStream & {isTTY?: boolean}; level?: LogLevel} = {}): Logger {
  const stream = options.stream ?? process.stderr
  const min = RANK[options.level ?? (process.env.DANUBE_LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? RANK.info
  const json = !stream.isTTY
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (RANK[level] < min) return
    const time = new Date().toISOString()
    if (json) {
      stream.write(`${JSON.stringify({time, level, msg: message, ...fields})}\n`)
      return
    }
    const extras = Object.entries(fields)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ')
    stream.write(`${time.slice(11, 19)} ${level.toUpperCase().padEnd(5)} ${message}${extras ? ` ${extras}` : ''}\n`)
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  }
}

/** A logger that drops everything, for in-process use by CLI commands. */
export const silentLogger: Logger = {debug() {}, info() {}, warn() {}, error() {}}
