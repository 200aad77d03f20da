import t from 'tap'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import { serializeEvent } from '../../../src/core/sse/serializer.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { fixture, holdAll, overTheWire, parseSse, passThrough } from '../../helpers/parity.js'

t.test('the data is the text, one channel per event name', async (t) => {
  const events = fixture('plain.sse')
  const codec = createStreamCodec()
  const slots = events.map((e) => codec.extract(e))
  t.same(slots[0], [], 'a comment-only block (keep-alive, retry) has no text')
  t.same(slots.slice(1, 4).flat(), [
    { channel: 'plain:token', kind: 'delta', text: 'Hello' },
    { channel: 'plain:token', kind: 'delta', text: ' wor' },
    { channel: 'plain:token', kind: 'delta', text: 'ld!' },
  ])
  t.equal(codec.format, 'plain')
  t.same(slots[4], [{ channel: 'plain:done:finish', kind: 'delta', text: 'stop' }], 'JSON data: its string values are the text')
  t.equal(codec.closes(events[4]!), 'all', 'an event named done closes every channel')
  t.same(codec.closes(events[1]!), [])
})

t.test('comment and id lines are never text, and cannot smuggle any into data', async (t) => {
  const codec = createStreamCodec()
  const ev: SseEvent = { data: 'visible', id: 'forbiddenword', comments: ['forbiddenword', 'x\ndata: injected'] }
  t.same(codec.extract(ev), [{ channel: 'plain:message', kind: 'delta', text: 'visible' }])
  const rebuilt = codec.rebuild(ev, ['VISIBLE'])!
  t.same(rebuilt, { ...ev, data: 'VISIBLE' }, 'comments and id pass through untouched')
  const wire = serializeEvent(rebuilt)
  t.equal(wire, ':forbiddenword\n:x\n:data: injected\nid: forbiddenword\ndata: VISIBLE\n\n', 'every comment line stays a comment line')
  const back = parseSse(wire)
  t.same(back.map((e) => e.data), ['VISIBLE'], 'a client sees only the data')
  t.throws(() => serializeEvent({ data: 'x', id: 'a\ndata: b' }), TypeError, 'an id cannot break out of its line')
  const commentOnly: SseEvent = { data: '', comments: ['forbiddenword'], commentOnly: true }
  t.same(codec.extract(commentOnly), [])
  t.equal(codec.rebuild(commentOnly, []), commentOnly)
})

t.test('values that are JSON but not an object stay raw text', async (t) => {
  const codec = createStreamCodec()
  t.same(codec.extract({ data: '4111' }), [{ channel: 'plain:message', kind: 'delta', text: '4111' }], 'a number is a token')
  t.same(codec.extract({ data: '"quoted"' }), [{ channel: 'plain:message', kind: 'delta', text: '"quoted"' }])
  t.same(codec.extract({ data: '[1,2]' }), [{ channel: 'plain:message', kind: 'delta', text: '[1,2]' }])
  t.same(codec.extract({ data: '{not json' }), [{ channel: 'plain:message', kind: 'delta', text: '{not json' }])
  t.same(codec.extract({ data: '' }), [])
})

t.test('JSON objects: structural keys are not text, escapes are decoded, rebuild writes values back', async (t) => {
  const codec = createStreamCodec()
  const ev: SseEvent = { event: 'chunk', data: '{"id":"abc-123","type":"token","token":"\\u0062ad","meta":{"lang":"en","n":4},"done":false}' }
  t.same(codec.extract(ev), [
    { channel: 'plain:chunk:token', kind: 'delta', text: 'bad' },
    { channel: 'plain:chunk:meta.lang', kind: 'delta', text: 'en' },
  ])
  t.same(JSON.parse(codec.rebuild(ev, ['b**', 'en'])!.data), { id: 'abc-123', type: 'token', token: 'b**', meta: { lang: 'en', n: 4 }, done: false })
  t.not(codec.rebuild(ev, ['', '']), null, 'a JSON event is never dropped: it may carry more than text')
  const carrier = codec.carrier('plain:chunk:token', 'held')
  t.equal(carrier.event, 'chunk')
  t.same(JSON.parse(carrier.data), { id: 'abc-123', type: 'token', token: 'held', meta: { lang: '', n: 4 }, done: false }, 'the last event again, other texts emptied')
})

t.test('rebuild and carriers for raw text', async (t) => {
  const codec = createStreamCodec()
  const ev: SseEvent = { event: 'token', data: 'Hello' }
  codec.extract(ev)
  t.equal(codec.rebuild(ev, ['Hello']), ev)
  t.same(codec.rebuild(ev, ['He***']), { event: 'token', data: 'He***' })
  t.equal(codec.rebuild(ev, ['']), null)
  t.same(codec.carrier('plain:token', 'x'), { event: 'token', data: 'x' })
  codec.extract({ data: 'y' })
  t.same(codec.carrier('plain:message', 'z'), { data: 'z' })

  const events = fixture('plain.sse')
  passThrough(createStreamCodec(), events).forEach((e, i) => t.equal(e, events[i]))
  const out = overTheWire(holdAll(createStreamCodec(), events, (s) => s.toUpperCase()))
  t.same(
    out.filter((e) => !e.commentOnly).map((e) => [e.event, e.data]),
    [
      ['token', 'HELLO WORLD!'],
      ['done', '{"finish":"STOP"}'],
    ],
    'held text goes out before the done event',
  )
  t.same(out.filter((e) => e.commentOnly).map((e) => e.id), [undefined, '1', '2', '3'], 'dropped events keep their ids')
})

t.test('endEvents: an error event with a JSON body', async (t) => {
  const codec = createStreamCodec()
  codec.extract({ data: 'hi' })
  t.same(codec.endEvents('Blocked.', { retraction: false }), [
    { event: 'error', data: '{"error":{"type":"chaperone_error","code":"content_policy_violation","message":"Blocked."}}' },
  ])
  const r = JSON.parse(codec.endEvents('Withdrawn.', { retraction: true })[0]!.data)
  t.same(r.chaperone, { retracted: true })
  t.same(createStreamCodec().endEvents('x', { retraction: false })[0]!.event, 'error', 'an unknown stream ends as plain')
})
