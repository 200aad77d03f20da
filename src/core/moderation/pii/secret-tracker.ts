import type { TextView } from '../types.js'
import { isHighEntropySecret, MAX_SECRET_LENGTH } from './api-key.js'
import { SECRET_VALUE } from './char-class.js'
import type { HitSink } from './hit-sink.js'
import { API_KEY } from './pii-types.js'

const IDLE = 0
/** After a word like `api_key`: spaces or a quote, then `=` or `:`. */
const BEFORE_SIGN = 1
/** After the sign (or after `Bearer`): spaces or a quote, then the value. */
const BEFORE_VALUE = 2
const VALUE = 3
/** The value outgrew MAX_SECRET_LENGTH: let the rest of it through. */
const OVERFLOW = 4
/** Spaces and quotes allowed between the word, the sign and the value. */
const MAX_GAP = 3

/**
 * Generic secrets: `key=…`, `client_secret: "…"`, `Bearer …` followed by at least 20 characters
 * with Shannon entropy ≥ 3.5 bits each. Only the value is a hit (and held): the word before it
 * is not sensitive and has long been released.
 */
export class SecretTracker {
  private state = IDLE
  private gap = 0
  private valueStart = 0

  constructor(private readonly sink: HitSink) {}

  get holdFrom(): number {
    return this.state === VALUE ? this.valueStart : -1
  }

  /** Whether step() has anything to do; when not, only arm() can change that. */
  get busy(): boolean {
    return this.state !== IDLE
  }

  /** A secret word just ended (before the character about to be stepped). */
  arm(bearer: boolean): void {
    if (this.state === VALUE || this.state === OVERFLOW) return
    this.state = bearer ? BEFORE_VALUE : BEFORE_SIGN
    this.gap = 0
  }

  step(view: TextView, c: number, cls: number, i: number): void {
    switch (this.state) {
      case BEFORE_SIGN:
        if (c === 58 || c === 61) {
          this.state = BEFORE_VALUE
          this.gap = 0
        } else if (!this.skip(c)) this.state = IDLE
        return
      case BEFORE_VALUE:
        if (cls & SECRET_VALUE) {
          this.state = VALUE
          this.valueStart = i
        } else if (!this.skip(c)) this.state = IDLE
        return
      case VALUE:
        if (!(cls & SECRET_VALUE)) this.finish(view, i)
        else if (i - this.valueStart >= MAX_SECRET_LENGTH) this.state = OVERFLOW
        return
      case OVERFLOW:
        if (!(cls & SECRET_VALUE)) this.state = IDLE
        return
    }
  }

  /** Letters up to `last` arrived inside a word: they can only extend a value. */
  grow(last: number): void {
    if (this.state === VALUE && last - this.valueStart >= MAX_SECRET_LENGTH) this.state = OVERFLOW
  }

  end(view: TextView, i: number): void {
    if (this.state === VALUE) this.finish(view, i)
    this.state = IDLE
  }

  private skip(c: number): boolean {
    return (c === 32 || c === 34 || c === 39) && ++this.gap <= MAX_GAP
  }

  private finish(view: TextView, end: number): void {
    this.state = IDLE
    while (end > this.valueStart && view.charCodeAt(end - 1) === 46) end--
    if (isHighEntropySecret(view.slice(this.valueStart, end))) this.sink.emit(API_KEY, this.valueStart, end)
  }
}
