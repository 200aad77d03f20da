import type { CacheEntry, CacheEntryMeta, CacheSelector } from '../../core/cache/types.js'
import type { CacheStoreEvents, CacheTier } from './tier.js'

/**
 * What an entry costs beyond its body and strings: the entry, meta and usage objects, the Map and
 * index slots. A guess on the generous side, so the bound errs towards using less memory.
 */
const ENTRY_OVERHEAD_BYTES = 512
/** Two numbers per SSE event (its end offset and arrival time), as array slots. */
const BYTES_PER_EVENT = 16
/** Entries looked at per set, so expired ones leave without a timer and no set pays for them all. */
const SWEEP_PER_SET = 16

export interface MemoryTierOptions {
  /** The bound on everything held, as entrySize counts it. */
  maxBytes: number
  /** Epoch ms, the clock `meta.staleUntil` is on. */
  now?: () => number
  events?: Pick<CacheStoreEvents, 'evicted'>
}

interface Slot {
  readonly entry: CacheEntry
  readonly size: number
}

function stringBytes(list: readonly string[]): number {
  let n = 0
  for (const s of list) n += s.length
  return n
}

/**
 * The bytes an entry is charged: body, headers, key and tags, the SSE event table and a fixed
 * overhead. String lengths stand for bytes: V8 keeps ASCII strings one byte a character, and
 * headers and keys are ASCII in practice.
 */
export function entrySize(entry: CacheEntry): number {
  const { meta } = entry
  return (
    entry.body.byteLength +
    stringBytes(entry.headers) +
    meta.key.length +
    meta.route.length +
    meta.contentType.length +
    (meta.model?.length ?? 0) +
    stringBytes(meta.tags) +
    (entry.events?.ends.length ?? 0) * BYTES_PER_EVENT +
    ENTRY_OVERHEAD_BYTES
  )
}

/**
 * A body that is a view into a larger buffer (a pooled Buffer, a decoded L2 payload, a slice of a
 * network chunk) would keep that whole buffer alive while being charged for its own bytes only:
 * such a body is copied, so the byte bound holds for real memory.
 */
function ownBody(entry: CacheEntry): CacheEntry {
  const { body } = entry
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return entry
  return { ...entry, body: new Uint8Array(body) }
}

function selects(meta: CacheEntryMeta, sel: { readonly prefix?: string; readonly tag?: string }): boolean {
  return (sel.prefix === undefined || meta.key.startsWith(sel.prefix)) && (sel.tag === undefined || meta.tags.includes(sel.tag))
}

/**
 * This process's cache tier: an LRU bounded in bytes (entrySize), with a tag index for bulk
 * invalidation. A Map keeps insertion order, so a hit moves its key to the end (delete + set) and
 * the first key is always the least recently used.
 *
 * An entry bigger than a quarter of the bound is not kept: storing it would push out a large part
 * of what everyone else has cached for the sake of one answer, and one more such answer would
 * flush the cache whole. It can still live in the shared tier.
 *
 * Entries past `meta.staleUntil` are misses and leave when looked up, when they reach the LRU end,
 * or through a bounded sweep on each set; no timer is involved.
 *
 * The interface is async but every method does its work at once: the tiered store awaits nothing
 * that could interleave between a read and its LRU update.
 */
export class MemoryTier implements CacheTier {
  private readonly slots = new Map<string, Slot>()
  private readonly byTag = new Map<string, Set<string>>()
  private readonly maxBytes: number
  private readonly now: () => number
  private readonly events: Pick<CacheStoreEvents, 'evicted'> | undefined
  private bytes = 0
  private sweeper: Iterator<[string, Slot]> | undefined

  constructor(opts: MemoryTierOptions) {
    if (!(opts.maxBytes >= 0) || !Number.isFinite(opts.maxBytes)) throw new RangeError(`cache memory bound must be a finite number of bytes, got ${opts.maxBytes}`)
    this.maxBytes = opts.maxBytes
    this.now = opts.now ?? Date.now
    this.events = opts.events
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const slot = this.slots.get(key)
    if (!slot) return undefined
    if (this.expired(slot)) {
      this.remove(key, slot)
      return undefined
    }
    this.slots.delete(key)
    this.slots.set(key, slot)
    return slot.entry
  }

  async set(entry: CacheEntry): Promise<void> {
    const key = entry.meta.key
    // A set replaces: whatever happens to the new entry, the old answer must not be served after it.
    const old = this.slots.get(key)
    if (old) this.remove(key, old)
    this.sweep(SWEEP_PER_SET)
    const size = entrySize(entry)
    if (size > this.maxBytes / 4 || entry.meta.staleUntil <= this.now()) return
    this.makeRoom(size)
    const slot: Slot = { entry: ownBody(entry), size }
    this.slots.set(key, slot)
    this.bytes += size
    for (const tag of entry.meta.tags) {
      let keys = this.byTag.get(tag)
      if (!keys) this.byTag.set(tag, (keys = new Set()))
      keys.add(key)
    }
  }

  async delete(sel: CacheSelector): Promise<number> {
    return this.apply(sel)
  }

  /**
   * Deletes what `sel` selects, at once: for invalidations published by other replicas, which
   * arrive through a synchronous callback. Returns how many live entries went.
   */
  apply(sel: CacheSelector): number {
    const now = this.now()
    let gone = 0
    const drop = (key: string, slot: Slot) => {
      if (slot.entry.meta.staleUntil > now) gone++
      this.remove(key, slot)
    }
    if ('key' in sel) {
      const slot = this.slots.get(sel.key)
      if (slot) drop(sel.key, slot)
    } else if ('tag' in sel) {
      const keys = this.byTag.get(sel.tag)
      // A copy: remove() edits the set being walked.
      for (const key of keys ? [...keys] : []) {
        const slot = this.slots.get(key)
        if (slot) drop(key, slot)
      }
    } else {
      // Deleting the current entry during Map iteration is safe: iteration goes on with the next.
      for (const [key, slot] of this.slots) if (key.startsWith(sel.prefix)) drop(key, slot)
    }
    return gone
  }

  /** Live entries' metadata, newest first, at most `limit`. */
  async list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]> {
    if (!(limit > 0)) return []
    const now = this.now()
    const found: CacheEntryMeta[] = []
    const consider = (slot: Slot | undefined) => {
      if (slot && slot.entry.meta.staleUntil > now && selects(slot.entry.meta, sel)) found.push(slot.entry.meta)
    }
    if (sel.tag !== undefined) for (const key of this.byTag.get(sel.tag) ?? []) consider(this.slots.get(key))
    else for (const slot of this.slots.values()) consider(slot)
    found.sort((a, b) => b.createdAt - a.createdAt)
    return found.length > limit ? found.slice(0, limit) : found
  }

  /** Entries held (expired ones not yet swept included) and the bytes they are charged. */
  stats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.slots.size, bytes: this.bytes, maxBytes: this.maxBytes }
  }

  private expired(slot: Slot): boolean {
    return slot.entry.meta.staleUntil <= this.now()
  }

  /** Pushes out least recently used entries until `size` more bytes fit; expired ones go uncounted. */
  private makeRoom(size: number): void {
    let count = 0
    let freed = 0
    for (const [key, slot] of this.slots) {
      if (this.bytes + size <= this.maxBytes) break
      if (!this.expired(slot)) {
        count++
        freed += slot.size
      }
      this.remove(key, slot)
    }
    if (count > 0) this.events?.evicted(count, freed)
  }

  /**
   * Looks at the next `budget` entries in a round over the Map and drops the expired ones. Map
   * iterators survive deletions and see keys added later, so the round resumes where it stopped.
   */
  private sweep(budget: number): void {
    for (let i = 0; i < budget; i++) {
      this.sweeper ??= this.slots.entries()
      const next = this.sweeper.next()
      if (next.done) {
        // A finished iterator stays finished: the next set starts a new round.
        this.sweeper = undefined
        return
      }
      const [key, slot] = next.value
      if (this.expired(slot)) this.remove(key, slot)
    }
  }

  private remove(key: string, slot: Slot): void {
    this.slots.delete(key)
    this.bytes -= slot.size
    for (const tag of slot.entry.meta.tags) {
      const keys = this.byTag.get(tag)
      if (!keys) continue
      keys.delete(key)
      if (keys.size === 0) this.byTag.delete(tag)
    }
  }
}
