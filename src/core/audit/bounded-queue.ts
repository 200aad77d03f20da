/** A FIFO of fixed capacity over a ring buffer: push and take never copy the rest of the queue. */
export class BoundedQueue<T> {
  readonly #slots: (T | undefined)[]
  #head = 0
  #length = 0

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.#slots = new Array<T | undefined>(capacity)
  }

  get length(): number {
    return this.#length
  }

  get full(): boolean {
    return this.#length === this.capacity
  }

  /** False (and nothing queued) when full. */
  push(item: T): boolean {
    if (this.#length === this.capacity) return false
    this.#slots[(this.#head + this.#length) % this.capacity] = item
    this.#length++
    return true
  }

  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#slots[this.#head]
  }

  /** Removes and returns up to `max` items, oldest first. */
  take(max: number): T[] {
    const n = Math.min(max, this.#length)
    const out = new Array<T>(n)
    for (let i = 0; i < n; i++) {
      out[i] = this.#slots[this.#head] as T
      this.#slots[this.#head] = undefined
      this.#head = (this.#head + 1) % this.capacity
    }
    this.#length -= n
    return out
  }
}
