// Owns hiding secrets in text the operator sees (config show, logs, health output): the password part of
// credentials inside URLs, such as a token in `https://bot:TOKEN@git.example/ops/config.git`.

export const REDACTED = '[REDACTED]'

/**
 * Replaces the password of every `scheme://user:password@` in the text, wherever it appears, and the whole
 * userinfo of `http(s)://TOKEN@` (a token given as the user name, as GitHub and GitLab accept it).
 */
export function redactUrlCredentials(text: string): string {
  return text
    .replaceAll(/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@\s/]+@/gi, `$1${REDACTED}@`)
    .replaceAll(/(\bhttps?:\/\/)(?!\[REDACTED\]@)[^/\s:@]+@/gi, `$1${REDACTED}@`)
}
