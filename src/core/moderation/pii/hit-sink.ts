import type { Hit } from '../types.js'
import { bitIndex } from './pii-types.js'

/**
 * Where the trackers report hits: maps a type bit to the caller's id and drops a hit that
 * repeats one of the last few (a key found both by its prefix and after `key=`).
 */
export class HitSink {
  hits: Hit[] = []
  private readonly recent: Hit[] = []
  private next = 0

  /** ids[i] is the id for PII_TYPES[i], or -1 when that type was not asked for. */
  constructor(private readonly ids: Int32Array) {}

  emit(type: number, start: number, end: number): void {
    const id = this.ids[bitIndex(type)]!
    if (id < 0 || end <= start) return
    for (const h of this.recent) if (h.id === id && h.start === start && h.end === end) return
    const hit = { id, start, end }
    this.hits.push(hit)
    if (this.recent.length < 8) this.recent.push(hit)
    else this.recent[this.next++ & 7] = hit
  }
}
