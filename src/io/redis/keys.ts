/**
 * Every key Chaperone writes starts with one hash tag, `{<prefix>}:`, so that the keys a script
 * touches together share a Redis Cluster slot, and one prefix tells deployments apart.
 */
export function taggedKey(prefix: string | undefined, ...parts: string[]): string {
  return `{${prefix ?? 'chaperone'}}:${parts.join(':')}`
}

/** `s` matched literally by SCAN/HSCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&')
}
