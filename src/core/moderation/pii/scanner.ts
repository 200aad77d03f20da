import type { CountryCode } from 'libphonenumber-js'
import type { Hit, StreamScanner, TextView } from '../types.js'
import { CLASS, LETTER, LOWER, NUMBER_START } from './char-class.js'
import { BEARER_WORD, ContextWords, SECRET_WORD } from './context-words.js'
import { HitSink } from './hit-sink.js'
import { NumberTracker } from './number-tracker.js'
import { API_KEY, NUMBER_TYPES, TOKEN_TYPES, type TypeMask } from './pii-types.js'
import { SecretTracker } from './secret-tracker.js'
import { TokenTracker } from './token-tracker.js'

/**
 * One stream's PII detection over the literal view. Every code unit the view gains is read once,
 * by a handful of small state machines (context words, number runs, tokens, secret values); each
 * validates a candidate once it can no longer grow and reports how far back it still needs the
 * text held. Decisions depend only on the characters, never on where the pushes split them.
 */
export class PiiScanner implements StreamScanner {
  /** Absolute offset of the next code unit to read; -1 before the first scan. */
  private pos = -1
  private prevCls = 0
  private ended = false
  private readonly sink: HitSink
  private readonly words: ContextWords
  private readonly numbers: NumberTracker | null
  private readonly tokens: TokenTracker | null
  private readonly secrets: SecretTracker | null

  constructor(want: TypeMask, ids: Int32Array, country: CountryCode) {
    this.sink = new HitSink(ids)
    this.words = new ContextWords((want & API_KEY) !== 0)
    this.numbers = want & NUMBER_TYPES ? new NumberTracker(want, country, this.words, this.sink) : null
    this.tokens = want & TOKEN_TYPES ? new TokenTracker(want, this.sink) : null
    this.secrets = want & API_KEY ? new SecretTracker(this.sink) : null
  }

  scan(view: TextView, final: boolean, hits: Hit[]): void {
    if (this.ended) return
    if (this.pos < 0) this.pos = view.base
    this.sink.hits = hits
    const { words, numbers, tokens, secrets } = this
    const to = view.length
    let prevCls = this.prevCls
    for (let i = this.pos; i < to; i++) {
      const c = view.charCodeAt(i)
      const cls = c < 128 ? CLASS[c]! : 0
      if (cls & LETTER && words.wordStart >= 0 && (numbers === null || numbers.lettersInert)) {
        // Fast path: the rest of a word, read in one go.
        const next = words.continueRun(view, i, to)
        const last = next - 1
        tokens?.grow(words.runClasses, last)
        numbers?.grow(words.wordLength)
        secrets?.grow(last)
        prevCls = LOWER // a letter: all the trackers ask of it
        i = last
        continue
      }
      words.step(c, cls, i, prevCls)
      if (secrets !== null) {
        if (words.lastEnd === i && (words.lastFlags & (SECRET_WORD | BEARER_WORD)) !== 0) {
          secrets.arm((words.lastFlags & BEARER_WORD) !== 0)
        }
        if (secrets.busy) secrets.step(view, c, cls, i)
      }
      if (numbers !== null && (cls & NUMBER_START || numbers.busy)) numbers.step(view, c, cls, i, prevCls)
      if (tokens !== null) tokens.step(view, c, cls, i)
      prevCls = cls
    }
    this.prevCls = prevCls
    this.pos = to
    if (final) {
      words.end(to)
      numbers?.end(view, to)
      tokens?.end(view, to)
      secrets?.end(view, to)
      this.ended = true
    }
  }

  holdFrom(): number {
    let from = this.pos
    if (this.ended) return from
    const n = this.numbers === null ? -1 : this.numbers.holdFrom
    if (n >= 0 && n < from) from = n
    const t = this.tokens === null ? -1 : this.tokens.holdFrom
    if (t >= 0 && t < from) from = t
    const s = this.secrets === null ? -1 : this.secrets.holdFrom
    if (s >= 0 && s < from) from = s
    return from
  }
}
