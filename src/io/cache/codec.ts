/**
 * The wire form of a cache entry in the shared tier (Redis):
 *
 *   "CHC1" | algorithm (1 byte) | CRC-32 of the compressed payload (u32 BE) | compressed payload
 *   payload = metaLength (u32 BE) | JSON {meta, status, headers, events} | body bytes
 *
 * The magic carries the format version. The checksum is over the compressed bytes so that a
 * corrupt entry is caught before it reaches the decompressor. Compression runs on the libuv
 * thread pool (async zlib): the sync calls would stall the event loop for milliseconds on a
 * 1 MB entry.
 */
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { CacheEntry, CacheEntryMeta, EntryUsage } from '../../core/cache/types.js'

const MAGIC = Buffer.from('CHC1', 'latin1')
const HEADER_BYTES = MAGIC.length + 1 + 4

export type CompressionAlgorithm = 'brotli' | 'gzip'

export interface Compression {
  readonly algorithm: CompressionAlgorithm
  /** gzip level (1–9) or brotli quality (0–11). */
  readonly level: number
}

/**
 * Brotli quality 1, by measurement (bench/cache-codec.js; bench/results-cache-codec.json, Node
 * 20, 2 shared cores): on a realistic ~100 KB OpenAI chat stream it is the one setting that
 * encodes in well under 1 ms (p50 0.40 ms; gzip -1 0.73, brotli 4 0.91, gzip -6 1.17) and it
 * stores 6.1% of the body, less than gzip -1 (6.3%) and near gzip -6 (5.9%). Brotli 4 would
 * store ~13% less for over twice the encode time; brotli 11 takes a quarter of a second. On
 * 1 MB it encodes in 2.3 ms, half of gzip -1. On a 4 KB JSON answer it stores ~150 bytes more
 * than gzip -6, which does not matter at that size. Decoding costs about the same whatever the
 * setting (~0.5 ms per 100 KB).
 */
export const DEFAULT_COMPRESSION: Compression = Object.freeze({ algorithm: 'brotli', level: 1 })

/** The algorithm byte: 'b' and 'g', two bits apart, so no single bit flip turns one into the other. */
const ALGORITHM_ID: Readonly<Record<CompressionAlgorithm, number>> = { brotli: 0x62, gzip: 0x67 }

const brotliCompress = promisify(zlib.brotliCompress)
const brotliDecompress = promisify(zlib.brotliDecompress)
const gzip = promisify(zlib.gzip)
const gunzip = promisify(zlib.gunzip)

/**
 * The metadata of an entry is small (key, headers, tags) but for its event list, which a 1 MB
 * stream of tiny events can make large; this bounds what a decoder inflates beyond the body.
 */
const META_FIXED_BYTES = 1024 * 1024
const META_BYTES_PER_BODY_BYTE = 2

export type CorruptReason = 'header' | 'algorithm' | 'checksum' | 'decompress' | 'length' | 'json' | 'shape' | 'too_large'

/** The bytes are not an entry this codec wrote, or were damaged since. */
export class CorruptEntryError extends Error {
  readonly reason: CorruptReason
  /** `reason` defaults to 'shape': a caller that finds the entry wrong for its use (a key mismatch). */
  constructor(detail: string, reason: CorruptReason = 'shape') {
    super(`corrupt cache entry (${reason}): ${detail}`)
    this.name = 'CorruptEntryError'
    this.reason = reason
  }
}

interface StoredHead {
  meta: CacheEntryMeta
  status: number
  headers: readonly string[]
  events?: CacheEntry['events']
}

export async function encodeEntry(entry: CacheEntry, compression: Compression = DEFAULT_COMPRESSION): Promise<Buffer> {
  const head: StoredHead = { meta: entry.meta, status: entry.status, headers: entry.headers }
  if (entry.events) head.events = { ends: entry.events.ends, at: entry.events.at }
  const json = Buffer.from(JSON.stringify(head), 'utf8')
  const payload = Buffer.allocUnsafe(4 + json.length + entry.body.length)
  payload.writeUInt32BE(json.length, 0)
  json.copy(payload, 4)
  payload.set(entry.body, 4 + json.length)
  const compressed = await compress(payload, compression)
  const out = Buffer.allocUnsafe(HEADER_BYTES + compressed.length)
  MAGIC.copy(out, 0)
  out[MAGIC.length] = ALGORITHM_ID[compression.algorithm]
  out.writeUInt32BE(zlib.crc32(compressed) >>> 0, MAGIC.length + 1)
  compressed.copy(out, HEADER_BYTES)
  return out
}

function compress(payload: Buffer, c: Compression): Promise<Buffer> {
  if (c.algorithm === 'gzip') return gzip(payload, { level: c.level })
  return brotliCompress(payload, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: c.level,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: payload.length,
    },
  })
}

/**
 * Decodes an entry; throws CorruptEntryError on anything wrong, including a body over
 * `maxBytes` (the inflated size is bounded while inflating, so a small entry cannot expand into
 * a large allocation).
 */
export async function decodeEntry(buf: Uint8Array, maxBytes: number): Promise<CacheEntry> {
  if (buf.length < HEADER_BYTES) throw new CorruptEntryError(`${buf.length} bytes`, 'header')
  for (let i = 0; i < MAGIC.length; i++) {
    if (buf[i] !== MAGIC[i]) throw new CorruptEntryError('bad magic or version', 'header')
  }
  const id = buf[MAGIC.length]
  const algorithm = id === ALGORITHM_ID.brotli ? 'brotli' : id === ALGORITHM_ID.gzip ? 'gzip' : undefined
  if (algorithm === undefined) throw new CorruptEntryError(`unknown algorithm id ${id}`, 'algorithm')
  const compressed = buf.subarray(HEADER_BYTES)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const stored = view.getUint32(MAGIC.length + 1)
  if ((zlib.crc32(compressed) >>> 0) !== stored) throw new CorruptEntryError('CRC-32 mismatch', 'checksum')

  const maxPayload = 4 + META_FIXED_BYTES + (META_BYTES_PER_BODY_BYTE + 1) * Math.max(0, maxBytes)
  let payload: Buffer
  try {
    payload = algorithm === 'brotli' ? await brotliDecompress(compressed, { maxOutputLength: maxPayload }) : await gunzip(compressed, { maxOutputLength: maxPayload })
  } catch (err) {
    // Node reports going over maxOutputLength as a RangeError, a bad stream as a zlib error.
    if (err instanceof RangeError) throw new CorruptEntryError(`inflates past ${maxPayload} bytes`, 'too_large')
    throw new CorruptEntryError((err as Error).message, 'decompress')
  }

  if (payload.length < 4) throw new CorruptEntryError('payload shorter than its length prefix', 'length')
  const metaLength = payload.readUInt32BE(0)
  if (metaLength > payload.length - 4) throw new CorruptEntryError(`metadata length ${metaLength} past the payload`, 'length')
  let head: unknown
  try {
    head = JSON.parse(payload.toString('utf8', 4, 4 + metaLength))
  } catch (err) {
    throw new CorruptEntryError((err as Error).message, 'json')
  }
  const body = payload.subarray(4 + metaLength)
  if (body.length > maxBytes) throw new CorruptEntryError(`body of ${body.length} bytes over ${maxBytes}`, 'too_large')
  return readHead(head, body)
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string'
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function shape(detail: string): never {
  throw new CorruptEntryError(detail, 'shape')
}

/** Rebuilds the entry from the stored JSON, field by field: nothing the JSON adds passes through. */
function readHead(head: unknown, body: Buffer): CacheEntry {
  if (!isObj(head)) shape('not an object')
  const m = head.meta
  if (!isObj(m)) shape('meta')
  const { key, route, createdAt, freshUntil, staleUntil, tags, contentType, bytes, usage, model } = m
  if (!isStr(key) || !isStr(route) || !isStr(contentType)) shape('meta strings')
  if (!isNum(createdAt) || !isNum(freshUntil) || !isNum(staleUntil)) shape('meta times')
  if (!Array.isArray(tags) || !tags.every(isStr)) shape('meta tags')
  if (bytes !== body.length) throw new CorruptEntryError(`meta says ${String(bytes)} body bytes, found ${body.length}`, 'length')
  if (model !== undefined && !isStr(model)) shape('meta model')
  let u: EntryUsage | undefined
  if (usage !== undefined) {
    if (!isObj(usage) || !isNum(usage.input) || !isNum(usage.output)) shape('meta usage')
    u = { input: usage.input, output: usage.output }
  }
  const meta: CacheEntryMeta = {
    key,
    route,
    createdAt,
    freshUntil,
    staleUntil,
    tags: tags as string[],
    contentType,
    bytes,
    ...(u ? { usage: u } : {}),
    ...(model !== undefined ? { model } : {}),
  }

  const { status, headers, events } = head
  if (!Number.isInteger(status)) shape('status')
  if (!Array.isArray(headers) || headers.length % 2 !== 0 || !headers.every(isStr)) shape('headers')
  const entry: { -readonly [K in keyof CacheEntry]: CacheEntry[K] } = { meta, status: status as number, headers: headers as string[], body }
  if (events !== undefined) entry.events = readEvents(events, body.length)
  return entry
}

function readEvents(events: unknown, length: number): NonNullable<CacheEntry['events']> {
  if (!isObj(events)) shape('events')
  const { ends, at } = events
  if (!Array.isArray(ends) || !Array.isArray(at) || ends.length !== at.length) shape('events lists')
  let prev = 0
  for (const e of ends) {
    if (!Number.isSafeInteger(e) || (e as number) <= prev || (e as number) > length) {
      throw new CorruptEntryError('event ends not ascending within the body', 'length')
    }
    prev = e as number
  }
  if (!at.every(isNum)) shape('events times')
  return { ends: ends as number[], at: at as number[] }
}
