import type { TextView } from '../types.js'
import type { HitSink } from './hit-sink.js'
import { ibanLength, validateIban } from './iban.js'
import { IBAN } from './pii-types.js'

const BROKEN = 0
const INVALID = -1
const GOING_ON = -2

/**
 * IBANs printed in groups of four (`GB82 WEST 1234 5698 7654 32`), followed token by token: a
 * first group of two letters and two check digits fixes the total length from the country, so
 * the chain knows exactly how many groups to wait for and decides as soon as the last arrives.
 */
export class IbanChain {
  private start = -1
  private collected = 0
  private need = 0
  /** Offset where the next group must begin (just after one space). */
  private expect = -1

  constructor(private readonly sink: HitSink) {}

  get holdFrom(): number {
    return this.start
  }

  /** Where the next group must start, or -1: any other character there breaks the chain. */
  get expectAt(): number {
    return this.start < 0 ? -1 : this.expect
  }

  reset(): void {
    this.start = -1
  }

  /** One token [start, end) ended, followed by the code unit `next` (-1 at the end of text). */
  onToken(view: TextView, start: number, end: number, next: number): void {
    if (this.start >= 0) {
      const first = this.start
      const r = start === this.expect ? this.extend(view, start, end, next) : BROKEN
      if (r > 0) this.sink.emit(IBAN, first, r)
      if (r !== BROKEN) return
      this.start = -1
    }
    this.tryStart(view, start, end, next)
  }

  /** The IBAN's end when this group completed a valid one, or INVALID, GOING_ON, BROKEN. */
  private extend(view: TextView, start: number, end: number, next: number): number {
    let k = 0
    while (start + k < end && k <= 4 && isAlnum(view.charCodeAt(start + k))) k++
    if (k === 0 || k > 4) return BROKEN
    const clean = start + k === end
    if (this.collected + k === this.need) {
      // The last group may carry the sentence's punctuation: "… 7654 32."
      if (!clean && !isTrailingPunct(view, start + k, end)) return BROKEN
      const first = this.start
      this.start = -1
      return validateIban(view.slice(first, start + k)) ? start + k : INVALID
    }
    if (k === 4 && clean && next === 32 && this.collected + 4 < this.need) {
      this.collected += 4
      this.expect = end + 1
      return GOING_ON
    }
    return BROKEN
  }

  private tryStart(view: TextView, start: number, end: number, next: number): void {
    if (end - start !== 4 || next !== 32) return
    const a = view.charCodeAt(start)
    const b = view.charCodeAt(start + 1)
    if (!isLetter(a) || !isLetter(b)) return
    if (!isDigit(view.charCodeAt(start + 2)) || !isDigit(view.charCodeAt(start + 3))) return
    const need = ibanLength(String.fromCharCode(a, b))
    if (need === 0) return
    this.start = start
    this.collected = 4
    this.need = need
    this.expect = end + 1
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
}

function isAlnum(c: number): boolean {
  return isDigit(c) || isLetter(c)
}

function isTrailingPunct(view: TextView, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = view.charCodeAt(i)
    if (c !== 46 && c !== 33 && c !== 63 && c !== 58) return false
  }
  return true
}
