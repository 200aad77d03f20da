import type { Hit, StreamScanner, TextView } from '../types.js'
import { wideStep, type Automaton } from './automaton.js'
import { NEEDS_LEFT, NEEDS_RIGHT, type KeywordSet } from './keyword-set.js'
import { ASCII_WORD, combineSurrogates, isHighSurrogate, isLowSurrogate, isWordCodePoint } from './word-chars.js'

/** Right-edge verdicts. */
const NON_WORD = 0
const WORD = 1
const UNKNOWN = 2

/**
 * One stream's pass over the folded view. Each scan feeds only the code units the view gained;
 * the automaton state carries the partial matches across pushes, so the hold point is the view
 * length minus the current state's depth (less when that text begins mid-word and only whole-word
 * keywords begin with it: see hold-depth.ts), lowered for whole-word matches that still wait
 * for the character after them.
 */
export class KeywordScanner implements StreamScanner {
  private row = 0
  /** Absolute offset of the next code unit to feed. */
  private pos = 0
  private ended = false

  // Whole-word matches found at the end of the view, waiting for their right-hand character.
  private pendingCount = 0
  private readonly pendingId: number[] = []
  private readonly pendingStart: number[] = []
  private readonly pendingEnd: number[] = []

  // The last code units fed, enough to see the character before any match still to come or any
  // keyword prefix held: the engine trims the view up to the hold point, which is where such a
  // match may start. A store per code unit costs less than fetching the context from the view.
  private readonly recent: Uint16Array
  private readonly recentMask: number

  constructor(
    private readonly a: Automaton,
    private readonly k: KeywordSet,
    /** By state: code units to hold at a word start and mid-word (buildHoldDepths). */
    private readonly holdDepths: Int32Array,
  ) {
    // Room for the longest keyword plus a surrogate pair before it.
    let size = 4
    while (size < a.maxDepth + 2) size *= 2
    this.recent = new Uint16Array(size)
    this.recentMask = size - 1
  }

  scan(view: TextView, final: boolean, hits: Hit[]): void {
    if (this.ended) return
    const to = view.length
    if (this.pendingCount !== 0) this.settlePending(view, false, hits)
    const { delta, column } = this.a
    const recent = this.recent
    const mask = this.recentMask
    let row = this.row
    for (let i = this.pos; i < to; i++) {
      const c = view.charCodeAt(i)
      recent[i & mask] = c
      if (c < 128) {
        row = delta[row + column[c]!]!
        if (row < 0) {
          row = ~row
          this.report(view, row, i + 1, hits)
        }
      } else {
        row = this.stepWide(row, c)
        if (this.a.emits[row >> this.a.shift] === 1) this.report(view, row, i + 1, hits)
      }
    }
    this.row = row
    this.pos = to
    if (final) {
      this.settlePending(view, true, hits)
      this.ended = true
    }
  }

  holdFrom(): number {
    if (this.ended) return this.pos
    const s = this.row >> this.a.shift
    let held = this.holdDepths[2 * s]!
    const midWord = this.holdDepths[2 * s + 1]!
    // The held text need not be held from a mid-word start if only whole-word keywords begin with
    // it. Once per push, and whether to check is a coin toss in prose, so the ASCII case does not
    // branch on it. At the text start, the unit read was never written: 0, no word character
    // (the ring holds more than the longest keyword).
    const start = this.pos - held
    const before = this.recent[(start - 1) & this.recentMask]!
    if (before < 128) held -= (held - midWord) * ASCII_WORD[before]!
    else if (midWord !== held && this.leftOf(start) === WORD) held = midWord
    let from = this.pos - held
    for (let i = 0; i < this.pendingCount; i++) from = Math.min(from, this.pendingStart[i]!)
    return from
  }

  private stepWide(row: number, c: number): number {
    const a = this.a
    if (a.wideAlphabet === null || a.wideAlphabet[c] === 0) return 0
    return wideStep(a.wideStart, a.wideCode, a.wideNext, a.fail, row >> a.shift, c) << a.shift
  }

  /** Every pattern ending at `end` in state `row`, fanned out to its entries. */
  private report(view: TextView, row: number, end: number, hits: Hit[]): void {
    const { pattern, outLink, depth } = this.a
    const { entryStart, entryId, entryFlags } = this.k
    let s = row >> this.a.shift
    if (pattern[s]! < 0) s = outLink[s]!
    for (; s >= 0; s = outLink[s]!) {
      const p = pattern[s]!
      const start = end - depth[s]!
      let left = UNKNOWN
      let right = UNKNOWN
      for (let e = entryStart[p]!; e < entryStart[p + 1]!; e++) {
        const flags = entryFlags[e]!
        if (flags & NEEDS_LEFT) {
          if (left === UNKNOWN) left = this.leftOf(start)
          if (left === WORD) continue
        }
        if (flags & NEEDS_RIGHT) {
          if (right === UNKNOWN) right = rightOf(view, end)
          if (right === WORD) continue
          if (right === UNKNOWN) {
            this.pendingId[this.pendingCount] = entryId[e]!
            this.pendingStart[this.pendingCount] = start
            this.pendingEnd[this.pendingCount++] = end
            continue
          }
        }
        hits.push({ id: entryId[e]!, start, end })
      }
    }
  }

  /** Decides waiting matches whose right-hand character has arrived (all of them when final). */
  private settlePending(view: TextView, final: boolean, hits: Hit[]): void {
    let kept = 0
    for (let i = 0; i < this.pendingCount; i++) {
      const id = this.pendingId[i]!
      const start = this.pendingStart[i]!
      const end = this.pendingEnd[i]!
      const right = rightOf(view, end)
      if (right === UNKNOWN && !final) {
        this.pendingId[kept] = id
        this.pendingStart[kept] = start
        this.pendingEnd[kept++] = end
      } else if (right !== WORD) {
        hits.push({ id, start, end })
      }
    }
    this.pendingCount = kept
  }

  /** Whether a word character precedes `start`, which is at most maxDepth units back from pos. */
  private leftOf(start: number): number {
    if (start === 0) return NON_WORD
    const u = this.recent[(start - 1) & this.recentMask]!
    let cp = u
    if (isLowSurrogate(u) && start >= 2) {
      const hi = this.recent[(start - 2) & this.recentMask]!
      if (isHighSurrogate(hi)) cp = combineSurrogates(hi, u)
    }
    return isWordCodePoint(cp) ? WORD : NON_WORD
  }
}

/** Whether a word character follows `end`: UNKNOWN until the view holds it (both halves of a pair). */
function rightOf(view: TextView, end: number): number {
  const to = view.length
  if (end >= to) return UNKNOWN
  const u = view.charCodeAt(end)
  let cp = u
  if (isHighSurrogate(u)) {
    if (end + 1 >= to) return UNKNOWN
    const lo = view.charCodeAt(end + 1)
    if (isLowSurrogate(lo)) cp = combineSurrogates(u, lo)
  }
  return isWordCodePoint(cp) ? WORD : NON_WORD
}
