import type { LimitDecision, LimitSpec, LimitState, RateLimitStore } from '../../core/ports.js'
import { randomUUID } from 'node:crypto'
import { adjustTat, gcra, type GcraResult } from '../../core/ratelimit/gcra.js'

export interface MemoryLimiterOptions {
  /** Buckets kept; past it the least recently charged go (their clients get a full bucket back). */
  maxKeys?: number
  /**
   * How many replicas share each limit: every spec's limit and burst are divided by it (floored,
   * at least 1), so replicas limiting alone together stay within the shared limit.
   */
  share?: () => number
  now?: () => number
}

/** Buckets looked at per acquire, so full ones go without a timer and no request pays for all. */
const SWEEP_PER_ACQUIRE = 64

/**
 * The GCRA of the Redis script over a Map held by this replica alone: for a single replica, and
 * as the `local` fallback while Redis is down. A bucket is kept only while it is not full (its TAT
 * is ahead of now); a full one is the same as none.
 */
export class MemoryLimiter implements RateLimitStore {
  /** Key → TAT (ms). Kept in the order of the last charge: re-set on every charge. */
  private readonly tats = new Map<string, number>()
  private readonly maxKeys: number
  private readonly share: () => number
  private readonly now: () => number
  private cursor: Iterator<[string, number]> | undefined

  constructor(opts: MemoryLimiterOptions = {}) {
    this.maxKeys = opts.maxKeys ?? 100_000
    this.share = opts.share ?? (() => 1)
    this.now = opts.now ?? Date.now
  }

  get size(): number {
    return this.tats.size
  }

  async acquire(specs: readonly LimitSpec[]): Promise<LimitDecision> {
    const now = this.now()
    this.sweep(now)
    const parts = Math.max(1, Math.floor(this.share()))
    const scaled = specs.map((s) => (parts === 1 ? s : { ...s, limit: Math.max(1, Math.floor(s.limit / parts)), burst: Math.max(1, Math.floor(s.burst / parts)) }))
    const results = scaled.map((s) => gcra({ tatMs: this.tats.get(s.key) }, now, s))
    const allowed = results.every((r, i) => r.allowed || scaled[i]!.shadow)
    const states = scaled.map((s, i): LimitState => {
      let r = results[i]!
      if (r.allowed && s.cost > 0) {
        // Refused as a whole: what this passing limit looks like uncharged.
        if (allowed) this.store(s.key, r.newTatMs)
        else r = gcra({ tatMs: this.tats.get(s.key) }, now, { ...s, cost: 0 })
      }
      return state(s, r)
    })
    return { allowed, states, mode: 'local' }
  }

  async adjust(spec: LimitSpec, delta: number): Promise<void> {
    const parts = Math.max(1, Math.floor(this.share()))
    const tat = adjustTat(this.tats.get(spec.key), this.now(), { limit: Math.max(1, Math.floor(spec.limit / parts)), periodMs: spec.periodMs }, delta)
    if (tat === undefined) this.tats.delete(spec.key)
    else this.store(spec.key, tat)
  }

  /** Holders per key, each with its expiry; bounded like the buckets. */
  private readonly holders = new Map<string, Map<string, number>>()

  async lease(key: string, max: number, ttlMs: number): Promise<{ release(): Promise<void> } | undefined> {
    const now = this.now()
    let set = this.holders.get(key)
    if (set) for (const [id, until] of set) if (until <= now) set.delete(id)
    const cap = Math.max(1, Math.floor(max / Math.max(1, Math.floor(this.share()))))
    if (set && set.size >= cap) return undefined
    if (!set) {
      if (this.holders.size >= this.maxKeys) this.holders.delete(this.holders.keys().next().value!)
      this.holders.set(key, (set = new Map()))
    }
    const id = randomUUID()
    set.set(id, now + ttlMs)
    const holders = this.holders
    return {
      async release() {
        set.delete(id)
        if (set.size === 0 && holders.get(key) === set) holders.delete(key)
      },
    }
  }

  private store(key: string, tatMs: number): void {
    if (!this.tats.delete(key)) {
      for (const oldest of this.tats.keys()) {
        if (this.tats.size < this.maxKeys) break
        this.tats.delete(oldest)
      }
    }
    this.tats.set(key, tatMs)
  }

  /** Resumes where the last sweep stopped (Map iterators survive deletes and see later sets). */
  private sweep(now: number): void {
    for (let seen = 0; seen < SWEEP_PER_ACQUIRE; seen++) {
      this.cursor ??= this.tats.entries()
      const next = this.cursor.next()
      if (next.done) {
        this.cursor = undefined
        return
      }
      const [key, tatMs] = next.value
      if (tatMs <= now) this.tats.delete(key)
    }
  }
}

function state(spec: LimitSpec, r: GcraResult): LimitState {
  return { name: spec.name, allowed: r.allowed, remaining: r.remaining, resetMs: r.resetMs, retryAfterMs: r.retryAfterMs, shadow: spec.shadow }
}
