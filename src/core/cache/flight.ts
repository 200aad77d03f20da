import { ChaperoneError } from '../errors.js'
import type { InFlight, ResponseSink } from '../chain/origin.js'

export interface FlightOptions {
  /**
   * Bytes kept so that late joiners get the response from its start and the entry can be stored
   * (the route's maxEntryBytes). Past it the flight stops recording and takes no more joiners.
   */
  readonly retainBytes: number
  /** Once it no longer records, the producer pauses while its slowest subscriber is this far behind. */
  readonly highWaterBytes: number
  readonly now: () => number
  /** Keep producing when every subscriber has left (a background refresh, a warm-up). */
  readonly keepAlive?: boolean
  /**
   * Whether a response may go to anyone but the request that caused it (no Set-Cookie, not
   * private): when it may not, every other subscriber is evicted and fetches on its own.
   */
  readonly shareable?: (rawHeaders: readonly string[]) => boolean
  /**
   * Bytes every flight of the process may keep together. A flight that cannot take more stops
   * recording (its answer is not stored), so many large misses at once stay within one bound.
   */
  readonly budget?: ByteBudget
}

export interface ByteBudget {
  take(bytes: number): boolean
  give(bytes: number): void
}

/** The upstream's answer, recorded whole: what an entry is built from. */
export interface Recording {
  readonly status: number
  readonly headers: readonly string[]
  readonly chunks: readonly Buffer[]
  /** When each chunk arrived, ms after the head. */
  readonly at: readonly number[]
  readonly bytes: number
}

export type FlightResult =
  | { readonly kind: 'complete'; readonly recording: Recording }
  /** Complete, but too big to have been kept. */
  | { readonly kind: 'unrecorded' }
  | { readonly kind: 'failed'; readonly error: ChaperoneError }
  /** Every subscriber left and the producer was stopped. */
  | { readonly kind: 'abandoned' }

interface Subscriber {
  readonly sink: ResponseSink
  /** Called instead of any sink method when the response turns out not to be shareable. */
  readonly evicted: (() => void) | undefined
  /** Absolute index of the next chunk to hand over. */
  next: number
  headSent: boolean
  paused: boolean
  gone: boolean
  /** Bytes handed to the producer but not yet to this subscriber. */
  backlog: number
}

/**
 * One upstream exchange shared by every identical request in flight (coalescing). The producer
 * (the real upstream, or an entry read from the shared tier) writes into it as a ResponseSink;
 * each subscriber is a request's own sink, fed from the start at its own pace, then live. Every
 * subscriber runs its own response filters, so moderation still applies per principal.
 *
 * While the whole response fits in `retainBytes` it is kept (for joiners and for the entry), and
 * a slow subscriber never slows the others or the producer. Past it, chunks every subscriber has
 * passed are dropped and the producer follows the slowest one, as a single client would.
 */
export class Flight implements ResponseSink {
  readonly #opts: FlightOptions
  readonly #subs = new Set<Subscriber>()
  readonly #chunks: Buffer[] = []
  readonly #at: number[] = []
  /** Absolute index of #chunks[0]: chunks before it were dropped. */
  #base = 0
  #bytes = 0
  #retaining = true
  /** Bytes taken from the budget, given back when the flight stops recording or is released. */
  #taken = 0
  #head: { status: number; headers: string[]; at: number } | undefined
  #ended = false
  #error: ChaperoneError | undefined
  #producer: InFlight | undefined
  #resumeProducer: (() => void) | undefined
  #producerPaused = false
  #settled = false
  /** The response may not be shared: nobody joins any more. */
  #private = false
  #resolve!: (r: FlightResult) => void
  /** Settles once: the producer ended, failed, or was abandoned. */
  readonly result: Promise<FlightResult>

  constructor(opts: FlightOptions) {
    this.#opts = opts
    this.result = new Promise((r) => (this.#resolve = r))
  }

  /** Whether a new request can still join and get the whole response. */
  get joinable(): boolean {
    return this.#retaining && !this.#private && (!this.#settled || this.#ended)
  }

  get subscribers(): number {
    return this.#subs.size
  }

  /** The producer's handle, so that the flight can stop it once nobody listens. */
  attach(producer: InFlight): void {
    this.#producer = producer
    if (this.#settled) producer.abort()
  }

  /**
   * Adds a subscriber; it hears nothing before this call has returned. `evicted` is for those
   * that could fetch on their own: without it the subscriber is the one the response is for.
   */
  join(sink: ResponseSink, evicted?: () => void): InFlight {
    const sub: Subscriber = { sink, evicted, next: this.#base, headSent: false, paused: false, gone: false, backlog: this.#bytesFrom(this.#base) }
    this.#subs.add(sub)
    queueMicrotask(() => this.#pump(sub))
    return { abort: () => this.#leave(sub) }
  }

  // ResponseSink: the producer's side.

  onHead(status: number, rawHeaders: string[], resume: () => void): boolean {
    // Interim responses (100 Continue) are the producer's business, not the subscribers'.
    if (status < 200) return true
    this.#head = { status, headers: rawHeaders, at: this.#opts.now() }
    this.#resumeProducer = resume
    if (this.#opts.shareable && !this.#opts.shareable(rawHeaders)) {
      this.#private = true
      for (const s of this.#subs) {
        if (!s.evicted) continue
        s.gone = true
        this.#subs.delete(s)
        s.evicted()
      }
      if (this.#subs.size === 0 && !this.#opts.keepAlive) {
        this.#settle({ kind: 'abandoned' })
        this.#producer?.abort(new ChaperoneError('upstream_error', 'nobody may receive this response'))
        return false
      }
    }
    for (const s of this.#subs) this.#pump(s)
    return true
  }

  onData(chunk: Buffer): boolean {
    if (chunk.byteLength === 0 || this.#settled) return true
    this.#chunks.push(chunk)
    this.#at.push(this.#opts.now() - (this.#head?.at ?? this.#opts.now()))
    this.#bytes += chunk.byteLength
    for (const s of this.#subs) s.backlog += chunk.byteLength
    if (this.#retaining && (this.#bytes > this.#opts.retainBytes || !this.#takeBudget(chunk.byteLength))) this.#stopRetaining()
    for (const s of this.#subs) this.#pump(s)
    if (!this.#retaining) this.#trim()
    if (!this.#retaining && this.#slowestBacklog() > this.#opts.highWaterBytes) {
      this.#producerPaused = true
      return false
    }
    return true
  }

  onEnd(): void {
    if (this.#settled) return
    this.#ended = true
    this.#settle(
      this.#retaining && this.#head
        ? { kind: 'complete', recording: { status: this.#head.status, headers: this.#head.headers, chunks: this.#chunks, at: this.#at, bytes: this.#bytes } }
        : { kind: 'unrecorded' },
    )
    for (const s of this.#subs) this.#pump(s)
  }

  onError(err: ChaperoneError): void {
    if (this.#settled) return
    this.#error = err
    this.#settle({ kind: 'failed', error: err })
    for (const s of this.#subs) this.#pump(s)
  }

  #settle(r: FlightResult): void {
    this.#settled = true
    this.#resolve(r)
  }

  #leave(sub: Subscriber): void {
    if (sub.gone) return
    sub.gone = true
    this.#subs.delete(sub)
    if (this.#subs.size === 0 && !this.#settled && !this.#opts.keepAlive) {
      // Nobody is listening: the chatbot must not keep generating for no one.
      this.#settle({ kind: 'abandoned' })
      this.#producer?.abort(new ChaperoneError('upstream_error', 'every coalesced client left'))
      return
    }
    this.#maybeResumeProducer()
  }

  #pump(sub: Subscriber): void {
    if (sub.gone || !this.#head) {
      if (!sub.gone && this.#error) this.#finish(sub)
      return
    }
    if (!sub.headSent) {
      sub.headSent = true
      const ok = sub.sink.onHead(this.#head.status, [...this.#head.headers], () => {
        sub.paused = false
        this.#pump(sub)
      })
      if (sub.gone) return
      if (!ok) sub.paused = true
    }
    while (!sub.paused && !sub.gone && sub.next < this.#base + this.#chunks.length) {
      const chunk = this.#chunks[sub.next - this.#base]!
      sub.next++
      sub.backlog -= chunk.byteLength
      if (!sub.sink.onData(chunk)) sub.paused = true
    }
    if (sub.gone) return
    if (sub.next === this.#base + this.#chunks.length && (this.#ended || this.#error)) {
      // A paused sink is still busy with its last chunk (a response transform): the end waits for its resume.
      if (!sub.paused) this.#finish(sub)
    } else if (!this.#retaining) {
      this.#trim()
      this.#maybeResumeProducer()
    }
  }

  #finish(sub: Subscriber): void {
    sub.gone = true
    this.#subs.delete(sub)
    if (this.#error) sub.sink.onError(this.#error)
    else sub.sink.onEnd()
  }

  #takeBudget(bytes: number): boolean {
    if (!this.#opts.budget) return true
    if (!this.#opts.budget.take(bytes)) return false
    this.#taken += bytes
    return true
  }

  #stopRetaining(): void {
    this.#retaining = false
    this.release()
  }

  /** Gives the recorded bytes back to the budget: once the entry is stored, or the flight is over. */
  release(): void {
    if (this.#taken === 0) return
    this.#opts.budget?.give(this.#taken)
    this.#taken = 0
  }

  #bytesFrom(abs: number): number {
    let n = 0
    for (let i = abs - this.#base; i < this.#chunks.length; i++) n += this.#chunks[i]!.byteLength
    return n
  }

  #slowestBacklog(): number {
    let max = 0
    for (const s of this.#subs) if (s.backlog > max) max = s.backlog
    return max
  }

  /** Drops chunks every subscriber has passed; only once the flight no longer records. */
  #trim(): void {
    let min = this.#base + this.#chunks.length
    for (const s of this.#subs) if (s.next < min) min = s.next
    const drop = min - this.#base
    if (drop <= 0) return
    this.#chunks.splice(0, drop)
    this.#at.splice(0, drop)
    this.#base = min
  }

  #maybeResumeProducer(): void {
    if (!this.#producerPaused || this.#slowestBacklog() > this.#opts.highWaterBytes / 2) return
    this.#producerPaused = false
    this.#resumeProducer?.()
  }
}
