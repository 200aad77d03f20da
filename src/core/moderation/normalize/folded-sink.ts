import type { ViewBuffer } from '../view-buffer.js'

const NONE = Number.MAX_SAFE_INTEGER

/**
 * The last stage before the folded view. Without base64 decoding it only writes code points
 * as UTF-16. With it, units of a base64 run still being read are held (the run's text would
 * otherwise be final before we know whether its units map to the whole run); once a run
 * decoded, each of its units maps to the run's whole span and the decoded text is written
 * right after the run's last unit, which is the first moment a unit from beyond the run
 * arrives or nothing before the run's end is held upstream any more.
 */
export class FoldedSink {
  private holdFrom = -1
  private cps: Int32Array = new Int32Array(64)
  private starts: Int32Array = new Int32Array(64)
  private ends: Int32Array = new Int32Array(64)
  private held = 0
  private readonly insStart: number[] = []
  private readonly insEnd: number[] = []
  private readonly insText: string[] = []

  constructor(private readonly view: ViewBuffer) {}

  unit(cp: number, start: number, end: number): void {
    if (this.insText.length !== 0) {
      while (this.insText.length !== 0 && start >= this.insEnd[0]!) this.writeInsertion()
      if (this.insText.length !== 0 && start >= this.insStart[0]!) {
        start = this.insStart[0]!
        end = this.insEnd[0]!
      }
    }
    if (this.holdFrom >= 0 && start >= this.holdFrom) this.keep(cp, start, end)
    else this.write(cp, start, end)
  }

  /** Units from original offset `from` on wait for release() or insert(). */
  hold(from: number): void {
    this.holdFrom = from
  }

  /** The held run was not base64: its units go out as they are. */
  release(): void {
    const n = this.held
    this.held = 0
    this.holdFrom = -1
    for (let i = 0; i < n; i++) this.unit(this.cps[i]!, this.starts[i]!, this.ends[i]!)
  }

  /** The run at original [start, end) decoded: `text` follows its last folded unit. */
  insert(start: number, end: number, text: string): void {
    this.insStart.push(start)
    this.insEnd.push(end)
    this.insText.push(text)
    this.release()
  }

  /** Nothing that maps before `upstreamHeld` can still arrive: write insertions that ended. */
  settle(upstreamHeld: number): void {
    while (this.insText.length !== 0 && this.insEnd[0]! <= upstreamHeld) this.writeInsertion()
  }

  end(): void {
    this.release()
    while (this.insText.length !== 0) this.writeInsertion()
  }

  /** Lowest original offset whose folded units are not written yet (NONE when none). */
  heldFrom(): number {
    const ins = this.insText.length !== 0 ? this.insStart[0]! : NONE
    return this.holdFrom >= 0 ? Math.min(this.holdFrom, ins) : ins
  }

  private writeInsertion(): void {
    this.view.append(this.insText.shift()!, this.insStart.shift()!, this.insEnd.shift()!)
  }

  private write(cp: number, start: number, end: number): void {
    if (cp < 0x10000) {
      this.view.appendCode(cp, start, end)
    } else {
      this.view.appendCode(0xd800 + ((cp - 0x10000) >> 10), start, end)
      this.view.appendCode(0xdc00 + ((cp - 0x10000) & 0x3ff), start, end)
    }
  }

  private keep(cp: number, start: number, end: number): void {
    if (this.held === this.cps.length) {
      this.cps = grow(this.cps)
      this.starts = grow(this.starts)
      this.ends = grow(this.ends)
    }
    this.cps[this.held] = cp
    this.starts[this.held] = start
    this.ends[this.held++] = end
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2)
  b.set(a)
  return b
}
