// Owns naming a SQL statement the way the database semantic conventions want it on a metric: the operation
// (SELECT, INSERT, …) and the table it works on, never the statement text or its parameters.
// By hand: no maintained OpenTelemetry instrumentation exists for better-sqlite3, and the store's statements are
// fixed strings in this repository, so a first-keyword-and-table reading is exact for all of them.

export interface SqlOperation {
  operation: string
  /** The table, when the statement names one. */
  collection?: string
}

const TABLE_AFTER: Record<string, RegExp> = {
  SELECT: /\bFROM\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i,
  DELETE: /\bFROM\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i,
  INSERT: /\bINTO\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i,
  REPLACE: /\bINTO\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i,
  UPDATE: /^\s*UPDATE\s+(?:OR\s+\w+\s+)?["`]?([A-Za-z_][A-Za-z0-9_]*)/i,
}

const cache = new Map<string, SqlOperation>()
/** Statements come from code, so the cache stays small; the cap only guards against a bug that builds SQL. */
const CACHE_LIMIT = 1000

export function sqlOperation(sql: string): SqlOperation {
  const cached = cache.get(sql)
  if (cached) return cached
  const keyword = /^\s*(?:WITH\b[\s\S]*?\)\s*)?([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? 'OTHER'
  const operation = /^[A-Z]+$/.test(keyword) ? keyword : 'OTHER'
  const table = TABLE_AFTER[operation]?.exec(sql)?.[1]
  const result: SqlOperation = table ? {operation, collection: table.toLowerCase()} : {operation}
  if (cache.size < CACHE_LIMIT) cache.set(sql, result)
  return result
}
