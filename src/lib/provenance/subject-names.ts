// Owns what a subject name may be: a relative POSIX path a verifier can join to a directory safely. The signer
// (through the agent's output rule) and the verifier apply the same rule; a name that breaks it is never trusted.

/** Why name is not a safe subject name, or undefined when it is. */
export function subjectNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'subject name is not a string'
  if (name === '') return 'subject name is empty'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001F\u007F]/.test(name)) return 'subject name contains a control character'
  if (name.includes('\\')) return 'subject name contains a backslash'
  if (name.startsWith('/')) return 'subject name is an absolute path'
  const segments = name.split('/')
  if (segments.includes('..')) return 'subject name contains a ".." segment'
  if (segments.includes('.')) return 'subject name contains a "." segment'
  if (segments.includes('')) return 'subject name contains an empty segment'
  return undefined
}

/** Control characters made visible, so a hostile name never drives the terminal it is printed on. */
export function printableName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replaceAll(/[\u0000-\u001F\u007F-\u009F]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
