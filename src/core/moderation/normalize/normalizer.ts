import type { IncrementalNormalizer } from '../types.js'
import { ViewBuffer } from '../view-buffer.js'
import { Base64Runs } from './base64.js'
import { ASCII_COMPOSES, EXTENDER, combineSurrogates, isLowSurrogate, props } from './code-points.js'
import { ASCII_FOLD, foldCodePoint, literalCodePoint, literalSegment } from './fold-char.js'
import { FoldedSink } from './folded-sink.js'
import { LeetMapper } from './leet.js'
import { SpacingJoiner } from './spacing.js'

export interface NormalizerOptions {
  /** Also fold what base64 runs of 16+ characters decode to (appended to the folded view). */
  decodeBase64?: boolean
  /**
   * Hold an ASCII letter that ends a push until the next push, in case a combining mark
   * follows that NFKC composes with it. Off by default: LLM text is precomposed, and holding
   * the last letter of every delta would delay every token by one inter-token interval. With it
   * off, a mark that arrives in a later push than its letter is normalized on its own (the
   * folded view strips it either way); only then do the views differ from the whole text's.
   */
  composeAcrossPushes?: boolean
}

/**
 * Most code points a segment holds; further extenders start a new one. UAX #15's stream-safe
 * format caps runs of non-starters at 30 the same way, so Zalgo text cannot hold text back.
 */
export const MAX_SEGMENT = 32

/**
 * Text is cut into segments: a code point that starts fresh (nothing before it can combine
 * with it under NFKC) and the extenders after it (combining marks, Hangul medial and final
 * jamo…). NFKC of the text is the concatenation of NFKC of its segments, so a segment is
 * normalized once it is closed, which is when the next one starts; only the open segment is
 * not final. ASCII never goes through String.prototype.normalize: its literal form is itself
 * and its fold a table lookup; and only a letter (or < = >) waits for the next character, in
 * case a mark follows that composes with it.
 *
 * Every unit of both views maps to its whole segment's span, so redacting a letter also
 * removes the marks on it. The folded view then goes through the spacing stage (spaced-out
 * letters, whitespace runs), the leetspeak stage and the sink (base64 insertions), each of
 * which holds a bounded number of characters; `pending` is the earliest original offset any
 * of them holds.
 */
class Normalizer implements IncrementalNormalizer {
  readonly literal = new ViewBuffer()
  readonly folded = new ViewBuffer()
  private readonly sink = new FoldedSink(this.folded)
  private readonly leet = new LeetMapper(this.sink)
  private readonly spacing = new SpacingJoiner(this.leet)
  private readonly base64: Base64Runs | null
  /** Original code units received. */
  private total = 0
  /** A high surrogate that ended the last push, waiting for its low half; -1 when none. */
  private carry = -1
  /** Original offset of the open segment; -1 when none is open. */
  private segStart = -1
  /** The open segment's code when it is one ASCII character, else -1. */
  private segAscii = -1
  private segCount = 0
  /** Where the open segment starts in the string being scanned; -1 when it began in an earlier push. */
  private segLocal = -1
  /** The open segment's text from earlier pushes, unless segHeadAscii holds it. */
  private segHead = ''
  /** The open segment's text from earlier pushes when that is one ASCII character, else -1. */
  private segHeadAscii = -1
  private ended = false
  private readonly composeAcrossPushes: boolean

  constructor(options: NormalizerOptions) {
    this.base64 = options.decodeBase64 === true ? new Base64Runs(this.sink, foldPlain) : null
    this.composeAcrossPushes = options.composeAcrossPushes === true
  }

  get pending(): number {
    if (this.ended) return this.total
    let p = this.segStart >= 0 ? this.segStart : this.carry >= 0 ? this.total - 1 : this.total
    p = Math.min(p, this.spacing.heldFrom(), this.leet.heldFrom(), this.sink.heldFrom())
    return this.base64 === null ? p : Math.min(p, this.base64.heldFrom())
  }

  push(text: string): void {
    if (this.ended) throw new Error('normalizer: push() after end()')
    if (text.length === 0) return
    let s = text
    let base = this.total
    if (this.carry >= 0) {
      s = String.fromCharCode(this.carry) + text
      base--
      this.carry = -1
    }
    this.total = base + s.length
    let n = s.length
    const last = s.charCodeAt(n - 1)
    if (last >= 0xd800 && last <= 0xdbff) {
      this.carry = last
      n--
    }
    this.scan(s, base, n)
    if (!this.composeAcrossPushes && this.segAscii >= 0 && this.segStart >= 0 && this.carry < 0) this.closeSegment(s, base, n)
    if (this.base64 !== null) this.sink.settle(Math.min(this.spacing.heldFrom(), this.leet.heldFrom()))
  }

  end(): void {
    if (this.ended) return
    if (this.carry >= 0) {
      const lone = String.fromCharCode(this.carry)
      this.carry = -1
      this.scan(lone, this.total - 1, 1)
    }
    if (this.segStart >= 0) this.closeSegment('', this.total, 0)
    this.base64?.finish()
    this.spacing.end()
    this.leet.end()
    this.sink.end()
    this.ended = true
  }

  /** Cuts s[0, n) (at original offset `base`) into segments, closing all but the last. */
  private scan(s: string, base: number, n: number): void {
    if (this.segStart >= 0) this.segLocal = -1
    let i = 0
    while (i < n) {
      let c = s.charCodeAt(i)
      if (c < 0x80) {
        if (this.segStart >= 0) this.closeSegment(s, base, i)
        // The common case: an ASCII character followed by another is a closed segment.
        while (i + 1 < n) {
          const next = s.charCodeAt(i + 1)
          if (next >= 0x80) break
          this.emitAscii(c, base + i)
          c = next
          i++
        }
        if (ASCII_COMPOSES[c] === 0) {
          this.emitAscii(c, base + i++)
          continue
        }
        this.segStart = base + i
        this.segAscii = c
        this.segCount = 1
        this.segLocal = i++
        continue
      }
      let cp = c
      let width = 1
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLowSurrogate(s.charCodeAt(i + 1))) {
        cp = combineSurrogates(c, s.charCodeAt(i + 1))
        width = 2
      }
      if (this.segStart >= 0 && this.segCount < MAX_SEGMENT && (props(cp) & EXTENDER) !== 0) {
        this.segAscii = -1
        this.segCount++
        i += width
        continue
      }
      if (this.segStart >= 0) this.closeSegment(s, base, i)
      this.segStart = base + i
      this.segAscii = -1
      this.segCount = 1
      this.segLocal = i
      i += width
    }
    if (this.segStart >= 0) {
      // An open ASCII segment needs no copy: its code is enough to rebuild it.
      if (this.segAscii >= 0) this.segHead = ''
      else this.segHead = this.segLocal >= 0 ? s.slice(this.segLocal, n) : this.earlierHead() + s.slice(0, n)
      this.segHeadAscii = this.segAscii
      this.segLocal = -1
    }
  }

  /** The open segment's text from earlier pushes. */
  private earlierHead(): string {
    return this.segHeadAscii >= 0 ? String.fromCharCode(this.segHeadAscii) : this.segHead
  }

  private emitAscii(c: number, at: number): void {
    if (this.base64 !== null) this.base64.segment(c, at, at + 1)
    this.literal.appendCode(c, at, at + 1)
    this.spacing.unit(ASCII_FOLD[c]!, at, at + 1)
  }

  /** Closes the open segment, which ends at s[j] (original offset base + j). */
  private closeSegment(s: string, base: number, j: number): void {
    const start = this.segStart
    this.segStart = -1
    const c = this.segAscii
    if (c >= 0) {
      this.emitAscii(c, start)
      return
    }
    const end = base + j
    const seg = this.segLocal >= 0 ? s.slice(this.segLocal, j) : this.earlierHead() + s.slice(0, j)
    this.segHead = ''
    this.segHeadAscii = -1
    this.base64?.segment(-1, start, end)
    const first = seg.codePointAt(0)!
    const single = seg.length === (first > 0xffff ? 2 : 1)
    this.literal.append(single && first >= 0x80 ? literalCodePoint(first) : literalSegment(seg), start, end)
    for (let i = 0; i < seg.length; ) {
      const cp = seg.codePointAt(i)!
      i += cp > 0xffff ? 2 : 1
      if (cp < 0x80) {
        this.spacing.unit(ASCII_FOLD[cp]!, start, end)
        continue
      }
      const f = foldCodePoint(cp)
      for (let k = 0; k < f.length; ) {
        const u = f.codePointAt(k)!
        k += u > 0xffff ? 2 : 1
        this.spacing.unit(u, start, end)
      }
    }
  }
}

/** A normalizer for one text channel. */
export function createNormalizer(options: NormalizerOptions = {}): IncrementalNormalizer {
  return new Normalizer(options)
}

/** The folded view of a whole text, without base64 decoding (what a decoded run folds to). */
function foldPlain(text: string): string {
  const n = new Normalizer({ composeAcrossPushes: true })
  n.push(text)
  n.end()
  return n.folded.slice(0)
}
