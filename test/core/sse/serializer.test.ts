import t from 'tap'
import { createSseParser, encodeEvent, serializeEvent, type SseEvent } from '../../../src/core/sse/index.js'
import { mulberry32 } from '../../helpers/prng.js'


function parseText(text: string): SseEvent[] {
  const p = createSseParser()
  return [...p.push(new TextEncoder().encode(text)), ...p.end()]
}

t.test('wire format', async (t) => {
  t.equal(serializeEvent({ data: '{"a":1}' }), 'data: {"a":1}\n\n', 'OpenAI style colon-space')
  t.equal(
    serializeEvent({ comments: [' c1', 'c2'], event: 'e', id: '3', retry: 10, data: 'x\ny' }),
    ': c1\n:c2\nevent: e\nid: 3\nretry: 10\ndata: x\ndata: y\n\n',
  )
  t.equal(serializeEvent({ data: 'a\r\nb\rc\nd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n', 'CRLF, CR and LF all split')
  t.equal(serializeEvent({ data: '' }), 'data: \n\n', 'an empty message still dispatches')
  t.equal(serializeEvent({ data: '', comments: [' keep-alive'], commentOnly: true }), ': keep-alive\n\n')
  t.equal(serializeEvent({ data: 'ignored', event: 'ignored', id: '4', commentOnly: true }), 'id: 4\n\n', 'commentOnly never writes data or event')
  t.equal(serializeEvent({ data: 'x', comments: ['a\nb'] }), ':a\n:b\ndata: x\n\n', 'a multi-line comment stays comments')
  t.equal(new TextDecoder().decode(encodeEvent({ data: 'é😀' })), 'data: é😀\n\n')
})

t.test('values that would inject fields are refused', async (t) => {
  t.throws(() => serializeEvent({ event: 'a\ndata: evil', data: 'x' }), TypeError)
  t.throws(() => serializeEvent({ id: 'a\rb', data: 'x' }), TypeError)
  t.throws(() => serializeEvent({ id: 'a\0b', data: 'x' }), TypeError)
  t.throws(() => serializeEvent({ retry: -1, data: 'x' }), TypeError)
  t.throws(() => serializeEvent({ retry: 1.5, data: 'x' }), TypeError)
})

t.test('CR in data comes back as LF', async (t) => {
  t.same(parseText(serializeEvent({ data: 'a\rb\r\nc' })), [{ data: 'a\nb\nc' }])
})

const ALPHABET = ['a', 'z', ' ', ':', '  ', 'é', '€', '😀', '漢', '\uFEFF', '\0', '\n', '\t', '[DONE]', '{"k":"v"}']

function randomText(rand: () => number, maxLen: number, allowLF: boolean): string {
  let s = ''
  const n = Math.floor(rand() * maxLen)
  for (let i = 0; i < n; i++) {
    const piece = ALPHABET[Math.floor(rand() * ALPHABET.length)] as string
    if (!allowLF && piece === '\n') continue
    s += piece
  }
  return s
}

function randomEvent(rand: () => number): SseEvent {
  const commentOnly = rand() < 0.15
  const ev: SseEvent = { data: commentOnly ? '' : randomText(rand, 12, true) }
  if (rand() < 0.3) ev.comments = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomText(rand, 6, false))
  if (!commentOnly && rand() < 0.3) ev.event = randomText(rand, 6, false)
  if (rand() < 0.3) ev.id = randomText(rand, 6, false).replaceAll('\0', '')
  if (rand() < 0.2) ev.retry = Math.floor(rand() * 100000)
  if (commentOnly) {
    // A commentOnly event needs something to carry, or it serializes to a bare blank line.
    if (!ev.comments && ev.id === undefined && ev.retry === undefined) ev.comments = ['']
    ev.commentOnly = true
  }
  return ev
}

t.test('parse(serialize(e)) equals e for random events', async (t) => {
  const rand = mulberry32(42)
  let failures = 0
  for (let i = 0; i < 500; i++) {
    const events = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomEvent(rand))
    const wire = events.map(serializeEvent).join('')
    const back = parseText(wire)
    if (canon(back) !== canon(events)) {
      failures++
      if (failures < 5) t.same(back, events, `wire: ${JSON.stringify(wire)}`)
    }
  }
  t.equal(failures, 0, '500 random sequences round-trip')
})

/** Key order differs between generator and parser; compare content only. */
function canon(evs: SseEvent[]): string {
  return JSON.stringify(evs.map((ev) => Object.fromEntries(Object.entries(ev).sort(([a], [b]) => (a < b ? -1 : 1)))))
}
