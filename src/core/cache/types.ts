/**
 * What the cache stores and the ports it needs. The cache keeps the upstream's own response
 * (status 200, headers, body) and replays it through the response side of the chain on every
 * hit, so moderation rules of today apply to answers cached yesterday.
 */

/** The tokens an answer cost upstream, as the upstream reported them (core/tokens/usage.ts). */
export interface EntryUsage {
  readonly input: number
  readonly output: number
}

/** Everything about an entry but its body: what /admin/cache/entries lists. */
export interface CacheEntryMeta {
  /**
   * The entry key: `<namespace>/<route>/<scope kind>/<scope value, URI-encoded>/<sha256 hex>`, so
   * that a prefix selects a namespace, a route, or everything one user or tenant has cached.
   */
  readonly key: string
  /** The cache route's name (policy `spec.cache.routes[].name`). */
  readonly route: string
  readonly createdAt: number
  /** Epoch ms: served as fresh until then. */
  readonly freshUntil: number
  /** Epoch ms: served stale (and refreshed in the background) until then; the stores drop it after. */
  readonly staleUntil: number
  readonly tags: readonly string[]
  readonly contentType: string
  /** Body bytes (uncompressed). */
  readonly bytes: number
  readonly usage?: EntryUsage
  readonly model?: string
}

export interface CacheEntry {
  readonly meta: CacheEntryMeta
  readonly status: number
  /** Response headers as a flat [name, value, …] list, hop-by-hop headers already removed. */
  readonly headers: readonly string[]
  readonly body: Uint8Array
  /**
   * For an SSE body: where each event ends in `body` (byte offset just past its blank line) and
   * when it arrived (ms after the response head), so a replay can keep boundaries and pacing.
   */
  readonly events?: { readonly ends: readonly number[]; readonly at: readonly number[] }
}

/** What an invalidation or a listing selects; exactly one field is set. */
export type CacheSelector = { readonly key: string } | { readonly tag: string } | { readonly prefix: string }

/** The outcome of asking for the cross-replica fill lock of a key. */
export type LockResult =
  | { readonly kind: 'acquired'; readonly lock: FillLock }
  /** Another replica is fetching this key. */
  | { readonly kind: 'held' }
  /** No shared store (single replica) or it is down: fetch without a lock. */
  | { readonly kind: 'unavailable' }

export interface FillLock {
  /** Extends the lock; false when it was lost (expired and taken by another replica). */
  renew(ttlMs: number): Promise<boolean>
  /** Deletes the lock if this owner still holds it. Never rejects. */
  release(): Promise<void>
}

/**
 * The two cache tiers behind one port (io/cache/tiered-store.ts). Reads never reject: a shared
 * tier that is slow, down or returns a corrupt entry is a miss, counted by the store.
 */
export interface CacheStore {
  get(key: string): Promise<CacheEntry | undefined>
  /** Stores in every tier; never rejects (a failed shared write is counted and logged). */
  set(entry: CacheEntry): Promise<void>
  /** Never rejects: a shared store that fails answers `unavailable`. */
  lock(key: string, ttlMs: number): Promise<LockResult>
  /** Removes from every tier (and, through the shared tier, every replica's memory); resolves to how many went. */
  delete(sel: CacheSelector): Promise<number>
  /** Metadata of live entries, never bodies; at most `limit`. */
  list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]>
}

export type LookupResult = 'hit' | 'stale' | 'miss' | 'coalesced' | 'bypass'
export type NotStoredReason = 'status' | 'cache_control' | 'set_cookie' | 'too_large' | 'incomplete' | 'aborted' | 'error_event'

/** What the cache filter counts; io/cache/stats.ts implements it for /metrics and /admin/cache/stats. */
export interface CacheMetricsPort {
  /** One per request on a cache route. `bypass`: not cacheable (scope unknown, not deterministic, …). */
  lookup(route: string, result: LookupResult, reason?: string): void
  /** An answer served without an upstream request (hit, stale or coalesced), with the tokens it cost originally. */
  saved(route: string, usage: EntryUsage | undefined): void
  stored(route: string, bytes: number): void
  notStored(route: string, reason: NotStoredReason): void
}
