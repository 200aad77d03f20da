import type { TextView } from './types.js'

/**
 * A TextView over typed arrays: code units and their original spans. Appends are amortized
 * O(1) and reads never flatten a string rope, which per-code-unit string concatenation would
 * make V8 do on every read. trim() compacts once the dead prefix is at least half the storage,
 * so memory stays bounded by what is held.
 */
export class ViewBuffer implements TextView {
  private units = new Uint16Array(64)
  private starts = new Int32Array(64)
  private ends = new Int32Array(64)
  /** Stored code units: units[0] is at absolute offset `_base`. */
  private size = 0
  private _base = 0

  get base(): number {
    return this._base
  }

  get length(): number {
    return this._base + this.size
  }

  /** Appends normalized text whose every code unit came from original [origStart, origEnd). */
  append(s: string, origStart: number, origEnd: number): void {
    const n = s.length
    if (n === 0) return
    const at = this.size
    this.ensure(at + n)
    for (let i = 0; i < n; i++) this.units[at + i] = s.charCodeAt(i)
    this.starts.fill(origStart, at, at + n)
    this.ends.fill(origEnd, at, at + n)
    this.size = at + n
  }

  /** Appends one code unit. */
  appendCode(code: number, origStart: number, origEnd: number): void {
    const at = this.size
    if (at === this.units.length) this.ensure(at + 1)
    this.units[at] = code
    this.starts[at] = origStart
    this.ends[at] = origEnd
    this.size = at + 1
  }

  charCodeAt(i: number): number {
    return this.units[i - this._base]!
  }

  slice(from: number, to?: number): string {
    const a = from - this._base
    const b = (to ?? this.length) - this._base
    let out = ''
    // fromCharCode.apply has an argument-count limit: go in bounded pieces.
    for (let i = a; i < b; i += 8192) out += String.fromCharCode.apply(null, this.units.subarray(i, Math.min(b, i + 8192)) as unknown as number[])
    return out
  }

  origStart(i: number): number {
    return this.starts[i - this._base]!
  }

  origEnd(i: number): number {
    return this.ends[i - this._base]!
  }

  trim(to: number): void {
    const drop = Math.min(to, this.length) - this._base
    // Compacting costs a copy: only once the dead prefix is both large and most of the storage.
    if (drop < 64 || drop * 2 < this.size) return
    this.units.copyWithin(0, drop, this.size)
    this.starts.copyWithin(0, drop, this.size)
    this.ends.copyWithin(0, drop, this.size)
    this.size -= drop
    this._base += drop
  }

  private ensure(n: number): void {
    if (n <= this.units.length) return
    let cap = this.units.length * 2
    while (cap < n) cap *= 2
    const u = new Uint16Array(cap)
    u.set(this.units.subarray(0, this.size))
    const s = new Int32Array(cap)
    s.set(this.starts.subarray(0, this.size))
    const e = new Int32Array(cap)
    e.set(this.ends.subarray(0, this.size))
    this.units = u
    this.starts = s
    this.ends = e
  }
}
