import { wideEdge, type Automaton } from './automaton.js'
import { NEEDS_LEFT, type KeywordSet } from './keyword-set.js'
import { combineSurrogates, isHighSurrogate, isLowSurrogate, isWordCodePoint } from './word-chars.js'

/**
 * How much the scanner must hold, by automaton state, depending on whether the state's text begins
 * at a word start.
 *
 * The automaton state is the longest suffix of the view that is a prefix of any keyword, and its
 * failure chain lists every shorter one. A suffix only needs holding if a keyword could still match
 * from where it begins: always for a keyword that may start anywhere, but only at a word start for
 * a whole-word keyword. With a list of whole words, almost every word ending is the prefix of some
 * keyword ("o" starts "ogre"); holding it would delay nearly every delta by one token.
 *
 * Word starts inside a state's text are fixed by the text itself, so the longest suffix to hold is
 * precomputed; only whether the state's own text begins at a word start depends on the stream, and
 * the scanner checks that one character at hold time. The scan loop stays as it was.
 *
 * Returns pairs by state id: [2s] the state's depth (the hold when its text begins at a word start),
 * [2s + 1] the hold when it begins mid-word, equal to the depth when its text is the prefix of a
 * keyword that may start anywhere. Side by side because the scanner reads both at once.
 */
export function buildHoldDepths(a: Automaton, set: KeywordSet): Int32Array {
  const { depth, fail, states } = a
  const { patterns, entryStart, entryFlags } = set

  // A state is free when it begins some keyword with an entry that needs no left boundary; its
  // text (as `origin`'s prefix) lets word starts inside it be read.
  const free = new Uint8Array(states)
  const origin = new Int32Array(states)
  for (let p = 0; p < patterns.length; p++) {
    let anywhere = false
    for (let e = entryStart[p]!; e < entryStart[p + 1]!; e++) if ((entryFlags[e]! & NEEDS_LEFT) === 0) anywhere = true
    const text = patterns[p]!
    let s = 0
    for (let i = 0; i < text.length; i++) {
      s = trieChild(a, s, text.charCodeAt(i))
      origin[s] = p
      if (anywhere) free[s] = 1
    }
  }

  // Shallow states first: each state's answer builds on its failure target's.
  const byDepth = new Int32Array(a.maxDepth + 2)
  for (let s = 0; s < states; s++) byDepth[depth[s]! + 1]!++
  for (let d = 1; d < byDepth.length; d++) byDepth[d]! += byDepth[d - 1]!
  const order = new Int32Array(states)
  for (let s = 0; s < states; s++) order[byDepth[depth[s]!]!++] = s

  const hold = new Int32Array(2 * states)
  for (let i = 1; i < states; i++) {
    const s = order[i]!
    hold[2 * s] = depth[s]!
    if (free[s] === 1) {
      hold[2 * s + 1] = depth[s]!
      continue
    }
    // The longest shorter suffix is the failure target: hold it if a keyword may start there,
    // else whatever it would hold itself when it begins mid-word.
    const f = fail[s]!
    if (f === 0) continue
    const startsWord = free[f] === 1 || !wordBefore(patterns[origin[s]!]!, depth[s]! - depth[f]!)
    hold[2 * s + 1] = startsWord ? depth[f]! : hold[2 * f + 1]!
  }
  return hold
}

/** The trie edge from `s` on `c`; the DFA step on a keyword's own next code unit is that edge. */
function trieChild(a: Automaton, s: number, c: number): number {
  if (c >= 128) return wideEdge(a.wideStart, a.wideCode, a.wideNext, s, c)
  const next = a.delta[(s << a.shift) + a.column[c]!]!
  return (next < 0 ? ~next : next) >> a.shift
}

/**
 * Whether a word character ends just before offset k ≥ 1 of `text`, read the way the scanner reads
 * the stream. The text is the prefix of a keyword that needs a word start, so it begins with a
 * word character: the other half of a pair is never outside it.
 */
function wordBefore(text: string, k: number): boolean {
  const u = text.charCodeAt(k - 1)
  if (isLowSurrogate(u) && k >= 2) {
    const hi = text.charCodeAt(k - 2)
    if (isHighSurrogate(hi)) return isWordCodePoint(combineSurrogates(hi, u))
  }
  return isWordCodePoint(u)
}
