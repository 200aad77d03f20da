import type { CountryCode } from 'libphonenumber-js'
import type { TextView } from '../types.js'
import { DIGIT, LETTER } from './char-class.js'
import {
  CNPJ_WORD,
  CPF_WORD,
  MAX_WORD,
  PHONE_AFTER,
  PHONE_BEFORE,
  SSN_WORD,
  type ContextWords,
} from './context-words.js'
import type { HitSink } from './hit-sink.js'
import { evaluateNumberRun, MAX_NUMBER_RUN, type NumberContext } from './number-run.js'
import { PHONE, type TypeMask } from './pii-types.js'

const IDLE = 0
/** Reading a run of digits and number punctuation. */
const RUN = 1
/** Just read an 'x' after a digit: an extension if a digit follows. */
const AFTER_X = 2
/** The run ended in a space or dash before a word: waiting for it ("… office", "-Fax"). */
const TRAILING = 3
/** The run outgrew MAX_NUMBER_RUN without a space to cut at: no hits until it ends. */
const OVERFLOW = 4

/**
 * Finds phones, cards, SSNs, CPF/CNPJ, IPv4 and MRNs in runs of digits, single spaces and
 * `-.()+/x`, one character at a time. A run starts only after a character that is not a letter
 * or digit (numbers inside words are not numbers), and is validated once it ends.
 */
export class NumberTracker {
  private state: number = IDLE
  private start = 0
  private digits = 0
  private dots = 0
  private lastDigit = -1
  private lastSpace = -1
  /** Separators in a row; more than two end the run. */
  private seps = 0
  private prev = 0
  private xAt = 0
  private trailingAt = 0
  private readonly trailing: number[] = []
  private readonly found: number[] = []
  private readonly ctx: NumberContext = {
    phone: false,
    ssn: false,
    cpf: false,
    cnpj: false,
    mrn: false,
    gluedRight: false,
  }

  constructor(
    private readonly want: TypeMask,
    private readonly country: CountryCode,
    private readonly words: ContextWords,
    private readonly sink: HitSink,
  ) {}

  /** The earliest offset still undecided, or -1. */
  get holdFrom(): number {
    return this.state === IDLE || this.state === OVERFLOW ? -1 : this.start
  }

  /** Whether any character may change this tracker; when not, only NUMBER_START ones do. */
  get busy(): boolean {
    return this.state !== IDLE
  }

  /** Whether letters after the first of a word leave this tracker as it is. */
  get lettersInert(): boolean {
    return this.state === IDLE || this.state === TRAILING
  }

  /** Letters arrived inside a word (see ContextWords.continueRun). */
  grow(wordLength: number): void {
    if (this.state === TRAILING && wordLength > MAX_WORD) this.settleTrailing(false)
  }

  step(view: TextView, c: number, cls: number, i: number, prevCls: number): void {
    switch (this.state) {
      case RUN:
        if (cls & DIGIT) {
          this.digits++
          this.lastDigit = i
          this.seps = 0
        } else if ((c === 120 || c === 88) && this.prev >= 48 && this.prev <= 57) {
          this.state = AFTER_X
          this.xAt = i
        } else if (!isRunPunct(c) || !this.separator(c, i)) {
          if (!this.finish(view, i, cls)) this.idle(c, cls, i, prevCls)
          return
        }
        this.prev = c
        if (i - this.start >= MAX_NUMBER_RUN) this.cut(view, i)
        return
      case AFTER_X:
        if (cls & DIGIT) {
          this.state = RUN
          this.digits++
          this.lastDigit = i
          this.seps = 0
          this.prev = c
          if (i - this.start >= MAX_NUMBER_RUN) this.cut(view, i)
          return
        }
        // "555-1234xyz": the x was the start of a word glued to the number.
        this.finish(view, this.xAt, LETTER)
        this.state = IDLE
        return
      case TRAILING:
        if (this.words.wordStart === this.trailingAt) {
          if (this.words.wordLength > MAX_WORD) this.settleTrailing(false)
          return
        }
        this.settleTrailing(this.trailingWordEndedAt(i))
        this.idle(c, cls, i, prevCls)
        return
      case OVERFLOW:
        if (!(cls & DIGIT) && !isRunPunct(c)) {
          this.state = IDLE
          this.idle(c, cls, i, prevCls)
        }
        return
      default:
        this.idle(c, cls, i, prevCls)
    }
  }

  /** The text ended. */
  end(view: TextView, i: number): void {
    if (this.state === RUN) this.finish(view, i, 0)
    else if (this.state === AFTER_X) this.finish(view, this.xAt, LETTER)
    else if (this.state === TRAILING) this.settleTrailing(this.trailingWordEndedAt(i))
    this.state = IDLE
  }

  private idle(c: number, cls: number, i: number, prevCls: number): void {
    const opens = (cls & DIGIT) !== 0 || c === 43 || c === 40
    if (!opens) return
    if (prevCls & (DIGIT | LETTER) && i !== this.words.mrnDigitsAt) return
    this.begin(i)
    this.prev = c
    if (cls & DIGIT) {
      this.digits = 1
      this.lastDigit = i
    }
  }

  private begin(i: number): void {
    this.state = RUN
    this.start = i
    this.digits = 0
    this.dots = 0
    this.lastDigit = -1
    this.lastSpace = -1
    this.seps = 0
  }

  /** Counts one separator; false when it ends the run (two spaces, three separators in a row). */
  private separator(c: number, i: number): boolean {
    if ((c === 32 && this.prev === 32) || this.seps === 2) return false
    this.seps++
    if (c === 32) this.lastSpace = i
    else if (c === 46) this.dots++
    return true
  }

  /** The run is too long: evaluate it up to its last space and go on from there. */
  private cut(view: TextView, i: number): void {
    if (this.lastSpace <= this.start) {
      this.state = OVERFLOW
      return
    }
    const space = this.lastSpace
    this.finish(view, space, 0)
    this.begin(space + 1)
    for (let k = space + 1; k <= i; k++) {
      const d = view.charCodeAt(k)
      if (d >= 48 && d <= 57) {
        this.digits++
        this.lastDigit = k
        this.seps = 0
      } else {
        if (d === 46) this.dots++
        this.seps++
      }
    }
  }

  /**
   * The run [start, end) is complete; `cls` is the class of the character after it (0 at the
   * end of the text). True when it now waits for the word after it.
   */
  private finish(view: TextView, end: number, cls: number): boolean {
    this.state = IDLE
    // Fewer digits than the shortest number type (an MRN has 6; an IPv4 address 4 and 3 dots).
    if (this.digits < 4 || (this.digits < 6 && this.dots < 3)) return false
    const ctx = this.ctx
    const w = this.words
    ctx.phone = w.near(PHONE_BEFORE, this.start)
    ctx.ssn = w.near(SSN_WORD, this.start)
    ctx.cpf = w.near(CPF_WORD, this.start)
    ctx.cnpj = w.near(CNPJ_WORD, this.start)
    ctx.mrn = this.start === w.mrnDigitsAt
    ctx.gluedRight = (cls & (DIGIT | LETTER)) !== 0 && this.lastDigit === end - 1
    const text = view.slice(this.start, end)
    const found = this.found
    const trailing = this.trailing
    found.length = 0
    trailing.length = 0
    evaluateNumberRun(text, this.want, ctx, this.country, found, trailing)
    const at = this.start
    for (let k = 0; k < found.length; k += 3) this.sink.emit(found[k]!, at + found[k + 1]!, at + found[k + 2]!)
    if (trailing.length === 0 || !(cls & LETTER)) return false
    const last = text.charCodeAt(text.length - 1)
    if (last !== 32 && last !== 45) return false
    this.state = TRAILING
    this.trailingAt = end
    return true
  }

  /** Whether the word the run waits for just ended at `i` and is a phone label ("office"). */
  private trailingWordEndedAt(i: number): boolean {
    const w = this.words
    return w.lastStart === this.trailingAt && w.lastEnd === i && (w.lastFlags & PHONE_AFTER) !== 0
  }

  private settleTrailing(confirmed: boolean): void {
    this.state = IDLE
    if (!confirmed) return
    const t = this.trailing
    for (let k = 0; k < t.length; k += 2) this.sink.emit(PHONE, this.start + t[k]!, this.start + t[k + 1]!)
  }
}

/** Space and `-.()+/`: what may sit between the digits of a number. */
function isRunPunct(c: number): boolean {
  return c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 43 || c === 47
}
