/** A bounded LRU whose entries also expire: Map insertion order is the recency order. */
export class TtlCache<K, V> {
  readonly #map = new Map<K, { value: V; expires: number }>()

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#map.size
  }

  get(key: K): V | undefined {
    const e = this.#map.get(key)
    if (!e) return undefined
    if (e.expires <= this.now()) {
      this.#map.delete(key)
      return undefined
    }
    this.#map.delete(key)
    this.#map.set(key, e)
    return e.value
  }

  set(key: K, value: V): void {
    if (this.maxEntries <= 0 || this.ttlMs <= 0) return
    this.#map.delete(key)
    this.#map.set(key, { value, expires: this.now() + this.ttlMs })
    if (this.#map.size > this.maxEntries) this.#map.delete(this.#map.keys().next().value as K)
  }

  delete(key: K): void {
    this.#map.delete(key)
  }
}
