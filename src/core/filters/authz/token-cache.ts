/**
 * Verified tokens by SHA-256 of the token, until the token expires: a repeated token costs one
 * hash and a map lookup instead of a signature check. Bounded, least recently used out first.
 * The cache belongs to one compiled policy, so a reload (new issuers, keys or claim mapping)
 * starts empty. Revocation is checked on every request, cached or not.
 */
import { hash } from 'node:crypto'

export class TokenCache<V> {
  readonly #max: number
  readonly #entries = new Map<string, { value: V; untilMs: number }>()

  constructor(maxEntries: number) {
    this.#max = maxEntries
  }

  static key(token: string): string {
    // The one-shot form (Node 20.12+, 21.7+) skips the Hash object: half the cost per request.
    return hash('sha256', token, 'base64')
  }

  get(key: string, nowMs: number): V | undefined {
    if (this.#max === 0) return undefined
    const e = this.#entries.get(key)
    if (!e) return undefined
    this.#entries.delete(key)
    if (nowMs >= e.untilMs) return undefined
    this.#entries.set(key, e)
    return e.value
  }

  set(key: string, value: V, untilMs: number): void {
    if (this.#max === 0) return
    this.#entries.delete(key)
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, { value, untilMs })
  }

  get size(): number {
    return this.#entries.size
  }
}
