// Owns parsing signed JSON strictly: JSON.parse silently keeps the last of two equal keys, so a payload with
// `subject` twice would mean one thing to us and another to a Go verifier (protojson rejects it). This rejects
// duplicate keys at any depth. Written by hand because no maintained npm parser does only this without also
// changing number or string semantics; JSON.parse still does the parsing, this scan only finds the keys.

export class StrictJsonError extends Error {}

/** JSON.parse, but a duplicate key anywhere is an error naming the key and where it is. */
export function parseStrictJson(text: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new StrictJsonError(`not valid JSON: ${(error as Error).message}`)
  }
  findDuplicateKey(text)
  return value
}

/** Scans syntactically valid JSON text for an object with a repeated key (after unescaping). */
function findDuplicateKey(text: string): void {
  const stack: ({keys: Set<string>; path: string; expectKey: boolean} | null)[] = []
  let index = 0
  const length = text.length
  while (index < length) {
    const char = text[index]!
    if (char === '"') {
      const end = stringEnd(text, index)
      const top = stack.at(-1)
      if (top && top.expectKey) {
        const key = JSON.parse(text.slice(index, end)) as string
        if (top.keys.has(key)) throw new StrictJsonError(`duplicate key "${key}" in ${top.path || 'the top-level object'}`)
        top.keys.add(key)
        top.expectKey = false
      }
      index = end
      continue
    }
    if (char === '{') stack.push({keys: new Set(), path: pathOf(stack), expectKey: true})
    else if (char === '[') stack.push(null)
    else if (char === '}' || char === ']') stack.pop()
    else if (char === ',') {
      const top = stack.at(-1)
      if (top) top.expectKey = true
    }
    index++
  }
}

function stringEnd(text: string, start: number): number {
  let index = start + 1
  while (index < text.length) {
    const char = text[index]
    if (char === '\\') index += 2
    else if (char === '"') return index + 1
    else index++
  }
  return index
}

function pathOf(stack: readonly ({keys: Set<string>; path: string} | null)[]): string {
  const top = stack.at(-1)
  if (!top) return stack.length === 0 ? '' : 'an array'
  const last = [...top.keys].at(-1)
  return top.path ? `${top.path}.${last}` : (last ?? '')
}
