/**
 * A set of UTF-16 code units (0..0xFFFF) as a 64 Ki-bit bitmap. The regex analysis works in code
 * units because that is what the scanner reads: an astral code point contributes its high
 * surrogate as a first unit and its low surrogate as a second one.
 */
export class CodeSet {
  readonly bits = new Uint32Array(2048)

  static of(...units: number[]): CodeSet {
    const s = new CodeSet()
    for (const u of units) s.add(u)
    return s
  }

  static range(lo: number, hi: number): CodeSet {
    const s = new CodeSet()
    s.addRange(lo, hi)
    return s
  }

  add(u: number): void {
    this.bits[u >>> 5]! |= 1 << (u & 31)
  }

  /** Adds lo..hi inclusive. */
  addRange(lo: number, hi: number): void {
    if (hi < lo) return
    // Whole words in the middle, single bits at the ragged ends.
    while (lo <= hi && (lo & 31) !== 0) this.add(lo++)
    while (lo + 31 <= hi) {
      this.bits[lo >>> 5] = 0xffffffff
      lo += 32
    }
    while (lo <= hi) this.add(lo++)
  }

  addAll(other: CodeSet): void {
    const a = this.bits
    const b = other.bits
    for (let i = 0; i < 2048; i++) a[i]! |= b[i]!
  }

  has(u: number): boolean {
    return (this.bits[u >>> 5]! & (1 << (u & 31))) !== 0
  }

  /** True when some unit in lo..hi is a member. */
  hasAnyIn(lo: number, hi: number): boolean {
    for (let u = lo; u <= hi; u++) {
      if ((u & 31) === 0 && u + 31 <= hi) {
        if (this.bits[u >>> 5] !== 0) return true
        u += 31
        continue
      }
      if (this.has(u)) return true
    }
    return false
  }

  isEmpty(): boolean {
    return this.bits.every((w) => w === 0)
  }

  get size(): number {
    let n = 0
    for (let w of this.bits) {
      // Population count of one word.
      w = w - ((w >>> 1) & 0x55555555)
      w = (w & 0x33333333) + ((w >>> 2) & 0x33333333)
      n += (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
    }
    return n
  }

  clone(): CodeSet {
    const s = new CodeSet()
    s.bits.set(this.bits)
    return s
  }

  /** The units not in this set. */
  complement(): CodeSet {
    const s = new CodeSet()
    for (let i = 0; i < 2048; i++) s.bits[i] = ~this.bits[i]!
    return s
  }

  /** Calls fn for each member in increasing order. */
  forEach(fn: (u: number) => void): void {
    for (let i = 0; i < 2048; i++) {
      let w = this.bits[i]!
      while (w !== 0) {
        const low = w & -w
        fn((i << 5) + 31 - Math.clz32(low))
        w ^= low
      }
    }
  }
}
