import type { TextView } from '../types.js'
import { CLASS, DIGIT, LETTER } from './char-class.js'

/**
 * Words that make a nearby number or value sensitive: "Phone:", "call me at", "SSN", "MRN",
 * `api_key=`… Read as ASCII letter runs with a rolling hash and a small buffer, so recognising
 * them costs no allocation and needs no text kept behind the hold point.
 */

export const PHONE_BEFORE = 1
export const PHONE_AFTER = 2
export const SSN_WORD = 4
export const CPF_WORD = 8
export const CNPJ_WORD = 16
export const MRN_WORD = 32
/** Ends in key, token, secret, password…: a value may follow after `=` or `:`. */
export const SECRET_WORD = 64
/** `Bearer`: a value follows after a space. */
export const BEARER_WORD = 128

/** A context word counts for a number that starts at most this many code units after it… */
export const CONTEXT_WINDOW = 48
/** …with at most this many other words in between. */
export const CONTEXT_WORDS_BETWEEN = 4
/** Longest word recognised; longer letter runs are never context words. */
export const MAX_WORD = 24

const B = PHONE_BEFORE
const A = PHONE_AFTER
const TABLE: ReadonlyArray<readonly [string, number]> = [
  ['phone', B | A], ['phones', B], ['telephone', B | A], ['tel', B | A], ['ph', B],
  ['mobile', B | A], ['cell', B | A], ['cellphone', B | A], ['fax', B | A], ['desk', B | A],
  ['landline', B | A], ['hotline', B], ['whatsapp', B | A], ['sms', B], ['call', B],
  ['calls', B], ['calling', B], ['dial', B], ['message', B], ['messages', B],
  ['answering', B], ['office', A], ['home', A], ['work', A],
  ['ssn', SSN_WORD], ['ssns', SSN_WORD], ['social', SSN_WORD],
  ['cpf', CPF_WORD], ['cnpj', CNPJ_WORD], ['mrn', MRN_WORD], ['bearer', BEARER_WORD],
]
const SECRET_SUFFIXES = ['key', 'token', 'secret', 'password', 'passwd', 'pwd', 'credential', 'credentials']

function hashOf(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0
  return h
}

/** One bit per hash bucket: most words miss here without a Map lookup. */
const FILTER_BITS = 1024
const WORDS = new Map<number, { word: string; flags: number }>()
const FILTER = new Uint8Array(FILTER_BITS)
for (const [word, flags] of TABLE) {
  const h = hashOf(word)
  if (WORDS.has(h)) throw new Error(`context word hash collision: ${word}`)
  WORDS.set(h, { word, flags })
  FILTER[h & (FILTER_BITS - 1)] = 1
}
/** Which three-letter endings a secret suffix has, indexed by tail3(): a one-load first test. */
const SUFFIX_TAILS = new Uint8Array(26 * 26 * 26)
for (const s of SECRET_SUFFIXES) {
  const n = s.length
  SUFFIX_TAILS[tail3(s.charCodeAt(n - 3), s.charCodeAt(n - 2), s.charCodeAt(n - 1))] = 1
}
const SUFFIX_CODES = SECRET_SUFFIXES.map((s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0)))

/** Index of three lower-case ASCII letters. */
function tail3(a: number, b: number, c: number): number {
  return (a - 97) * 676 + (b - 97) * 26 + (c - 97)
}

/** Per-kind memory of the last context word, indexed by the kind's bit position. */
const KINDS = 8

export class ContextWords {
  private start = -1
  private len = 0
  private hash = 0
  private glued = false
  private readonly buf = new Uint8Array(MAX_WORD)
  private count = 0

  /** The last finished letter run and its flags (0 for an ordinary word). */
  lastStart = -1
  lastEnd = -1
  lastFlags = 0

  private readonly endAt: number[] = new Array<number>(KINDS).fill(-Infinity)
  private readonly countAt: number[] = new Array<number>(KINDS).fill(0)

  /** Where the digits after `MRN[:#]? ?` must start, or -1. */
  mrnDigitsAt = -1
  private mrnGap = 0

  constructor(private readonly secrets: boolean) {}

  /** Whether a letter run is being read, and where it started. */
  get wordStart(): number {
    return this.start
  }

  get wordLength(): number {
    return this.len
  }

  /** Class bits of the letters continueRun() read, OR-ed. */
  runClasses = 0

  /**
   * Reads the rest of a letter run from `i` (the word is already started) and returns the offset
   * of the first code unit that is not an ASCII letter, or `to`. The scanner's fast path: inside
   * a word no other tracker changes state on a letter.
   */
  continueRun(view: TextView, i: number, to: number): number {
    let len = this.len
    let h = this.hash
    let acc = 0
    const buf = this.buf
    for (; i < to; i++) {
      const c = view.charCodeAt(i)
      if (c >= 128) break
      const cls = CLASS[c]!
      if (!(cls & LETTER)) break
      acc |= cls
      const lc = c | 32
      if (len < MAX_WORD) buf[len] = lc
      len++
      h = (Math.imul(h, 31) + lc) | 0
    }
    this.len = len
    this.hash = h
    this.runClasses = acc
    return i
  }

  step(c: number, cls: number, i: number, prevCls: number): void {
    if (cls & LETTER) {
      if (this.start < 0) {
        this.start = i
        this.len = 0
        this.hash = 0
        this.glued = (prevCls & DIGIT) !== 0
      }
      const lc = c | 32
      if (this.len < MAX_WORD) this.buf[this.len] = lc
      this.len++
      this.hash = (Math.imul(this.hash, 31) + lc) | 0
      return
    }
    if (this.start >= 0) this.finish(i, cls)
    if (this.mrnGap !== 0) this.stepMrn(c, cls, i)
  }

  /** The text ended: the word being read is complete. */
  end(i: number): void {
    if (this.start >= 0) this.finish(i, 0)
  }

  /** Whether a context word of this kind (one flag bit) ended shortly before `pos`. */
  near(kind: number, pos: number): boolean {
    const k = 31 - Math.clz32(kind)
    return pos - this.endAt[k]! <= CONTEXT_WINDOW && this.count - this.countAt[k]! <= CONTEXT_WORDS_BETWEEN
  }

  private finish(end: number, nextCls: number): void {
    this.count++
    this.lastStart = this.start
    this.lastEnd = end
    this.start = -1
    let flags = 0
    if (this.len <= MAX_WORD && !this.glued) {
      if (FILTER[this.hash & (FILTER_BITS - 1)] === 1) {
        const e = WORDS.get(this.hash)
        if (e !== undefined && this.matches(e.word)) flags = e.flags
      }
      if (this.secrets && this.len >= 3 && this.endsWithSecretWord()) flags |= SECRET_WORD
      // A word glued to the digits after it is a label only for MRN ("MRN123456").
      if (nextCls & DIGIT) flags &= MRN_WORD
    }
    this.lastFlags = flags
    if (flags === 0) return
    for (let k = 0; k < KINDS; k++) {
      if (flags & (1 << k)) {
        this.endAt[k] = end
        this.countAt[k] = this.count
      }
    }
    if (flags & MRN_WORD) this.mrnGap = 1
  }

  private matches(word: string): boolean {
    if (word.length !== this.len) return false
    for (let i = 0; i < word.length; i++) if (this.buf[i] !== word.charCodeAt(i)) return false
    return true
  }

  private endsWithSecretWord(): boolean {
    const n = this.len
    const buf = this.buf
    if (SUFFIX_TAILS[tail3(buf[n - 3]!, buf[n - 2]!, buf[n - 1]!)] !== 1) return false
    for (const s of SUFFIX_CODES) {
      if (s.length > n) continue
      let k = 0
      while (k < s.length && buf[n - s.length + k] === s[k]) k++
      if (k === s.length) return true
    }
    return false
  }

  // MRN[:#]? ?\d : after the word, an optional ':' or '#', an optional space, then the digits.
  private stepMrn(c: number, cls: number, i: number): void {
    const gap = this.mrnGap
    this.mrnGap = 0
    if (cls & DIGIT) this.mrnDigitsAt = i
    else if (gap === 1 && (c === 58 || c === 35)) this.mrnGap = 2
    else if (gap <= 2 && c === 32) this.mrnGap = 3
  }
}
