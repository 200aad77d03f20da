/** Content identity of a set of policy files: what "unchanged" and the periodic check compare. */
import { createHash } from 'node:crypto'

export interface NamedContent {
  readonly name: string
  readonly content: string
}

export function sha256Hex(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex')
}

/**
 * Order-independent (sorted by name) and unambiguous: each name and content is length-prefixed,
 * so moving bytes from one file's end to the next file's start changes the digest.
 */
export function digestFiles(files: readonly NamedContent[]): string {
  const h = createHash('sha256')
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const f of sorted) {
    for (const part of [f.name, f.content]) {
      const buf = Buffer.from(part, 'utf8')
      h.update(`${buf.length}:`)
      h.update(buf)
    }
  }
  return h.digest('hex')
}
