/**
 * Gathers items from concurrent callers into batches: a batch runs when it holds `maxBatch`
 * items or when its first item has waited `maxWaitMs`, whichever comes first. One batch runs at
 * a time, so a model on a small machine is never asked to run two batches against each other;
 * items that arrive while one runs form the next batch. The queue is bounded: past `maxQueue`
 * waiting items a call is refused at once rather than growing memory and latency without end.
 */

export interface MicroBatcherOptions<I, O> {
  readonly maxBatch: number
  readonly maxWaitMs: number
  readonly maxQueue: number
  /** Runs one batch; must resolve to one output per input, in order. */
  readonly run: (items: readonly I[]) => Promise<readonly O[]>
  /** After each batch: its size, how long it ran (ms), and the items still waiting. */
  readonly onBatch?: (size: number, ms: number, waiting: number) => void
  readonly now?: () => number
}

interface Pending<I, O> {
  readonly item: I
  readonly resolve: (o: O) => void
  readonly reject: (e: unknown) => void
  readonly signal: AbortSignal | undefined
}

export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`classifier queue is full (${limit} windows waiting)`)
    this.name = 'QueueFullError'
  }
}

export class MicroBatcher<I, O> {
  readonly #o: MicroBatcherOptions<I, O>
  #queue: Pending<I, O>[] = []
  #timer: ReturnType<typeof setTimeout> | undefined
  #running = false
  readonly #now: () => number

  constructor(options: MicroBatcherOptions<I, O>) {
    this.#o = options
    this.#now = options.now ?? (() => performance.now())
  }

  /** Items waiting for a batch (not counting the batch running). */
  get waiting(): number {
    return this.#queue.length
  }

  submit(item: I, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#queue.length >= this.#o.maxQueue) return Promise.reject(new QueueFullError(this.#o.maxQueue))
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject, signal })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#running) return
    if (this.#queue.length >= this.#o.maxBatch || this.#o.maxWaitMs <= 0) {
      this.#flush()
      return
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      this.#flush()
    }, this.#o.maxWaitMs)
  }

  #flush(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    // Items whose caller gave up (timeout, client gone) are dropped before they cost a run.
    const batch: Pending<I, O>[] = []
    while (batch.length < this.#o.maxBatch && this.#queue.length > 0) {
      const p = this.#queue.shift()!
      if (p.signal?.aborted) p.reject(p.signal.reason)
      else batch.push(p)
    }
    if (batch.length === 0) return
    this.#running = true
    const started = this.#now()
    let out: Promise<readonly O[]>
    try {
      out = this.#o.run(batch.map((p) => p.item))
    } catch (e) {
      out = Promise.reject(e)
    }
    out.then(
      (results) => {
        if (results.length !== batch.length) {
          const err = new Error(`batch of ${batch.length} returned ${results.length} results`)
          for (const p of batch) p.reject(err)
        } else batch.forEach((p, i) => p.resolve(results[i]!))
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err)
      },
    ).finally(() => {
      this.#running = false
      this.#o.onBatch?.(batch.length, this.#now() - started, this.#queue.length)
      // What queued during the run has already waited for it: it goes now.
      if (this.#queue.length > 0) this.#flush()
    })
  }
}
