import t from 'tap'
import { createSseParser, SseLimitError, type SseEvent } from '../../../src/core/sse/index.js'

const enc = new TextEncoder()
const bytes = (s: string): Uint8Array => enc.encode(s)

function parse(chunks: (string | Uint8Array)[], maxEventBytes?: number): SseEvent[] {
  const p = createSseParser(maxEventBytes === undefined ? {} : { maxEventBytes })
  const out: SseEvent[] = []
  for (const c of chunks) out.push(...p.push(typeof c === 'string' ? bytes(c) : c))
  out.push(...p.end())
  return out
}

t.test('line endings', async (t) => {
  t.test('CRLF split across chunks is one line ending', async (t) => {
    // Two line endings here would be a blank line and dispatch "a" before "b" is read.
    t.same(parse(['data: a\r', '\ndata: b\r\n\r\n']), [{ data: 'a\nb' }])
    t.same(parse(['data: a\r', '\n', '\r', '\n']), [{ data: 'a' }])
  })
  t.test('pure CR endings', async (t) => {
    t.same(parse(['data: a\rdata: b\r\revent: x\rdata: c\r\r']), [{ data: 'a\nb' }, { event: 'x', data: 'c' }])
  })
  t.test('CR CR is two line endings even across chunks', async (t) => {
    t.same(parse(['data: a\r', '\r', 'data: b\r\r']), [{ data: 'a' }, { data: 'b' }])
  })
  t.test('mixed endings', async (t) => {
    t.same(parse(['data: 1\ndata: 2\r\ndata: 3\r\r\ndata: 4\n\r\n']), [{ data: '1\n2\n3' }, { data: '4' }])
  })
  t.test('LF CR is two line endings', async (t) => {
    t.same(parse(['data: a\n\rdata: b\n\n']), [{ data: 'a' }, { data: 'b' }])
  })
})

t.test('BOM', async (t) => {
  t.test('a leading BOM is stripped', async (t) => {
    t.same(parse(['\uFEFFdata: x\n\n']), [{ data: 'x' }])
  })
  t.test('a leading BOM split across chunks is stripped', async (t) => {
    const all = bytes('\uFEFFdata: x\n\n')
    for (let cut = 1; cut <= 3; cut++) {
      t.same(parse([all.subarray(0, cut), all.subarray(cut)]), [{ data: 'x' }], `cut at ${cut}`)
    }
    t.same(parse([all.subarray(0, 1), all.subarray(1, 2), all.subarray(2, 3), all.subarray(3)]), [{ data: 'x' }])
  })
  t.test('only one BOM is stripped', async (t) => {
    // The second BOM makes the field name "\uFEFFdata", an unknown field.
    t.same(parse(['\uFEFF\uFEFFdata: x\n\ndata: y\n\n']), [{ data: 'y' }])
  })
  t.test('a BOM later in the stream is kept', async (t) => {
    t.same(parse(['data: a\n\n\uFEFFdata: b\n\ndata: \uFEFFc\n\n']), [{ data: 'a' }, { data: '\uFEFFc' }])
    t.same(parse(['data: \uFEFF', '\uFEFF\n\n']), [{ data: '\uFEFF\uFEFF' }])
  })
  t.test('a partial BOM prefix is data, not dropped', async (t) => {
    // EF BB followed by "d": not a BOM, so the decoder turns EF BB into one U+FFFD.
    const ev = parse([Uint8Array.of(0xef), Uint8Array.of(0xbb), bytes('data: x\n\n')])
    t.same(ev, [], 'the field name "\uFFFDdata" is unknown')
    t.same(parse([Uint8Array.of(0xef), bytes(': c\n\n')]), [], 'EF then ":" is the unknown field "\uFFFD", not a comment')
    t.same(parse([bytes(':'), Uint8Array.of(0xef, 0xbb), bytes('\n\n')]), [{ data: '', comments: ['\uFFFD'], commentOnly: true }])
  })
  t.test('a stream starting with a lone EF byte keeps it', async (t) => {
    const p = createSseParser()
    t.same(p.push(Uint8Array.of(0xef)), [])
    t.equal(p.pendingBytes, 1)
    t.same(p.push(bytes('\n:x\n\n')), [{ data: '', comments: ['x'], commentOnly: true }])
  })
})

t.test('fields', async (t) => {
  t.test('data: one leading space stripped, only one', async (t) => {
    t.same(parse(['data:nospace\n\ndata: one\n\ndata:  two\n\n']), [{ data: 'nospace' }, { data: 'one' }, { data: ' two' }])
  })
  t.test('multi-line data and empty data lines', async (t) => {
    t.same(parse(['data: a\ndata\ndata:\ndata: b\n\n']), [{ data: 'a\n\n\nb' }])
    t.same(parse(['data\n\n']), [{ data: '' }])
  })
  t.test('colons after the first belong to the value', async (t) => {
    t.same(parse(['data: {"a":"b:c"}\n\n']), [{ data: '{"a":"b:c"}' }])
  })
  t.test('event, id, retry', async (t) => {
    const p = createSseParser()
    const evs = p.push(bytes('event: delta\nid: 7\nretry: 1500\ndata: x\n\n'))
    t.same(evs, [{ event: 'delta', id: '7', retry: 1500, data: 'x' }])
    t.equal(p.lastEventId, '7')
  })
  t.test('last event field wins; event type does not leak into the next event', async (t) => {
    t.same(parse(['event: a\nevent: b\ndata: x\n\ndata: y\n\n']), [{ event: 'b', data: 'x' }, { data: 'y' }])
  })
  t.test('id with NUL is ignored', async (t) => {
    const p = createSseParser()
    t.same(p.push(bytes('id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n')), [{ id: '1', data: 'a' }, { data: 'b' }])
    t.equal(p.lastEventId, '1')
    t.same(parse(['id: ok\nid: bad\0\ndata: c\n\n']), [{ id: 'ok', data: 'c' }])
  })
  t.test('lastEventId persists, is set at dispatch, and an empty id resets it', async (t) => {
    const p = createSseParser()
    p.push(bytes('id: 5\ndata: a\n'))
    t.equal(p.lastEventId, '', 'not yet dispatched')
    p.push(bytes('\ndata: b\n\n'))
    t.equal(p.lastEventId, '5', 'kept across an event without id')
    t.same(p.push(bytes('id\ndata: c\n\n')), [{ id: '', data: 'c' }])
    t.equal(p.lastEventId, '')
  })
  t.test('retry must be ASCII digits only', async (t) => {
    t.same(parse(['retry: 12a\ndata: a\n\nretry: -1\ndata: b\n\nretry: 1.5\ndata: c\n\nretry:\ndata: d\n\nretry: 0042\ndata: e\n\n']), [
      { data: 'a' },
      { data: 'b' },
      { data: 'c' },
      { data: 'd' },
      { retry: 42, data: 'e' },
    ])
    t.same(parse(['retry: \uFF11\ndata: f\n\n']), [{ data: 'f' }], 'fullwidth digit is not ASCII')
    t.same(parse(['retry: 99999999999999999999\ndata: g\n\n']), [{ data: 'g' }], 'beyond 2^53 is dropped')
  })
  t.test('a line without a colon is a field with an empty value', async (t) => {
    t.same(parse(['event\ndata\n\n']), [{ event: '', data: '' }])
  })
  t.test('unknown fields are ignored, field names are case-sensitive', async (t) => {
    t.same(parse(['foo: bar\nDATA: x\nData: y\ndata : z\ndata: w\n\n']), [{ data: 'w' }])
  })
  t.test('blank line with no data dispatches nothing', async (t) => {
    t.same(parse(['\n\n\nevent: lonely\n\n\r\n']), [])
  })
})

t.test('comments', async (t) => {
  t.test('are attached to the next event, verbatim after the colon', async (t) => {
    t.same(parse([': ping\n:x\ndata: a\n\ndata: b\n\n']), [{ comments: [' ping', 'x'], data: 'a' }, { data: 'b' }])
  })
  t.test('a comment-only block yields a commentOnly event', async (t) => {
    t.same(parse([': keep-alive\n\n: keep-alive\n\n']), [
      { data: '', comments: [' keep-alive'], commentOnly: true },
      { data: '', comments: [' keep-alive'], commentOnly: true },
    ])
  })
  t.test('comments in a block whose event field has no data are still kept', async (t) => {
    t.same(parse([':c\nevent: x\n\n']), [{ data: '', comments: ['c'], commentOnly: true }])
  })
  t.test('an id-only or retry-only block is kept so the proxy forwards it', async (t) => {
    const p = createSseParser()
    t.same(p.push(bytes('id: 9\n\nretry: 100\n\n')), [
      { data: '', id: '9', commentOnly: true },
      { data: '', retry: 100, commentOnly: true },
    ])
    t.equal(p.lastEventId, '9')
  })
  t.test('":" alone is an empty comment', async (t) => {
    t.same(parse([':\n\n']), [{ data: '', comments: [''], commentOnly: true }])
  })
})

t.test('end of stream', async (t) => {
  t.test('an incomplete event is discarded (spec)', async (t) => {
    const p = createSseParser()
    t.same(p.push(bytes('data: a\n\ndata: b\n')), [{ data: 'a' }])
    t.ok(p.pendingBytes > 0, 'pendingBytes reveals the truncated event')
    t.same(p.end(), [])
    t.same(parse(['data: x']), [])
    t.same(parse([': only a comment\n']), [])
  })
  t.test('a trailing CR ends the stream cleanly', async (t) => {
    const p = createSseParser()
    t.same(p.push(bytes('data: a\r\r')), [{ data: 'a' }])
    t.equal(p.pendingBytes, 0)
  })
  t.test('push after end throws', async (t) => {
    const p = createSseParser()
    p.end()
    t.throws(() => p.push(bytes('data: a\n\n')))
  })
})

t.test('invalid UTF-8 becomes U+FFFD', async (t) => {
  t.same(parse([Uint8Array.of(...bytes('data: a'), 0xff, 0xe2, 0x82, ...bytes('b\n\n'))]), [{ data: 'a\uFFFD\uFFFDb' }])
  t.same(parse([Uint8Array.of(...bytes('data: '), 0xe2, 0x82, 0x0a, 0x0a)]), [{ data: '\uFFFD' }], 'a truncated sequence before LF')
})

t.test('maxEventBytes', async (t) => {
  t.test('an oversized event throws SseLimitError', async (t) => {
    const big = 'data: ' + 'x'.repeat(200) + '\n\n'
    const err = t.throws(() => parse([big], 100)) as unknown
    t.type(err, SseLimitError)
    t.equal((err as SseLimitError).limit, 100)
    t.ok((err as SseLimitError).seen > 100)
  })
  t.test('the bound holds when the line arrives byte by byte, before any terminator', async (t) => {
    const p = createSseParser({ maxEventBytes: 100 })
    const chunk = bytes('x')
    p.push(bytes('data: '))
    let thrown: unknown
    let fed = 6
    try {
      for (; fed < 10_000; fed++) p.push(chunk)
    } catch (e) {
      thrown = e
    }
    t.type(thrown, SseLimitError)
    t.equal(fed, 100, 'throws at the first byte beyond the limit')
    t.throws(() => p.push(bytes('\n\n')), SseLimitError, 'the parser stays failed')
  })
  t.test('many lines of one event count together', async (t) => {
    const lines = Array.from({ length: 20 }, () => 'data: 0123456789\n').join('')
    t.throws(() => parse([lines + '\n'], 200), SseLimitError)
    t.throws(() => parse([': 0123456789\n'.repeat(50)], 200), SseLimitError, 'comments without a blank line are bounded too')
  })
  t.test('the bound is per event: many small events do not throw', async (t) => {
    const one = 'data: ' + 'y'.repeat(80) + '\n\n'
    const p = createSseParser({ maxEventBytes: 100 })
    let n = 0
    for (let i = 0; i < 5000; i++) n += p.push(bytes(one)).length
    const whole = parse([one.repeat(2000)], 100)
    t.equal(n, 5000)
    t.equal(whole.length, 2000)
  })
  t.test('an event of exactly the limit passes', async (t) => {
    const ev = 'data: ' + 'z'.repeat(94) + '\n\n'
    t.equal(parse([ev], 100).length, 1)
    t.throws(() => parse(['data: ' + 'z'.repeat(95) + '\n\n'], 100), SseLimitError)
  })
  t.test('rejects a non-positive limit', async (t) => {
    t.throws(() => createSseParser({ maxEventBytes: 0 }), RangeError)
  })
})
