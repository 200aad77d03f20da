import type { TextView } from '../types.js'
import { TOKEN } from './char-class.js'
import type { HitSink } from './hit-sink.js'
import { IbanChain } from './iban-chain.js'
import { MAX_JWT } from './jwt.js'
import { IBAN, type TypeMask } from './pii-types.js'
import { evaluateToken, tokenCandidates } from './token-run.js'

/** Longest token held; a longer one (a base64 blob) is let through without hits. */
export const MAX_TOKEN = MAX_JWT + 64

/**
 * Follows whitespace-free tokens (ASCII letters, digits and the punctuation e-mails, URLs, keys
 * and JWTs are made of) and validates each once it ends. Any token is held while it grows: an
 * ordinary word may still become an e-mail's local part when '@' arrives.
 */
export class TokenTracker {
  private start = -1
  private classes = 0
  private overflow = false
  private readonly found: number[] = []
  private readonly scratch: number[] = []
  private readonly chain: IbanChain | null

  constructor(
    private readonly want: TypeMask,
    private readonly sink: HitSink,
  ) {
    this.chain = want & IBAN ? new IbanChain(sink) : null
  }

  /** The earliest offset still undecided, or -1. */
  get holdFrom(): number {
    const c = this.chain === null ? -1 : this.chain.holdFrom
    if (this.start < 0 || this.overflow) return c
    return c < 0 ? this.start : Math.min(c, this.start)
  }

  step(view: TextView, c: number, cls: number, i: number): void {
    if (cls & TOKEN) {
      if (this.start < 0) {
        this.start = i
        this.classes = cls
        this.overflow = false
      } else {
        this.classes |= cls
        if (i - this.start >= MAX_TOKEN) this.overflow = true
      }
      return
    }
    if (this.start >= 0) this.finish(view, i, c)
    // The next IBAN group had to start here.
    if (this.chain !== null && i === this.chain.expectAt) this.chain.reset()
  }

  /** The letters up to `last` continued the current token (see ContextWords.continueRun). */
  grow(classes: number, last: number): void {
    this.classes |= classes
    if (last - this.start >= MAX_TOKEN) this.overflow = true
  }

  /** The text ended. */
  end(view: TextView, i: number): void {
    if (this.start >= 0) this.finish(view, i, -1)
    this.chain?.reset()
  }

  private finish(view: TextView, end: number, next: number): void {
    const start = this.start
    this.start = -1
    if (this.overflow) {
      this.chain?.reset()
      return
    }
    const types = tokenCandidates(this.want, this.classes, end - start)
    if (types !== 0) {
      const found = this.found
      found.length = 0
      evaluateToken(view.slice(start, end), types, found, this.scratch)
      for (let k = 0; k < found.length; k += 3) this.sink.emit(found[k]!, start + found[k + 1]!, start + found[k + 2]!)
    }
    this.chain?.onToken(view, start, end, next)
  }
}
