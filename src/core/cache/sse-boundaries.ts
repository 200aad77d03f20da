/**
 * Where the events of a raw SSE byte stream end, found while the stream passes through, so a
 * cached stream can be replayed with its original event boundaries and a stream cut inside an
 * event is never stored. It reads only line terminators (WHATWG HTML §9.2.5: CRLF, LF or CR)
 * and whether a line is empty; it neither decodes nor copies the bytes.
 */

const LF = 0x0a
const CR = 0x0d
const BOM = [0xef, 0xbb, 0xbf] as const

export interface BoundaryFinder {
  /**
   * Feeds the next bytes; returns the offsets (from the start of the stream) just past each
   * blank line they completed, ascending. A blank line ending in a CR that is the last byte
   * seen so far is reported by the next push (or end()), once it is known whether an LF follows.
   */
  push(chunk: Uint8Array): number[]
  /** The stream ended: reports the boundary still waiting for the byte after a final CR. */
  end(): number[]
  /** Bytes after the last reported boundary: 0 when everything seen so far is whole events. */
  pending(): number
}

export function createBoundaryFinder(): BoundaryFinder {
  return new Finder()
}

/**
 * Every blank line is a boundary, including one that closes an empty block (a stray blank line
 * after an event): the parser dispatches there too, and a stream that ends with one ends on a
 * boundary. So the boundaries are a superset of the parser's events: a block with no `data:`
 * (only `event:`, or nothing) makes a boundary but no event.
 */
class Finder implements BoundaryFinder {
  private total = 0
  private last = 0
  /** No byte of the current line seen yet (a BOM is not part of the first line). */
  private lineEmpty = true
  /** The previous byte was a CR line terminator: an LF right after it belongs to it. */
  private afterCR = false
  /** That CR ended a blank line: its boundary is after the CR, or after the LF if one follows. */
  private crBoundary = false
  private bomMatched = 0
  private bomDone = false
  private ended = false

  push(chunk: Uint8Array): number[] {
    if (this.ended) throw new Error('SSE boundary finder: push() after end()')
    const out: number[] = []
    const n = chunk.length
    const base = this.total
    let i = 0
    if (!this.bomDone) i = this.skipBom(chunk)
    for (; i < n; i++) {
      const b = chunk[i]!
      if (this.afterCR) {
        this.afterCR = false
        if (b === LF) {
          if (this.crBoundary) this.report(base + i + 1, out)
          this.crBoundary = false
          continue
        }
        if (this.crBoundary) this.report(base + i, out)
        this.crBoundary = false
      }
      if (b === LF) {
        if (this.lineEmpty) this.report(base + i + 1, out)
        this.lineEmpty = true
      } else if (b === CR) {
        this.afterCR = true
        this.crBoundary = this.lineEmpty
        this.lineEmpty = true
      } else {
        this.lineEmpty = false
      }
    }
    this.total = base + n
    return out
  }

  end(): number[] {
    if (this.ended) return []
    this.ended = true
    const out: number[] = []
    if (this.crBoundary) this.report(this.total, out)
    this.crBoundary = false
    this.afterCR = false
    return out
  }

  pending(): number {
    return this.total - this.last
  }

  private report(offset: number, out: number[]): void {
    out.push(offset)
    this.last = offset
  }

  /** Consumes the leading BOM's bytes in this chunk (it may arrive split); returns where lines start. */
  private skipBom(chunk: Uint8Array): number {
    let i = 0
    while (this.bomMatched < BOM.length && i < chunk.length && chunk[i] === BOM[this.bomMatched]) {
      this.bomMatched++
      i++
    }
    if (this.bomMatched === BOM.length) {
      this.bomDone = true
      return i
    }
    if (i === chunk.length) return i
    // Not a BOM after all. The bytes taken for one were ordinary line content (none is a line
    // terminator), so the line is not empty; the byte that broke the match is scanned as usual.
    this.bomDone = true
    if (this.bomMatched > 0) this.lineEmpty = false
    return i
  }
}
