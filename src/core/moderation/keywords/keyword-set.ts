import { firstCodePoint, isWordCodePoint, lastCodePoint } from './word-chars.js'

export interface KeywordEntry {
  /** Already normalized to the folded view by the caller. */
  text: string
  /** Match whole words only: no word character may touch the keyword's word-character edges. */
  wordBoundary: boolean
}

/** The entry needs a non-word character (or text start) before its first code unit. */
export const NEEDS_LEFT = 1
/** The entry needs a non-word character (or text end) after its last code unit. */
export const NEEDS_RIGHT = 2

/**
 * Entries grouped by distinct text: the automaton matches each text once, and a match fans out
 * to every entry that listed it. An edge only needs a boundary check when the keyword's own
 * character there is a word character: `c++` as a whole word may follow `abc` but not `ab`.
 */
export interface KeywordSet {
  /** Distinct non-empty texts, in first-seen order. */
  readonly patterns: string[]
  /** Entries of pattern p: entryId/entryFlags[entryStart[p] .. entryStart[p + 1]). */
  readonly entryStart: Int32Array
  readonly entryId: Int32Array
  readonly entryFlags: Uint8Array
}

export function groupKeywords(entries: readonly KeywordEntry[]): KeywordSet {
  const index = new Map<string, number>()
  const patterns: string[] = []
  const members: number[][] = []
  for (let id = 0; id < entries.length; id++) {
    const text = entries[id]!.text
    if (text.length === 0) continue
    let p = index.get(text)
    if (p === undefined) {
      index.set(text, (p = patterns.length))
      patterns.push(text)
      members.push([])
    }
    members[p]!.push(id)
  }
  const count = members.reduce((n, m) => n + m.length, 0)
  const entryStart = new Int32Array(patterns.length + 1)
  const entryId = new Int32Array(count)
  const entryFlags = new Uint8Array(count)
  let at = 0
  for (let p = 0; p < patterns.length; p++) {
    entryStart[p] = at
    const text = patterns[p]!
    const left = isWordCodePoint(firstCodePoint(text)) ? NEEDS_LEFT : 0
    const right = isWordCodePoint(lastCodePoint(text)) ? NEEDS_RIGHT : 0
    for (const id of members[p]!) {
      entryId[at] = id
      entryFlags[at++] = entries[id]!.wordBoundary ? left | right : 0
    }
  }
  entryStart[patterns.length] = at
  return { patterns, entryStart, entryId, entryFlags }
}
