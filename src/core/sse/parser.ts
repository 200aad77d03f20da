import type { SseEvent } from './types.js'

const LF = 0x0a
const CR = 0x0d
const COLON = 0x3a
const SPACE = 0x20
const BOM = Uint8Array.of(0xef, 0xbb, 0xbf)
const DIGITS = /^[0-9]+$/

export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

/** Held partial lines start small; a buffer that grew for one huge line is dropped after it. */
const INITIAL_LINE_CAPACITY = 256
const KEEP_LINE_CAPACITY = 64 * 1024

/** One event (its lines plus the unfinished line) grew past `maxEventBytes`. */
export class SseLimitError extends Error {
  readonly limit: number
  readonly seen: number
  constructor(limit: number, seen: number) {
    super(`SSE event exceeds ${limit} bytes (at least ${seen} buffered)`)
    this.name = 'SseLimitError'
    this.limit = limit
    this.seen = seen
  }
}

export interface SseParserOptions {
  /** Bound on the bytes held for a single event, terminators excluded. Default 1 MiB. */
  maxEventBytes?: number
}

export interface SseParser {
  /** Feeds bytes; returns the events completed by them, in order. Throws SseLimitError. */
  push(chunk: Uint8Array): SseEvent[]
  /**
   * Ends the stream. Per the spec an event not closed by a blank line is discarded, so this
   * returns no events; check `pendingBytes` first to tell a clean end from a truncated one.
   */
  end(): SseEvent[]
  /** The spec's "last event ID string": the last valid `id:` seen, as of the last blank line. */
  readonly lastEventId: string
  /** Bytes held for the event in progress (0 at a clean event boundary). */
  readonly pendingBytes: number
}

export function createSseParser(opts: SseParserOptions = {}): SseParser {
  const limit = opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
  if (!(limit > 0)) throw new RangeError(`maxEventBytes must be positive, got ${limit}`)
  return new Parser(limit)
}

/**
 * Works on bytes and decodes whole lines only: CR and LF never occur inside a multi-byte UTF-8
 * sequence, so a line boundary is always a character boundary and characters split across
 * chunks need no decoder state. Each chunk is scanned once; the unfinished tail is copied into
 * one growing buffer, so the cost stays linear however the stream is chunked.
 */
class Parser implements SseParser {
  // ignoreBOM: a BOM is only stripped at the start of the stream (handled here), never per line.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true })
  private readonly limit: number

  private bomMatched = 0
  private bomDone = false
  /** The previous chunk ended with CR: an LF starting this one belongs to that terminator. */
  private afterCR = false
  private line = new Uint8Array(INITIAL_LINE_CAPACITY)
  private lineLen = 0
  /** Bytes of the completed lines of the event in progress. */
  private blockBytes = 0

  private dataLines: string[] = []
  private comments: string[] = []
  private eventType: string | undefined
  private blockId: string | undefined
  private blockRetry: number | undefined
  /** The spec's "last event ID buffer"; unlike the other fields it survives dispatch. */
  private idBuffer = ''
  private lastId = ''

  private failure: SseLimitError | undefined
  private ended = false

  constructor(limit: number) {
    this.limit = limit
  }

  get lastEventId(): string {
    return this.lastId
  }

  get pendingBytes(): number {
    return this.blockBytes + this.lineLen + (this.bomDone ? 0 : this.bomMatched)
  }

  push(chunk: Uint8Array): SseEvent[] {
    // After a limit error the event boundaries are lost; resuming would misparse what follows.
    if (this.failure) throw this.failure
    if (this.ended) throw new Error('SSE parser: push() after end()')
    const out: SseEvent[] = []
    const bytes = this.bomDone ? chunk : this.skipBom(chunk, out)
    this.scan(bytes, out)
    return out
  }

  end(): SseEvent[] {
    // Spec: "If the file ends in the middle of an event, before the final empty line, the
    // incomplete event is not dispatched." We follow it, rather than guess that a truncated
    // upstream meant to finish the event.
    this.ended = true
    this.lineLen = 0
    this.blockBytes = 0
    this.resetBlock()
    return []
  }

  /** Consumes a leading BOM, which may arrive split; returns the bytes left to scan. */
  private skipBom(chunk: Uint8Array, out: SseEvent[]): Uint8Array {
    const heldBefore = this.bomMatched
    let i = 0
    while (this.bomMatched < BOM.length && i < chunk.length && chunk[i] === BOM[this.bomMatched]) {
      this.bomMatched++
      i++
    }
    if (this.bomMatched === BOM.length) {
      this.bomDone = true
      return chunk.subarray(i)
    }
    if (i === chunk.length) return chunk.subarray(i)
    // Not a BOM after all: the bytes held back from earlier chunks are ordinary data.
    this.bomDone = true
    if (heldBefore > 0) this.scan(BOM.subarray(0, heldBefore), out)
    return chunk
  }

  private scan(bytes: Uint8Array, out: SseEvent[]): void {
    const n = bytes.length
    if (n === 0) return
    let pos = 0
    if (this.afterCR) {
      this.afterCR = false
      if (bytes[0] === LF) pos = 1
    }
    let nextLF = bytes.indexOf(LF, pos)
    let nextCR = bytes.indexOf(CR, pos)
    while (pos < n) {
      if (nextLF !== -1 && nextLF < pos) nextLF = bytes.indexOf(LF, pos)
      if (nextCR !== -1 && nextCR < pos) nextCR = bytes.indexOf(CR, pos)
      const end = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR)
      if (end === -1) break
      this.completeLine(bytes, pos, end, out)
      pos = end + 1
      if (bytes[end] === CR) {
        if (pos < n) {
          if (bytes[pos] === LF) pos++
        } else {
          this.afterCR = true
        }
      }
    }
    if (pos < n) this.hold(bytes, pos, n)
  }

  private hold(bytes: Uint8Array, from: number, to: number): void {
    const len = to - from
    const needed = this.lineLen + len
    this.check(this.blockBytes + needed)
    if (needed > this.line.length) {
      // check() above guarantees needed <= limit, so capping at the limit never truncates.
      const grown = new Uint8Array(Math.min(Math.max(this.line.length * 2, needed), this.limit))
      grown.set(this.line.subarray(0, this.lineLen))
      this.line = grown
    }
    this.line.set(bytes.subarray(from, to), this.lineLen)
    this.lineLen = needed
  }

  private completeLine(bytes: Uint8Array, from: number, to: number, out: SseEvent[]): void {
    let raw: Uint8Array
    if (this.lineLen === 0) {
      raw = bytes.subarray(from, to)
      this.check(this.blockBytes + raw.length)
    } else {
      this.hold(bytes, from, to)
      raw = this.line.subarray(0, this.lineLen)
    }
    if (raw.length === 0) {
      this.dispatch(out)
    } else {
      this.blockBytes += raw.length
      this.field(raw)
    }
    this.lineLen = 0
    if (this.line.length > KEEP_LINE_CAPACITY) this.line = new Uint8Array(INITIAL_LINE_CAPACITY)
  }

  private field(raw: Uint8Array): void {
    if (raw[0] === COLON) {
      this.comments.push(this.decoder.decode(raw.subarray(1)))
      return
    }
    // The field name is matched on bytes so that lines of unknown fields are never decoded.
    const colon = raw.indexOf(COLON)
    const nameEnd = colon === -1 ? raw.length : colon
    const name = fieldName(raw, nameEnd)
    if (name === undefined) return
    let valueStart = colon === -1 ? raw.length : colon + 1
    if (raw[valueStart] === SPACE) valueStart++
    const value = valueStart >= raw.length ? '' : this.decoder.decode(raw.subarray(valueStart))
    switch (name) {
      case 'data':
        this.dataLines.push(value)
        break
      case 'event':
        this.eventType = value
        break
      case 'id':
        if (!value.includes('\0')) {
          this.idBuffer = value
          this.blockId = value
        }
        break
      case 'retry':
        // Digits only per spec; values beyond 2^53 are dropped too, as they cannot round-trip.
        if (DIGITS.test(value)) {
          const ms = Number(value)
          if (Number.isSafeInteger(ms)) this.blockRetry = ms
        }
        break
    }
  }

  private dispatch(out: SseEvent[]): void {
    this.lastId = this.idBuffer
    if (this.dataLines.length > 0) {
      const ev: SseEvent = { data: this.dataLines.length === 1 ? (this.dataLines[0] as string) : this.dataLines.join('\n') }
      if (this.eventType !== undefined) ev.event = this.eventType
      if (this.blockId !== undefined) ev.id = this.blockId
      if (this.blockRetry !== undefined) ev.retry = this.blockRetry
      if (this.comments.length > 0) ev.comments = this.comments
      out.push(ev)
    } else if (this.comments.length > 0 || this.blockId !== undefined || this.blockRetry !== undefined) {
      // Our extension: the spec dispatches nothing here, but a proxy that dropped this block
      // would silence keep-alives and hide id/retry updates from the client.
      const ev: SseEvent = { data: '', commentOnly: true }
      if (this.blockId !== undefined) ev.id = this.blockId
      if (this.blockRetry !== undefined) ev.retry = this.blockRetry
      if (this.comments.length > 0) ev.comments = this.comments
      out.push(ev)
    }
    this.blockBytes = 0
    this.resetBlock()
  }

  private resetBlock(): void {
    if (this.dataLines.length > 0) this.dataLines = []
    if (this.comments.length > 0) this.comments = []
    this.eventType = undefined
    this.blockId = undefined
    this.blockRetry = undefined
  }

  private check(seen: number): void {
    if (seen > this.limit) {
      this.failure = new SseLimitError(this.limit, seen)
      throw this.failure
    }
  }
}

const FIELD_NAMES = ['data', 'event', 'id', 'retry'] as const
type FieldName = (typeof FIELD_NAMES)[number]
const FIELD_BYTES = FIELD_NAMES.map((n) => Uint8Array.from(n, (c) => c.charCodeAt(0)))

function fieldName(raw: Uint8Array, len: number): FieldName | undefined {
  for (let f = 0; f < FIELD_BYTES.length; f++) {
    const bytes = FIELD_BYTES[f] as Uint8Array
    if (bytes.length !== len) continue
    let i = 0
    while (i < len && raw[i] === bytes[i]) i++
    if (i === len) return FIELD_NAMES[f]
  }
  return undefined
}
