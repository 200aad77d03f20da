import type { TextView } from './types.js'

/**
 * Cuts the folded view into the windows a classifier scores: a window closes after a sentence
 * end (. ! ? newline and their full-width forms) or when it reaches `maxChars`, and the last one
 * closes when the stream ends. Sentence-sized windows keep the context a classifier needs
 * without holding text longer than a sentence.
 */
export class ClassifierWindows {
  private start: number
  private scanned: number

  constructor(
    private readonly maxChars: number,
    from = 0,
  ) {
    this.start = from
    this.scanned = from
  }

  /** Appends [start, end) of every window closed since the last call. */
  advance(view: TextView, final: boolean, out: Array<readonly [number, number]>): void {
    const end = view.length
    for (let i = this.scanned; i < end; i++) {
      const c = view.charCodeAt(i)
      if (isSentenceEnd(c) || i + 1 - this.start >= this.maxChars) {
        if (hasText(view, this.start, i + 1)) out.push([this.start, i + 1])
        this.start = i + 1
      }
    }
    this.scanned = end
    if (final && this.start < end) {
      if (hasText(view, this.start, end)) out.push([this.start, end])
      this.start = end
    }
  }

  /** Start of the window still open (view.length when none is). */
  openFrom(): number {
    return this.start
  }
}

function isSentenceEnd(c: number): boolean {
  return c === 0x2e || c === 0x21 || c === 0x3f || c === 0x0a || c === 0x3002 || c === 0xff01 || c === 0xff1f
}

function hasText(view: TextView, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = view.charCodeAt(i)
    if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) return true
  }
  return false
}
