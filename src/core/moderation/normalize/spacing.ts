import { ASCII_CLASS, BOUND, JOIN, SEP, WS, foldClass } from './fold-classes.js'
import type { LeetMapper } from './leet.js'

const NONE = Number.MAX_SAFE_INTEGER
/** A separator run of more units than this is layout, not letters spelled out. */
export const MAX_SEPARATOR_UNITS = 3
/** Longest separator run (in folded characters) held while waiting to see what follows it. */
export const MAX_SEPARATOR_CHARS = 32

const NORMAL = 0
/** Holding a separator run that follows a single letter. */
const RUN = 1
/** Holding that run plus the letter after it, waiting for the character after the letter. */
const RUN_Y = 2
/** Inside a separator run that stays: write it, collapsing whitespace. */
const KEPT = 3

/**
 * Spaced-out letters and whitespace runs, on the context-free fold.
 *
 * A single letter is a JOIN character (a letter, or a leet character other than ! + |) whose
 * neighbours on both sides are separators, word-bounding punctuation (! ? ; : " ( ) [ ] { } < >,
 * so "h a t e!" and "(h a t e)" join; not ', which sits inside "I'm a") or the text's edges.
 * A separator run (a maximal run of SEP characters: whitespace and . - _ * · , / | ~ — ―) is
 * removed when a single letter sits right on each side of it and it has at most
 * MAX_SEPARATOR_UNITS units (a whitespace run counts as one) and MAX_SEPARATOR_CHARS
 * characters. So "h a t e", "h.a.t.e", "h . a . t . e" and "h  a  t  e" fold to "hate" while
 * "a cat" and "I am ok" keep their spaces; "I a m" does become "iam", and so do spaced-out
 * words next to each other ("h a t e y o u" → "hateyou"). Every whitespace run that stays
 * folds to one space, mapped to the run's first character, so "another   phrase" and
 * "another\nphrase" both match "another phrase".
 *
 * The decision for a run needs the character after the letter that follows it, so a run is
 * held only after a single letter, and never longer than MAX_SEPARATOR_CHARS + 1 characters.
 * A whitespace run longer than that is kept even between single letters; it is the one case
 * where folding folded text again changes something (its one space would then join).
 */
export class SpacingJoiner {
  private mode = NORMAL
  /** The previous character was a separator or word-bounding punctuation, or there was none. */
  private prevSep = true
  /** The previous character is a single letter so far (a separator before it, a JOIN). */
  private prevSingle = false
  /** In a kept run, the last character written was a collapsed space. */
  private lastWs = false
  private readonly cps = new Int32Array(MAX_SEPARATOR_CHARS + 1)
  private readonly starts = new Int32Array(MAX_SEPARATOR_CHARS + 1)
  private readonly ends = new Int32Array(MAX_SEPARATOR_CHARS + 1)
  private readonly classes = new Uint8Array(MAX_SEPARATOR_CHARS + 1)
  private held = 0
  private units = 0
  private yCp = 0
  private yStart = 0
  private yEnd = 0
  private yClass = 0

  constructor(private readonly out: LeetMapper) {}

  unit(cp: number, start: number, end: number): void {
    const cls = cp < 0x80 ? ASCII_CLASS[cp]! : foldClass(cp)
    if (this.mode !== NORMAL && this.continueRun(cp, start, end, cls)) return
    if ((cls & SEP) !== 0) {
      if (this.prevSingle) {
        this.mode = RUN
        this.held = 0
        this.units = 0
        this.addSeparator(cp, start, end, cls)
      } else {
        this.mode = KEPT
        this.lastWs = false
        this.kept(cp, start, end, cls)
      }
      this.prevSep = true
      this.prevSingle = false
      return
    }
    this.prevSingle = this.prevSep && (cls & JOIN) !== 0
    this.prevSep = (cls & BOUND) !== 0
    this.out.unit(cp, start, end, cls)
  }

  end(): void {
    if (this.mode === RUN) this.flushKept()
    else if (this.mode === RUN_Y) this.out.unit(this.yCp, this.yStart, this.yEnd, this.yClass)
    this.mode = NORMAL
    this.held = 0
  }

  heldFrom(): number {
    return this.mode === RUN || this.mode === RUN_Y ? this.starts[0]! : NONE
  }

  /** Handles the character while a run is open; false when it is left to the normal path. */
  private continueRun(cp: number, start: number, end: number, cls: number): boolean {
    if (this.mode === KEPT) {
      if ((cls & SEP) !== 0) {
        this.kept(cp, start, end, cls)
        return true
      }
      this.mode = NORMAL
      return false
    }
    if (this.mode === RUN) {
      if ((cls & SEP) !== 0) {
        this.addSeparator(cp, start, end, cls)
        return true
      }
      if ((cls & JOIN) !== 0) {
        this.yCp = cp
        this.yStart = start
        this.yEnd = end
        this.yClass = cls
        this.mode = RUN_Y
        return true
      }
      this.flushKept()
      this.mode = NORMAL
      return false
    }
    // RUN_Y: the letter after the run is single when this character is a separator or bound.
    if ((cls & (SEP | BOUND)) !== 0) this.held = 0
    else this.flushKept()
    this.out.unit(this.yCp, this.yStart, this.yEnd, this.yClass)
    this.mode = NORMAL
    this.prevSep = false
    this.prevSingle = true
    return false
  }

  private addSeparator(cp: number, start: number, end: number, cls: number): void {
    const n = this.held
    if ((cls & WS) === 0 || n === 0 || (this.classes[n - 1]! & WS) === 0) this.units++
    this.cps[n] = cp
    this.starts[n] = start
    this.ends[n] = end
    this.classes[n] = cls
    this.held = n + 1
    if (this.units > MAX_SEPARATOR_UNITS || this.held > MAX_SEPARATOR_CHARS) {
      this.flushKept()
      this.mode = KEPT
    }
  }

  private flushKept(): void {
    this.lastWs = false
    const n = this.held
    this.held = 0
    for (let i = 0; i < n; i++) this.kept(this.cps[i]!, this.starts[i]!, this.ends[i]!, this.classes[i]!)
  }

  private kept(cp: number, start: number, end: number, cls: number): void {
    if ((cls & WS) !== 0) {
      if (!this.lastWs) this.out.unit(0x20, start, end, cls)
      this.lastWs = true
    } else {
      this.out.unit(cp, start, end, cls)
      this.lastWs = false
    }
  }
}
