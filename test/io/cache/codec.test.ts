import zlib from 'node:zlib'
import t from 'tap'
import type { CacheEntry } from '../../../src/core/cache/types.js'
import { CorruptEntryError, DEFAULT_COMPRESSION, decodeEntry, encodeEntry } from '../../../src/io/cache/codec.js'

const enc = new TextEncoder()
const MAX = 1024 * 1024

function sseEntry(): CacheEntry {
  const events = ['data: {"choices":[{"delta":{"content":"Hé"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"llo 😀"}}]}\n\n', 'data: [DONE]\n\n']
  const body = enc.encode(events.join(''))
  const ends: number[] = []
  let end = 0
  for (const e of events) ends.push((end += enc.encode(e).length))
  return {
    meta: {
      key: 'v1/chat/user/alice%40example.com/' + 'ab'.repeat(32),
      route: 'chat',
      createdAt: 1735689600000,
      freshUntil: 1735693200000,
      staleUntil: 1735693500000,
      tags: ['category:electronics', 'model:gpt-4o-mini'],
      contentType: 'text/event-stream',
      bytes: body.length,
      usage: { input: 12, output: 3 },
      model: 'gpt-4o-mini',
    },
    status: 200,
    headers: ['Content-Type', 'text/event-stream', 'x-request-id', 'req_1'],
    body,
    events: { ends, at: [120, 160, 161] },
  }
}

function jsonEntry(): CacheEntry {
  const body = enc.encode('{"id":"chatcmpl-1","choices":[{"message":{"content":"Hi"}}]}')
  return {
    meta: { key: 'v1/chat/shared/-/' + 'cd'.repeat(32), route: 'chat', createdAt: 1, freshUntil: 2, staleUntil: 3, tags: [], contentType: 'application/json', bytes: body.length },
    status: 200,
    headers: [],
    body,
  }
}

/** The entry as plain data, so that `same` compares bodies by content. */
const plain = (e: CacheEntry) => ({ ...e, body: Array.from(e.body) })

async function corruptReason(buf: Uint8Array, maxBytes = MAX): Promise<string | undefined> {
  try {
    await decodeEntry(buf, maxBytes)
    return undefined
  } catch (err) {
    if (err instanceof CorruptEntryError) return err.reason
    throw err
  }
}

/** A blob of the documented layout, built here without the encoder, from a raw payload. */
function wrap(payload: Uint8Array, algorithm: 'brotli' | 'gzip' = 'brotli'): Buffer {
  const compressed = algorithm === 'gzip' ? zlib.gzipSync(payload) : zlib.brotliCompressSync(payload)
  const head = Buffer.alloc(9)
  head.write('CHC1', 0, 'latin1')
  head[4] = algorithm === 'gzip' ? 0x67 : 0x62
  head.writeUInt32BE(zlib.crc32(compressed) >>> 0, 5)
  return Buffer.concat([head, compressed])
}

function payloadOf(head: unknown, body: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(head))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(json.length)
  return Buffer.concat([len, json, body])
}

t.test('round trip', async (t) => {
  for (const entry of [sseEntry(), jsonEntry()]) {
    for (const c of [DEFAULT_COMPRESSION, { algorithm: 'gzip', level: 1 } as const, { algorithm: 'gzip', level: 6 } as const, { algorithm: 'brotli', level: 11 } as const]) {
      const blob = await encodeEntry(entry, c)
      t.equal(blob.subarray(0, 4).toString('latin1'), 'CHC1', 'magic')
      t.equal(blob[4], c.algorithm === 'gzip' ? 0x67 : 0x62, 'algorithm byte')
      t.same(plain(await decodeEntry(blob, MAX)), plain(entry), `${entry.meta.contentType} ${c.algorithm} ${c.level}`)
    }
  }
  const big = { ...jsonEntry(), body: new Uint8Array(MAX).fill(0x61) }
  const bigEntry = { ...big, meta: { ...big.meta, bytes: MAX } }
  t.same(plain(await decodeEntry(await encodeEntry(bigEntry), MAX)), plain(bigEntry), 'a body of exactly maxBytes')
})

t.test('decodes a view into a larger buffer', async (t) => {
  const blob = await encodeEntry(sseEntry())
  const backing = new Uint8Array(blob.length + 13)
  backing.set(blob, 7)
  t.same(plain(await decodeEntry(backing.subarray(7, 7 + blob.length), MAX)), plain(sseEntry()))
})

t.test('the layout is as documented, and gzip entries decode', async (t) => {
  const e = sseEntry()
  const head = { meta: e.meta, status: e.status, headers: e.headers, events: e.events }
  for (const alg of ['gzip', 'brotli'] as const) {
    t.same(plain(await decodeEntry(wrap(payloadOf(head, e.body), alg), MAX)), plain(e), alg)
  }
  const blob = await encodeEntry(e)
  const payload = zlib.brotliDecompressSync(blob.subarray(9))
  t.equal(blob.readUInt32BE(5), zlib.crc32(blob.subarray(9)) >>> 0, 'CRC-32 of the compressed payload')
  const metaLength = payload.readUInt32BE(0)
  t.same(JSON.parse(payload.subarray(4, 4 + metaLength).toString()), JSON.parse(JSON.stringify(head)), 'JSON head')
  t.same(Array.from(payload.subarray(4 + metaLength)), Array.from(e.body), 'then the body')
})

t.test('every single-bit and single-byte change is caught', async (t) => {
  const blob = await encodeEntry(jsonEntry())
  let missed = 0
  let tried = 0
  for (let i = 0; i < blob.length; i++) {
    for (const mask of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
      const bad = Buffer.from(blob)
      bad[i]! ^= mask
      tried++
      if ((await corruptReason(bad)) === undefined) missed++
    }
  }
  t.equal(missed, 0, `${tried} changed blobs, all CorruptEntryError`)
  const reasons = new Set<string | undefined>()
  for (const i of [0, 3, 4, 5, 8, 9, blob.length - 1]) {
    const bad = Buffer.from(blob)
    bad[i]! ^= 0x01
    reasons.add(await corruptReason(bad))
  }
  t.same([...reasons].sort(), ['algorithm', 'checksum', 'header'], 'named by where the change is')
})

t.test('every truncation and an extension are caught', async (t) => {
  const blob = await encodeEntry(sseEntry())
  let missed = 0
  for (let n = 0; n < blob.length; n++) if ((await corruptReason(blob.subarray(0, n))) === undefined) missed++
  t.equal(missed, 0, `all ${blob.length} truncations`)
  t.equal(await corruptReason(Buffer.concat([blob, Buffer.of(0)])), 'checksum', 'a byte appended')
})

t.test('maxBytes bounds the body', async (t) => {
  const e = sseEntry()
  const blob = await encodeEntry(e)
  t.equal(await corruptReason(blob, e.body.length), undefined, 'at the bound')
  t.equal(await corruptReason(blob, e.body.length - 1), 'too_large', 'one byte over')
  t.equal(await corruptReason(blob, 0), 'too_large')
  // 8 MiB of zeros compresses to a few hundred bytes: inflating stops at the bound, not at 8 MiB.
  const bomb = { ...jsonEntry(), body: new Uint8Array(8 * MAX) }
  const bombBlob = await encodeEntry({ ...bomb, meta: { ...bomb.meta, bytes: bomb.body.length } })
  t.ok(bombBlob.length < 64 * 1024)
  t.equal(await corruptReason(bombBlob, 1000), 'too_large', 'inflation is bounded')
})

t.test('payloads with a valid checksum but wrong contents', async (t) => {
  const e = sseEntry()
  const head = { meta: e.meta, status: e.status, headers: e.headers, events: e.events }
  const cases: [string, Uint8Array, string][] = [
    ['empty payload', new Uint8Array(0), 'length'],
    ['short length prefix', Uint8Array.of(0, 0, 1), 'length'],
    ['metadata past the end', Buffer.concat([Buffer.of(0, 0, 1, 0), Buffer.from('{}')]), 'length'],
    ['not JSON', Buffer.concat([Buffer.of(0, 0, 0, 3), Buffer.from('{x}')]), 'json'],
    ['JSON not an object', payloadOf([1], e.body), 'shape'],
    ['no meta', payloadOf({ ...head, meta: undefined }, e.body), 'shape'],
    ['tags not strings', payloadOf({ ...head, meta: { ...e.meta, tags: [1] } }, e.body), 'shape'],
    ['a time not a number', payloadOf({ ...head, meta: { ...e.meta, freshUntil: 'soon' } }, e.body), 'shape'],
    ['bad usage', payloadOf({ ...head, meta: { ...e.meta, usage: { input: 1 } } }, e.body), 'shape'],
    ['status not an integer', payloadOf({ ...head, status: '200' }, e.body), 'shape'],
    ['odd header list', payloadOf({ ...head, headers: ['a'] }, e.body), 'shape'],
    ['header not a string', payloadOf({ ...head, headers: ['a', 1] }, e.body), 'shape'],
    ['meta bytes differ from the body', payloadOf({ ...head, meta: { ...e.meta, bytes: e.body.length + 1 } }, e.body), 'length'],
    ['body shorter than meta says', payloadOf(head, e.body.subarray(1)), 'length'],
    ['event end past the body', payloadOf({ ...head, events: { ends: [e.body.length + 1], at: [0] } }, e.body), 'length'],
    ['event ends not ascending', payloadOf({ ...head, events: { ends: [20, 10], at: [0, 0] } }, e.body), 'length'],
    ['events lists of different lengths', payloadOf({ ...head, events: { ends: [10], at: [] } }, e.body), 'shape'],
  ]
  for (const [name, payload, reason] of cases) t.equal(await corruptReason(wrap(payload)), reason, name)

  const wrongAlgorithm = wrap(payloadOf(head, e.body), 'brotli')
  wrongAlgorithm[4] = 0x67
  t.equal(await corruptReason(wrongAlgorithm), 'decompress', 'brotli bytes labelled gzip')
  const unknown = Buffer.from(await encodeEntry(e))
  unknown[4] = 0x7a
  t.equal(await corruptReason(unknown), 'algorithm')
  const v2 = Buffer.from(await encodeEntry(e))
  v2[3] = 0x32
  t.equal(await corruptReason(v2), 'header', 'another format version')
})

t.test('fields the JSON adds do not pass through', async (t) => {
  const e = jsonEntry()
  const head = { meta: { ...e.meta, extra: 'x' }, status: 200, headers: [], junk: true }
  const got = await decodeEntry(wrap(payloadOf(head, e.body)), MAX)
  t.same(Object.keys(got).sort(), ['body', 'headers', 'meta', 'status'])
  t.notOk('extra' in got.meta)
})

t.test('CorruptEntryError', async (t) => {
  const err = new CorruptEntryError('stored under another key')
  t.equal(err.reason, 'shape', 'a caller-found mismatch defaults to shape')
  t.match(err.message, /another key/)
  t.equal(err.name, 'CorruptEntryError')
})
