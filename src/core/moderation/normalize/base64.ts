import type { FoldedSink } from './folded-sink.js'

const NONE = Number.MAX_SAFE_INTEGER
/** Shorter runs (padding included) are words, not encodings. */
export const MIN_BASE64_RUN = 16
/** Longer runs stop being candidates (bounds what is held and decoded). */
export const MAX_BASE64_RUN = 4096

const PAD = 0x3d
/** Base64 digit value of an ASCII code, -1 when it is no digit (both alphabets). */
const DIGIT = new Int8Array(128).fill(-1)
const STANDARD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
for (let i = 0; i < 62; i++) DIGIT[STANDARD.charCodeAt(i)] = i
DIGIT[0x2b] = 62 // +
DIGIT[0x2f] = 63 // /
DIGIT[0x2d] = 62 // -
DIGIT[0x5f] = 63 // _

export const isBase64Digit = (c: number): boolean => c < 128 && DIGIT[c]! >= 0

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The text a base64 run encodes, or null when it is not one: at least MIN_BASE64_RUN characters
 * (padding included) of one alphabet (standard + / or url-safe - _), a length a base64 encoder can produce, valid
 * UTF-8, and at least 90 % printable (no C0/C1 controls other than tab and line breaks).
 */
export function decodeBase64Run(run: string): string | null {
  let len = run.length
  while (len > 0 && run.charCodeAt(len - 1) === PAD) len--
  const pad = run.length - len
  if (run.length < MIN_BASE64_RUN || len % 4 === 1 || pad > 2 || (pad > 0 && (len + pad) % 4 !== 0)) return null
  let standard = false
  let urlSafe = false
  const bytes = new Uint8Array((len * 3) >> 2)
  let acc = 0
  let bits = 0
  let at = 0
  for (let i = 0; i < len; i++) {
    const c = run.charCodeAt(i)
    const v = c < 128 ? DIGIT[c]! : -1
    if (v < 0) return null
    if (c === 0x2b || c === 0x2f) standard = true
    else if (c === 0x2d || c === 0x5f) urlSafe = true
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      bytes[at++] = (acc >> bits) & 0xff
    }
  }
  if (standard && urlSafe) return null
  let text: string
  try {
    text = utf8.decode(bytes.subarray(0, at))
  } catch {
    return null
  }
  let total = 0
  let control = 0
  for (const ch of text) {
    const cp = ch.codePointAt(0)!
    total++
    if ((cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) || (cp >= 0x7f && cp <= 0x9f)) control++
  }
  return total > 0 && control * 10 <= total ? text : null
}

/**
 * Finds base64 runs in the original text, one segment at a time: a maximal run of base64
 * digits optionally followed by up to two '='. While a run is open the folded sink holds its
 * units; when it closes it either decodes (the sink appends a space and the folded decoded
 * text) or is released as ordinary text. A run longer than MAX_BASE64_RUN is released at once
 * and the rest of it is ordinary text.
 */
export class Base64Runs {
  private start = -1
  private end = 0
  private readonly codes = new Uint8Array(MAX_BASE64_RUN + 2)
  private len = 0
  private pad = 0
  private overlong = false

  constructor(
    private readonly sink: FoldedSink,
    private readonly fold: (text: string) => string,
  ) {}

  /**
   * Called for each segment before it is folded: `ascii` is its code when the segment is one
   * ASCII character, else -1; [start, end) is where it lies in the original.
   */
  segment(ascii: number, start: number, end: number): void {
    const digit = ascii >= 0 && isBase64Digit(ascii)
    if (this.start >= 0) {
      if (digit && this.pad === 0) {
        if (this.len === MAX_BASE64_RUN) {
          this.start = -1
          this.overlong = true
          this.sink.release()
        } else {
          this.codes[this.len++] = ascii
          this.end = end
        }
        return
      }
      if (ascii === PAD && this.pad < 2) {
        this.codes[this.len++] = ascii
        this.pad++
        this.end = end
        return
      }
      this.close()
    } else if (this.overlong) {
      if (digit) return
      this.overlong = false
    }
    if (digit) {
      this.start = start
      this.end = end
      this.codes[0] = ascii
      this.len = 1
      this.pad = 0
      this.sink.hold(start)
    }
  }

  finish(): void {
    if (this.start >= 0) this.close()
    this.overlong = false
  }

  heldFrom(): number {
    return this.start >= 0 ? this.start : NONE
  }

  private close(): void {
    const start = this.start
    this.start = -1
    const decoded = this.len >= MIN_BASE64_RUN ? decodeBase64Run(String.fromCharCode(...this.codes.subarray(0, this.len))) : null
    const folded = decoded === null ? '' : this.fold(decoded)
    if (folded.length === 0) this.sink.release()
    else this.sink.insert(start, this.end, ' ' + folded)
  }
}
