import t from 'tap'
import { createBoundaryFinder } from '../../../src/core/cache/sse-boundaries.js'
import { createSseParser } from '../../../src/core/sse/index.js'
import { mulberry32 } from '../../helpers/prng.js'

const enc = new TextEncoder()

/** Feeds `chunks` and ends the stream; returns every boundary and what was pending at the end. */
function find(chunks: readonly Uint8Array[]): { ends: number[]; pending: number } {
  const f = createBoundaryFinder()
  const ends: number[] = []
  for (const c of chunks) ends.push(...f.push(c))
  ends.push(...f.end())
  return { ends, pending: f.pending() }
}

function cut(all: Uint8Array, points: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of points) {
    out.push(all.subarray(prev, p))
    prev = p
  }
  out.push(all.subarray(prev))
  return out
}

/**
 * An independent reading of the spec over the whole stream at once, where no terminator can be
 * split: after an optional BOM, lines end at CRLF, LF or CR, and an empty line ends a block.
 */
function reference(all: Uint8Array): number[] {
  let i = all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? 3 : 0
  const out: number[] = []
  let lineStart = i
  while (i < all.length) {
    const b = all[i]
    if (b !== 0x0a && b !== 0x0d) {
      i++
      continue
    }
    const empty = i === lineStart
    i += b === 0x0d && all[i + 1] === 0x0a ? 2 : 1
    if (empty) out.push(i)
    lineStart = i
  }
  return out
}

// Every block dispatches something in the parser (data, or a comment), so boundaries and parser
// events correspond one to one. CRLF, LF and CR endings, blank lines of each kind, multi-byte text.
const SAMPLE =
  '\uFEFF: hello\r\n\r\n' +
  'event: greeting\r\ndata: héllo wörld €5 😀\r\nid: 1\r\n\r\n' +
  'data: line1\rdata:line2\r\r' +
  ':ping\n\n' +
  'data: {"choices":[{"delta":{"content":"👍🏽 café"}}]}\r\nretry: 250\n\r\n' +
  'data: a\n\r' +
  'data: b\r\n\r' +
  'data: c\r\r\n' +
  'data: [DONE]\r\n\r\n'

t.test('matches a whole-stream reading of the spec', async (t) => {
  const all = enc.encode(SAMPLE)
  const expected = reference(all)
  t.equal(expected.length, 9, 'the sample has nine blocks')
  t.same(find([all]), { ends: expected, pending: 0 })
})

t.test('every split point gives the same boundaries as the whole stream', async (t) => {
  const all = enc.encode(SAMPLE)
  const expected = find([all]).ends
  let bad = 0
  for (let p = 0; p <= all.length; p++) {
    const got = find(cut(all, [p]))
    if (JSON.stringify(got) !== JSON.stringify({ ends: expected, pending: 0 })) bad++
  }
  t.equal(bad, 0, `one split at each of ${all.length + 1} points`)
  bad = 0
  for (let p = 0; p <= all.length; p++) {
    for (let q = p; q <= all.length; q++) {
      if (JSON.stringify(find(cut(all, [p, q])).ends) !== JSON.stringify(expected)) bad++
    }
  }
  t.equal(bad, 0, 'every pair of split points')
  t.same(find(Array.from(all, (b) => Uint8Array.of(b))).ends, expected, 'byte by byte')
  t.same(find([new Uint8Array(0), all.subarray(0, 5), new Uint8Array(0), all.subarray(5)]).ends, expected, 'empty chunks change nothing')
})

t.test('the boundaries are where the parser dispatches its events', async (t) => {
  const all = enc.encode(SAMPLE)
  const { ends } = find([all])
  const p = createSseParser()
  const events = [...p.push(all), ...p.end()]
  t.equal(events.length, ends.length, 'one event per boundary')
  // Fed up to each boundary, the parser has dispatched exactly the events before it and holds nothing.
  ends.forEach((end, k) => {
    const q = createSseParser()
    const got = q.push(all.subarray(0, end))
    t.equal(got.length, k + 1, `events before boundary ${k}`)
    t.equal(q.pendingBytes, 0, `nothing held at boundary ${k}`)
  })
})

t.test('random streams and random chunkings agree with the reference', async (t) => {
  const rnd = mulberry32(42)
  const pieces = ['data: x', 'event: e', ': c', 'id: 7', '\r\n', '\n', '\r', '\r\n', '\n', '\r', 'é', '😀']
  let bad = 0
  for (let n = 0; n < 300; n++) {
    let s = rnd() < 0.3 ? '\uFEFF' : ''
    const len = Math.floor(rnd() * 40)
    for (let i = 0; i < len; i++) s += pieces[Math.floor(rnd() * pieces.length)]
    const all = enc.encode(s)
    const points: number[] = []
    let p = 0
    while ((p += 1 + Math.floor(rnd() * 6)) < all.length) points.push(p)
    const expected = reference(all)
    const got = find(cut(all, points))
    const pending = all.length - (expected.length > 0 ? expected[expected.length - 1]! : 0)
    if (JSON.stringify(got) !== JSON.stringify({ ends: expected, pending })) {
      bad++
      t.comment(`mismatch for ${JSON.stringify(s)} cut at ${points.join(',')}`)
    }
  }
  t.equal(bad, 0)
})

t.test('a CR at the end of a chunk', async (t) => {
  t.test('is reported once the next byte shows it was not CRLF', async (t) => {
    const f = createBoundaryFinder()
    t.same(f.push(enc.encode('data: a\r\r')), [], 'the blank line may still be CRLF')
    t.equal(f.pending(), 9)
    t.same(f.push(enc.encode('data: b')), [9], 'not LF: the boundary is just past the CR')
    t.equal(f.pending(), 7)
  })
  t.test('followed by LF is one terminator', async (t) => {
    const f = createBoundaryFinder()
    t.same(f.push(enc.encode('data: a\r\n\r')), [])
    t.same(f.push(enc.encode('\n')), [11])
    t.equal(f.pending(), 0)
    t.same(f.push(enc.encode('\n')), [12], 'the next LF is a blank line of its own')
  })
  t.test('ending a non-blank line swallows a following LF', async (t) => {
    t.same(find([enc.encode('data: a\r'), enc.encode('\ndata: b\n\n')]).ends, [18], 'not a blank line then')
  })
  t.test('at the end of the stream is reported by end()', async (t) => {
    const f = createBoundaryFinder()
    t.same(f.push(enc.encode('data: a\r\r')), [])
    t.same(f.end(), [9])
    t.equal(f.pending(), 0)
    t.same(f.end(), [], 'end() twice reports nothing more')
    t.throws(() => f.push(enc.encode('x')), /after end/)
  })
})

t.test('the BOM', async (t) => {
  t.test('counts in offsets but is not part of a line', async (t) => {
    t.same(find([enc.encode('\uFEFF\n')]), { ends: [4], pending: 0 }, 'BOM then a blank line')
    t.same(find([Uint8Array.of(0xef), Uint8Array.of(0xbb), Uint8Array.of(0xbf, 0x0a)]).ends, [4], 'split BOM')
  })
  t.test('a partial BOM is line content', async (t) => {
    t.same(find([Uint8Array.of(0xef, 0xbb), Uint8Array.of(0x0a, 0x0a)]), { ends: [4], pending: 0 }, 'EF BB is a line, then a blank line')
    t.same(find([Uint8Array.of(0xef, 0xbb)]), { ends: [], pending: 2 })
  })
  t.test('only at the start of the stream', async (t) => {
    t.same(find([enc.encode('data: a\n\n\uFEFF\n')]).ends, [9], 'a BOM later is content')
  })
})

t.test('pending bytes after a partial event', async (t) => {
  t.same(find([enc.encode('data: a\n\ndata: b\n')]), { ends: [9], pending: 8 })
  t.same(find([enc.encode('')]), { ends: [], pending: 0 })
  t.same(find([enc.encode('\n\n\n')]).ends, [1, 2, 3], 'each stray blank line is a boundary')
})

t.test('offsets are absolute over many chunks', async (t) => {
  const ev = enc.encode('data: 0123456789\n\n')
  const f = createBoundaryFinder()
  const ends: number[] = []
  for (let i = 0; i < 1000; i++) ends.push(...f.push(ev))
  t.equal(ends.length, 1000)
  t.equal(ends[999], 1000 * ev.length)
  t.ok(ends.every((e, i) => e === (i + 1) * ev.length))
})
