import type { CacheEntry, CacheEntryMeta, CacheSelector, CacheStore, FillLock, LockResult } from '../../core/cache/types.js'
import type { RedisLog } from '../redis/connect.js'
import type { MemoryTier } from './memory-tier.js'
import type { CacheStoreEvents, CacheTier } from './tier.js'

/** The shared tier (redis-tier.ts), typed by what the store uses of it. */
export type SharedTier = CacheTier & { lock(key: string, ttlMs: number): Promise<LockResult> }

type Op = Parameters<CacheStoreEvents['l2Error']>[0]
type FailureKind = Parameters<CacheStoreEvents['l2Error']>[1]

export interface TieredStoreOptions {
  l1: MemoryTier
  /** Absent for a single replica: memory only. */
  l2?: SharedTier
  /** The most a shared-tier call may add to a request. */
  timeoutMs: number
  /** After a shared-tier failure, how long requests skip it before one tries again. */
  probeMs: number
  events: CacheStoreEvents
  log: RedisLog
  /**
   * Shared-tier writes in flight at most. Each holds its entry until Redis answers or the timeout
   * passes; past the bound, a write goes to memory only.
   */
  maxPendingWrites?: number
  /** Monotonic ms, for the breaker. */
  clock?: () => number
}

type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly kind: FailureKind; readonly err?: unknown }
  /** `none`: no shared tier; `skipped`: the breaker kept the call from being made. */
  | { readonly ok: false; readonly kind: 'none' | 'skipped' }

const NONE = { ok: false, kind: 'none' } as const
const SKIPPED = { ok: false, kind: 'skipped' } as const
const UNAVAILABLE: LockResult = { kind: 'unavailable' }
const DEFAULT_MAX_PENDING_WRITES = 64

/**
 * `start()` settled within `ms`, or a timeout. Never rejects, and a result that comes after the
 * timeout is handled here (a late rejection dropped, a late value given to `onLate`), so nothing
 * is left to surface as an unhandled rejection.
 */
function within<T>(start: () => Promise<T>, ms: number, onLate?: (late: T) => void): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      resolve({ ok: false, kind: 'timeout' })
    }, ms)
    let call: Promise<T>
    try {
      call = Promise.resolve(start())
    } catch (err) {
      call = Promise.reject(err)
    }
    call.then(
      (value) => {
        if (settled) {
          try {
            onLate?.(value)
          } catch {
            // Clean-up of a result nobody waits for any more: nothing to tell anyone.
          }
          return
        }
        settled = true
        clearTimeout(timer)
        resolve({ ok: true, value })
      },
      (err: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve({ ok: false, kind: 'error', err })
      },
    )
  })
}

function message(err: unknown): string | undefined {
  if (err === undefined) return undefined
  return err instanceof Error ? err.message || err.name : String(err)
}

/**
 * Memory (L1) in front of the shared tier (L2), behind the CacheStore port.
 *
 * Every L2 call is raced against `timeoutMs`: a slow Redis costs a request at most that, and the
 * request goes on as a miss. A failure or timeout opens a breaker: for `probeMs` no request calls
 * L2 at all, then one request tries it (the others keep skipping while it is out), and the first
 * call that answers closes it. Without the breaker a hung Redis would add `timeoutMs` to every
 * request. Each change of state is logged once.
 *
 * Writes to L2 happen after `set` has resolved; invalidations published by other replicas reach
 * memory through `invalidateLocal`, which the Redis tier's `onInvalidate` is wired to.
 */
export class TieredStore implements CacheStore {
  private readonly l1: MemoryTier
  private readonly l2: SharedTier | undefined
  private readonly timeoutMs: number
  private readonly probeMs: number
  private readonly events: CacheStoreEvents
  private readonly log: RedisLog
  private readonly maxPendingWrites: number
  private readonly clock: () => number
  private down = false
  private downSince = 0
  private retryAt = 0
  /** Bumped on every breaker change: a failure of a call made before L2 came back is old news. */
  private epoch = 0
  /** Bumped on every local invalidation: an L2 read that overlapped one is not promoted. */
  private invalidations = 0
  private readonly pending = new Set<Promise<void>>()

  constructor(opts: TieredStoreOptions) {
    this.l1 = opts.l1
    this.l2 = opts.l2
    this.timeoutMs = opts.timeoutMs
    this.probeMs = opts.probeMs
    this.events = opts.events
    this.log = opts.log
    this.maxPendingWrites = opts.maxPendingWrites ?? DEFAULT_MAX_PENDING_WRITES
    this.clock = opts.clock ?? (() => performance.now())
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const local = await this.l1.get(key)
    if (local) return local
    const invalidations = this.invalidations
    const shared = await this.viaL2('get', (l2) => l2.get(key))
    if (!shared.ok || !shared.value) return undefined
    if (shared.value.meta.key !== key) {
      // Never another key's answer, and never promoted under the wrong key.
      this.events.corrupt()
      return undefined
    }
    // An invalidation may have passed while this read was in flight and missed what it read.
    if (invalidations === this.invalidations) await this.l1.set(shared.value)
    return shared.value
  }

  async set(entry: CacheEntry): Promise<void> {
    await this.l1.set(entry)
    if (!this.l2) return
    if (this.pending.size >= this.maxPendingWrites) {
      // Writes piling up means Redis does not keep pace: as good as a timeout for this one.
      this.events.l2Error('set', 'timeout')
      return
    }
    const write = this.viaL2('set', (l2) => l2.set(entry)).then(() => undefined)
    this.pending.add(write)
    void write.then(() => this.pending.delete(write))
    // Resolves once Redis has it (or the timeout passed): a fill lock released before that would
    // send the replicas waiting on it to the upstream for an entry that is about to exist.
    await write
  }

  async lock(key: string, ttlMs: number): Promise<LockResult> {
    const result = await this.viaL2('lock', (l2) => l2.lock(key, ttlMs), {
      // A lock won after its caller gave up would only make other replicas wait: hand it back.
      onLate: (late) => {
        if (late.kind === 'acquired') void late.lock.release().catch(() => undefined)
      },
    })
    if (!result.ok) return UNAVAILABLE
    if (result.value.kind !== 'acquired') return result.value
    return { kind: 'acquired', lock: this.guarded(result.value.lock) }
  }

  /**
   * Always tries L2, breaker or not: an invalidation that skipped Redis would leave every other
   * replica serving what the operator deleted, and an admin call can afford `timeoutMs`.
   */
  async delete(sel: CacheSelector): Promise<number> {
    const local = this.invalidateLocal(sel)
    if (!this.l2) return local
    const shared = await this.viaL2('delete', (l2) => l2.delete(sel), { force: true })
    // A read that started after the first pass could have promoted the entry from L2 meanwhile.
    this.invalidateLocal(sel)
    if (shared.ok) return Math.max(local, shared.value)
    this.log.warn(
      { selector: sel, kind: shared.kind, err: 'err' in shared ? message(shared.err) : undefined },
      'cache: invalidation did not reach redis; deleted from this replica only, other replicas may serve these entries until their TTL',
    )
    return local
  }

  async list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]> {
    if (!(limit > 0)) return []
    const [local, shared] = await Promise.all([this.l1.list(sel, limit), this.viaL2('list', (l2) => l2.list(sel, limit))])
    const byKey = new Map<string, CacheEntryMeta>()
    for (const meta of shared.ok ? [...shared.value, ...local] : local) {
      const seen = byKey.get(meta.key)
      if (!seen || meta.createdAt > seen.createdAt) byKey.set(meta.key, meta)
    }
    const merged = [...byKey.values()].sort((a, b) => b.createdAt - a.createdAt)
    return merged.length > limit ? merged.slice(0, limit) : merged
  }

  /** Memory only: for invalidations that another replica published. Returns how many went. */
  invalidateLocal(sel: CacheSelector): number {
    this.invalidations++
    return this.l1.apply(sel)
  }

  health(): { shared: 'none' | 'up' | 'down' } {
    return { shared: this.l2 === undefined ? 'none' : this.down ? 'down' : 'up' }
  }

  /** Resolves once the L2 writes in flight have settled: for shutdown, and for tests. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
  }

  /** The lock's own calls, bounded like every other L2 call; renew says false when it cannot tell. */
  private guarded(lock: FillLock): FillLock {
    return {
      renew: async (ttlMs) => {
        const result = await this.viaL2('lock', () => lock.renew(ttlMs))
        return result.ok && result.value
      },
      release: async () => {
        // Skipped or failed: the lock expires on its own after its TTL.
        await this.viaL2('lock', () => lock.release())
      },
    }
  }

  private async viaL2<T>(
    op: Op,
    call: (l2: SharedTier) => Promise<T>,
    opts: { force?: boolean; onLate?: (late: T) => void } = {},
  ): Promise<Outcome<T>> {
    const l2 = this.l2
    if (!l2) return NONE
    const epoch = this.epoch
    if (this.down && !opts.force) {
      const now = this.clock()
      if (now < this.retryAt) return SKIPPED
      // This call is the probe: the others skip until it answers, or until probeMs passes again.
      this.retryAt = now + this.probeMs
    }
    const outcome = await within(() => call(l2), this.timeoutMs, opts.onLate)
    if (outcome.ok) {
      this.markUp()
      return outcome
    }
    if (outcome.kind === 'timeout' || outcome.kind === 'error') {
      this.events.l2Error(op, outcome.kind)
      this.markDown(op, outcome.kind, 'err' in outcome ? outcome.err : undefined, epoch)
    }
    return outcome
  }

  private markDown(op: Op, kind: FailureKind, err: unknown, epoch: number): void {
    const now = this.clock()
    if (this.down) {
      this.retryAt = Math.max(this.retryAt, now + this.probeMs)
      return
    }
    // Made before L2 came back: its failure says nothing about L2 now.
    if (epoch !== this.epoch) return
    this.down = true
    this.epoch++
    this.downSince = now
    this.retryAt = now + this.probeMs
    this.log.warn(
      { op, kind, err: message(err), timeoutMs: this.timeoutMs, probeMs: this.probeMs },
      'cache: redis tier failed; serving from memory only and retrying it once per probeMs',
    )
  }

  private markUp(): void {
    if (!this.down) return
    this.down = false
    this.epoch++
    this.log.info({ downForMs: Math.round(this.clock() - this.downSince) }, 'cache: redis tier answers again')
  }
}
