import { ALPHA, BANG, LEET, LEET_LETTER } from './fold-classes.js'
import type { FoldedSink } from './folded-sink.js'

const NONE = Number.MAX_SAFE_INTEGER
/** Longest leet run that still reads as letters: "h4x0r", "n00b"; "x0134578013" keeps its digits. */
export const MAX_LEET_RUN = 8

const K_OTHER = 0
const K_ALPHA = 1
const K_LEET = 2
const K_BANG = 3

/**
 * Leetspeak, on the output of the spacing stage. A leet run is a maximal run of leet
 * characters (0 1 3 4 5 7 8 @ $ |, and ! or + under the rule below); it reads as letters when
 * it is at most MAX_LEET_RUN long and a letter touches it on either side. So "h4t3", "$h1t"
 * and "ki||" fold to letters while "page 1 of 3", "1337" and "$5" keep their digits.
 *
 * ! and + are leet characters only when isolated (the character before is not ! or +) and
 * followed by a letter or another leet character: "sh!t" and "!diot" fold, "kill!" and "c++"
 * do not. Both rules only look at immediate neighbours or inside a bounded run, so at most
 * MAX_LEET_RUN + 1 characters are held, and folding folded text changes nothing.
 */
export class LeetMapper {
  private readonly cps = new Int32Array(MAX_LEET_RUN)
  private readonly starts = new Int32Array(MAX_LEET_RUN)
  private readonly ends = new Int32Array(MAX_LEET_RUN)
  private run = 0
  private runAfterAlpha = false
  /** The current run outgrew MAX_LEET_RUN: the rest of it passes unchanged. */
  private long = false
  private prev = K_OTHER
  private bang = -1
  private bangStart = 0
  private bangEnd = 0
  private bangAfterBang = false

  constructor(private readonly out: FoldedSink) {}

  unit(cp: number, start: number, end: number, cls: number): void {
    if (this.run === 0 && this.bang < 0 && (cls & (LEET | BANG)) === 0) {
      // Nothing held: a letter or other character passes straight through.
      this.long = false
      this.out.unit(cp, start, end)
      this.prev = (cls & ALPHA) !== 0 ? K_ALPHA : K_OTHER
      return
    }
    if (this.bang >= 0) this.settleBang(cls)
    if ((cls & LEET) !== 0) {
      this.leet(cp, start, end)
    } else if ((cls & BANG) !== 0) {
      this.bang = cp
      this.bangStart = start
      this.bangEnd = end
      this.bangAfterBang = this.prev === K_BANG
    } else {
      this.endRun((cls & ALPHA) !== 0)
      this.out.unit(cp, start, end)
      this.prev = (cls & ALPHA) !== 0 ? K_ALPHA : K_OTHER
    }
  }

  end(): void {
    if (this.bang >= 0) this.settleBang(0)
    this.endRun(false)
  }

  heldFrom(): number {
    if (this.run !== 0) return this.starts[0]!
    return this.bang >= 0 ? this.bangStart : NONE
  }

  private settleBang(next: number): void {
    const cp = this.bang
    this.bang = -1
    if (!this.bangAfterBang && (next & (ALPHA | LEET)) !== 0) {
      this.leet(cp, this.bangStart, this.bangEnd)
    } else {
      this.endRun(false)
      this.out.unit(cp, this.bangStart, this.bangEnd)
      this.prev = K_BANG
    }
  }

  private leet(cp: number, start: number, end: number): void {
    const before = this.prev
    this.prev = K_LEET
    if (this.long) {
      this.out.unit(cp, start, end)
      return
    }
    if (this.run === MAX_LEET_RUN) {
      for (let i = 0; i < this.run; i++) this.out.unit(this.cps[i]!, this.starts[i]!, this.ends[i]!)
      this.out.unit(cp, start, end)
      this.run = 0
      this.long = true
      return
    }
    if (this.run === 0) this.runAfterAlpha = before === K_ALPHA
    this.cps[this.run] = cp
    this.starts[this.run] = start
    this.ends[this.run++] = end
  }

  private endRun(alphaNext: boolean): void {
    this.long = false
    const n = this.run
    if (n === 0) return
    this.run = 0
    const map = this.runAfterAlpha || alphaNext
    for (let i = 0; i < n; i++) {
      const cp = this.cps[i]!
      this.out.unit(map ? LEET_LETTER[cp]! : cp, this.starts[i]!, this.ends[i]!)
    }
  }
}
