/**
 * Where a writer's chain stands on disk, from the last bytes of its last file: the last line that
 * is a valid record of this writer, and whatever follows it (a torn write: a line cut short by a
 * crash, or garbage a power loss left). Only a window of the tail is read; the caller widens the
 * window when it holds no valid record yet.
 */
import { checkLine } from './line-check.js'
import type { ParsedRecord } from './record.js'

export interface TailScan {
  /** The last valid record of the writer in the window, if any. */
  readonly last?: ParsedRecord
  /** Absolute offset where the bytes after `last` start (its end, newline included). */
  readonly validEnd: number
  /** `last` is the file's final line and lacks its newline: append nothing after it. */
  readonly unterminated: boolean
  /** The window reached the start of the file, so no earlier record can exist in it. */
  readonly complete: boolean
}

const NL = 0x0a

/**
 * `window` holds the file's bytes from absolute offset `start` to its end. A window that starts
 * mid-file begins with a partial line, which is never taken for a record.
 */
export function scanTail(window: Uint8Array, start: number, writer: string): TailScan {
  const buf = Buffer.from(window.buffer, window.byteOffset, window.byteLength)
  // Segments are walked from the last: [segStart, segEnd), followed by a newline when `terminated`.
  let segEnd = buf.length
  let terminated = false
  for (;;) {
    const nl = segEnd > 0 ? buf.lastIndexOf(NL, segEnd - 1) : -1
    // The first segment of a window that starts mid-file may be a cut line: never a candidate.
    if (nl < 0 && start > 0) break
    const segStart = nl + 1
    if (segEnd > segStart) {
      const checked = checkLine(buf.toString('utf8', segStart, segEnd))
      if (checked.ok && checked.record.writer === writer) {
        return { last: checked.record, validEnd: start + segEnd + (terminated ? 1 : 0), unterminated: !terminated, complete: true }
      }
    }
    if (nl < 0) break
    segEnd = nl
    terminated = true
  }
  return { validEnd: start, unterminated: false, complete: start === 0 }
}
