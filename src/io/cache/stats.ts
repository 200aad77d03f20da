import type { CacheMetricsPort, EntryUsage, LookupResult, NotStoredReason } from '../../core/cache/types.js'
import type { CacheStoreEvents } from './tier.js'

export interface RouteStats {
  lookups: Record<LookupResult, number>
  bypass: Record<string, number>
  /** Answers given without an upstream request: hits, stale hits and coalesced followers. */
  upstreamRequestsSaved: number
  /** The tokens those answers cost when the upstream produced them. */
  tokensSaved: { input: number; output: number }
  stored: number
  storedBytes: number
  notStored: Partial<Record<NotStoredReason, number>>
}

export interface StoreStats {
  sharedErrors: Record<string, number>
  corrupt: number
  evictions: number
  evictedBytes: number
}

const newRoute = (): RouteStats => ({
  lookups: { hit: 0, stale: 0, miss: 0, coalesced: 0, bypass: 0 },
  bypass: {},
  upstreamRequestsSaved: 0,
  tokensSaved: { input: 0, output: 0 },
  stored: 0,
  storedBytes: 0,
  notStored: {},
})

/**
 * Plain counters of everything the cache does, kept once and read twice: by /metrics at scrape
 * time and by GET /admin/cache/stats. Route names come from the policy, so they are bounded.
 */
export class CacheStats implements CacheMetricsPort, CacheStoreEvents {
  readonly routes = new Map<string, RouteStats>()
  readonly store: StoreStats = { sharedErrors: {}, corrupt: 0, evictions: 0, evictedBytes: 0 }

  #route(name: string): RouteStats {
    let r = this.routes.get(name)
    if (!r) this.routes.set(name, (r = newRoute()))
    return r
  }

  lookup(route: string, result: LookupResult, reason?: string): void {
    const r = this.#route(route)
    r.lookups[result]++
    if (result === 'bypass' && reason) r.bypass[reason] = (r.bypass[reason] ?? 0) + 1
  }

  saved(route: string, usage: EntryUsage | undefined): void {
    const r = this.#route(route)
    r.upstreamRequestsSaved++
    if (usage) {
      r.tokensSaved.input += usage.input
      r.tokensSaved.output += usage.output
    }
  }

  stored(route: string, bytes: number): void {
    const r = this.#route(route)
    r.stored++
    r.storedBytes += bytes
  }

  notStored(route: string, reason: NotStoredReason): void {
    const r = this.#route(route)
    r.notStored[reason] = (r.notStored[reason] ?? 0) + 1
  }

  l2Error(op: string, kind: 'timeout' | 'error'): void {
    const k = `${op}:${kind}`
    this.store.sharedErrors[k] = (this.store.sharedErrors[k] ?? 0) + 1
  }

  corrupt(): void {
    this.store.corrupt++
  }

  evicted(count: number, bytes: number): void {
    this.store.evictions += count
    this.store.evictedBytes += bytes
  }
}

/** Hits (fresh and stale) and coalesced answers over every lookup that was not a bypass. */
export function hitRatio(r: RouteStats): number {
  const served = r.lookups.hit + r.lookups.stale + r.lookups.coalesced
  const total = served + r.lookups.miss
  return total === 0 ? 0 : served / total
}
