import t from 'tap'
import { createSseParser, type SseEvent } from '../../../src/core/sse/index.js'

// Examples from WHATWG HTML §9.2 "Server-sent events" (event stream interpretation and the
// authoring notes), with the results the spec states for them.

function parse(text: string): { events: SseEvent[]; lastEventId: string } {
  const p = createSseParser()
  const events = [...p.push(new TextEncoder().encode(text)), ...p.end()]
  return { events, lastEventId: p.lastEventId }
}

t.test('stock ticker: three data lines make one event', async (t) => {
  t.same(parse('data: YHOO\ndata: +2\ndata: 10\n\n').events, [{ data: 'YHOO\n+2\n10' }])
})

t.test('four blocks: comment, id, empty id resets, two spaces keep one', async (t) => {
  const p = createSseParser()
  const ids: string[] = []
  const events: SseEvent[] = []
  const text = ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n'
  // Feed block by block to observe the last event ID after each one, as a client would.
  for (const block of text.split(/(?<=\n\n)/)) {
    events.push(...p.push(new TextEncoder().encode(block)))
    ids.push(p.lastEventId)
  }
  t.same(events, [
    { data: '', comments: [' test stream'], commentOnly: true },
    { data: 'first event', id: '1' },
    { data: 'second event', id: '' },
    { data: ' third event' },
  ])
  t.same(ids, ['', '1', '', ''])
})

t.test('two empty-data events, then an unterminated block that is discarded', async (t) => {
  t.same(parse('data\n\ndata\ndata\n\ndata:').events, [{ data: '' }, { data: '\n' }])
})

t.test('a space after the colon is optional', async (t) => {
  t.same(parse('data:test\n\ndata: test\n\n').events, [{ data: 'test' }, { data: 'test' }])
})

t.test('messages of several lines and event types', async (t) => {
  const text =
    'data: This is the first message.\n\n' +
    'data: This is the second message, it\ndata: has two lines.\n\n' +
    'data: This is the third message.\n\n' +
    'event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n'
  t.same(parse(text).events, [
    { data: 'This is the first message.' },
    { data: 'This is the second message, it\nhas two lines.' },
    { data: 'This is the third message.' },
    { event: 'add', data: '73857293' },
    { event: 'remove', data: '2153' },
    { event: 'add', data: '113411' },
  ])
})
