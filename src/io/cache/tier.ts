import type { CacheEntry, CacheEntryMeta, CacheSelector } from '../../core/cache/types.js'

/**
 * One tier of the cache: this process's memory (memory-tier.ts) or Redis shared by every replica
 * (redis-tier.ts). tiered-store.ts puts them behind the CacheStore port. Unlike the port, a tier
 * may reject (the tiered store decides what a failure means); a corrupt entry is not a rejection
 * but a miss that the tier deletes and reports through `onCorrupt`.
 */
export interface CacheTier {
  get(key: string): Promise<CacheEntry | undefined>
  set(entry: CacheEntry): Promise<void>
  delete(sel: CacheSelector): Promise<number>
  list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]>
}

/** What the stores report for /metrics and /admin/cache/stats (io/cache/stats.ts implements it). */
export interface CacheStoreEvents {
  /** A shared-tier command failed or passed its timeout; the request went on without it. */
  l2Error(op: 'get' | 'set' | 'delete' | 'list' | 'lock', kind: 'timeout' | 'error'): void
  /** An entry failed its checksum or did not decode: deleted and treated as a miss. */
  corrupt(): void
  /** Entries pushed out of memory to stay within the byte bound. */
  evicted(count: number, bytes: number): void
}
