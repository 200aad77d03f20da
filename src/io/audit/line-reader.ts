/**
 * Lines of a file as a stream of byte slices, with their number, offset and whether a newline
 * ended them: the verifier needs the exact bytes (a torn tail's SHA-256) and whether the last
 * line is complete, which readline hides. Memory stays at one chunk plus one line.
 */
import { createReadStream } from 'node:fs'
import type { LogLine } from '../../core/audit/verify/verifier.js'

const NL = 0x0a

/** A line longer than this is cut here (and cannot be a valid record). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024

export async function* readLines(path: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<LogLine> {
  let carry: Buffer[] = []
  let carryBytes = 0
  let number = 0
  let offset = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let from = 0
    for (;;) {
      const nl = chunk.indexOf(NL, from)
      if (nl < 0) break
      const piece = chunk.subarray(from, nl)
      const bytes = carryBytes > 0 ? Buffer.concat([...carry, piece]) : piece
      const line: LogLine = { bytes: bytes.subarray(0, maxLineBytes), number: ++number, offset, terminated: true }
      offset += carryBytes + piece.length + 1
      carry = []
      carryBytes = 0
      yield line
      from = nl + 1
    }
    if (from < chunk.length) {
      // Copied: the stream may reuse its chunk buffers.
      if (carryBytes < maxLineBytes) carry.push(Buffer.from(chunk.subarray(from)))
      carryBytes += chunk.length - from
    }
  }
  if (carryBytes > 0) yield { bytes: Buffer.concat(carry).subarray(0, maxLineBytes), number: ++number, offset, terminated: false }
}
