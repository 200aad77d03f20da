import t from 'tap'
import { createSseParser, type SseEvent } from '../../../src/core/sse/index.js'
import { mulberry32 } from '../../helpers/prng.js'


function feed(chunks: Uint8Array[]): { events: SseEvent[]; lastEventId: string } {
  const p = createSseParser()
  const events: SseEvent[] = []
  for (const c of chunks) events.push(...p.push(c))
  events.push(...p.end())
  return { events, lastEventId: p.lastEventId }
}

function splitAt(all: Uint8Array, points: number[]): Uint8Array[] {
  const cuts = [...new Set(points)].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const c of cuts) {
    out.push(all.slice(prev, c))
    prev = c
  }
  out.push(all.slice(prev))
  return out
}

const byteByByte = (all: Uint8Array): Uint8Array[] => Array.from(all, (b) => Uint8Array.of(b))

// Every awkward case in one stream: BOM, all line endings (CRLF at chunk edges when split),
// comments, multi-byte characters of every width, ids, retry, empty data lines.
const STREAM =
  '\uFEFF: hello\r\n' +
  'event: greeting\r\ndata: héllo wörld €5 😀 漢字かな\r\nid: 1\r\n\r\n' +
  'data: line1\rdata:line2\r\rdata\n\n' +
  ':ping\n\n' +
  'data: {"choices":[{"delta":{"content":"👍🏽 café 中文"}}]}\r\nretry: 250\n\r\n' +
  'id: é€😀\ndata: ¢€𐍈\n\n' +
  'data:  x\r\n\r' +
  'data: trailing incomplete'

const EXPECTED: SseEvent[] = [
  { event: 'greeting', data: 'héllo wörld €5 😀 漢字かな', id: '1', comments: [' hello'] },
  { data: 'line1\nline2' },
  { data: '' },
  { data: '', comments: ['ping'], commentOnly: true },
  { data: '{"choices":[{"delta":{"content":"👍🏽 café 中文"}}]}', retry: 250 },
  { id: 'é€😀', data: '¢€𐍈' },
  { data: ' x' },
]

t.test('whole, byte by byte and random splits agree', async (t) => {
  const all = new TextEncoder().encode(STREAM)
  const whole = feed([all])
  t.same(whole.events, EXPECTED, 'whole stream at once')
  t.equal(whole.lastEventId, 'é€😀')
  t.same(feed(byteByByte(all)), whole, 'one byte at a time')

  const rand = mulberry32(0xc0ffee)
  let mismatches = 0
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(rand() * 12)
    const points = Array.from({ length: n }, () => Math.floor(rand() * all.length))
    const got = feed(splitAt(all, points))
    if (JSON.stringify(got) !== JSON.stringify(whole)) {
      mismatches++
      t.same(got, whole, `split at ${points.join(',')}`)
    }
  }
  t.equal(mismatches, 0, '300 random splittings')
})

t.test('every two-way split of the stream agrees', async (t) => {
  const all = new TextEncoder().encode(STREAM)
  const whole = JSON.stringify(feed([all]))
  const bad: number[] = []
  for (let cut = 0; cut <= all.length; cut++) {
    if (JSON.stringify(feed(splitAt(all, [cut]))) !== whole) bad.push(cut)
  }
  t.same(bad, [], 'no split point changes the result')
})

t.test('multi-byte characters split at every offset decode intact', async (t) => {
  for (const ch of ['é', '€', '😀', '漢', '𐍈']) {
    const text = `a${ch}b${ch}${ch}`
    const all = new TextEncoder().encode(`data: ${text}\n\n`)
    const width = new TextEncoder().encode(ch).length
    t.ok(width >= 2, `${ch} is ${width} bytes`)
    const start = 'data: a'.length
    for (let off = 1; off < width; off++) {
      const got = feed(splitAt(all, [start + off])).events
      t.same(got, [{ data: text }], `${ch} split after byte ${off}`)
    }
    // Consecutive characters, split inside both at once.
    const twin = start + width + 1
    for (let a = 1; a < width; a++) {
      for (let b = 1; b < width; b++) {
        const got = feed(splitAt(all, [twin + a, twin + width + b])).events
        t.same(got, [{ data: text }], `${ch}${ch} split after bytes ${a} and ${width + b}`)
      }
    }
  }
})

t.test('a long line in small chunks is linear, not quadratic', async (t) => {
  // 2 MiB in 1-byte pushes would take minutes if the held line were rescanned or re-copied.
  const n = 2 * 1024 * 1024
  const p = createSseParser({ maxEventBytes: 4 * 1024 * 1024 })
  p.push(new TextEncoder().encode('data: '))
  const x = Uint8Array.of(0x78)
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) p.push(x)
  const evs = p.push(Uint8Array.of(0x0a, 0x0a))
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.equal(evs.length, 1)
  t.equal(evs[0]?.data.length, n)
  t.ok(ms < 5000, `took ${ms.toFixed(0)} ms`)
})
