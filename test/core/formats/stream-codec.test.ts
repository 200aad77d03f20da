import t from 'tap'
import { createStreamCodec, formatForPath } from '../../../src/core/formats/index.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { ANSWER_CHANNEL, clientText, FORMATS, PATHS, holdAll, overTheWire, streamOf } from '../../helpers/parity.js'

const json = (o: unknown, event?: string): SseEvent => (event ? { event, data: JSON.stringify(o) } : { data: JSON.stringify(o) })
const chatChunk = (content: string) => json({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })

t.test('the format is read off the events', async (t) => {
  for (const format of FORMATS) {
    const codec = createStreamCodec()
    t.equal(codec.format, undefined)
    const events = streamOf(format, 'Hello world')
    for (const e of events) codec.extract(e)
    t.equal(codec.format, format, format)
    t.equal(clientText(format, events), 'Hello world')
  }
  t.equal(formatForPath('/v1/chat/completions?x=1'), 'openai-chat')
  t.equal(formatForPath('/openai/deployments/d/completions'), 'openai-completions')
  t.equal(formatForPath('/v1/responses'), 'openai-responses')
  t.equal(formatForPath('/v1/messages'), 'anthropic')
  t.equal(formatForPath('/other'), undefined)
  t.equal(createStreamCodec({ path: '/v1/messages' }).format, 'anthropic', 'the path is the first guess')
})

t.test('a known format sticks; an unknown event in it is moderated field by field', async (t) => {
  const codec = createStreamCodec()
  codec.extract(chatChunk('hi'))
  const odd = json({ note: 'text a client may show', id: 'x1' })
  t.same(codec.extract(odd), [{ channel: 'chat:other', kind: 'whole', text: 'text a client may show' }])
  t.equal(codec.format, 'openai-chat')
  const raw: SseEvent = { data: 'not json at all' }
  t.same(codec.extract(raw), [{ channel: 'chat:raw', kind: 'whole', text: 'not json at all' }])
  t.same(codec.rebuild(raw, ['NOT']), { data: 'NOT' })
  const err = json({ error: { message: 'Rate limit reached for jane@example.com', type: 'requests', code: 'rate_limit_exceeded' } })
  t.same(codec.extract(err), [{ channel: 'chat:other', kind: 'whole', text: 'Rate limit reached for jane@example.com' }])
  t.equal(codec.closes(err), 'all', 'an error ends the stream for the SDK: flush before it')
  codec.extract(json({ type: 'response.output_text.delta', delta: 'x' }))
  t.equal(codec.format, 'openai-chat', 'a locked format is not switched by a stray event')
})

t.test('plain until a known format shows up; weak signals do not lock', async (t) => {
  const codec = createStreamCodec({ path: '/v1/chat/completions' })
  t.same(codec.extract({ data: 'warming up' }), [{ channel: 'plain:message', kind: 'delta', text: 'warming up' }])
  t.equal(codec.format, 'plain')
  codec.extract(chatChunk('x'))
  t.equal(codec.format, 'openai-chat')

  const azure = createStreamCodec()
  const filter = json({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] })
  t.same(azure.extract(filter), [])
  t.equal(azure.format, 'openai-chat', "Azure's prompt-filter chunk looks like chat…")
  azure.extract(json({ id: 'cmpl', object: 'text_completion', created: 1, model: 'm', choices: [{ text: 'a', index: 0 }] }))
  t.equal(azure.format, 'openai-completions', '…but does not lock it')

  const errFirst = createStreamCodec()
  errFirst.extract(json({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'error'))
  t.equal(errFirst.format, 'anthropic')
  const respErr = createStreamCodec()
  respErr.extract(json({ type: 'error', code: 'x', message: 'm', param: null }))
  t.equal(respErr.format, 'openai-responses')
})

t.test('[DONE] and comment-only blocks', async (t) => {
  const codec = createStreamCodec()
  const done: SseEvent = { data: '[DONE]' }
  t.same(codec.extract(done), [])
  t.equal(codec.closes(done), 'all')
  t.equal(codec.rebuild(done, []), done)
  t.equal(codec.format, undefined, '[DONE] alone names no format')
  const ping: SseEvent = { data: '', comments: [' ping'], commentOnly: true }
  t.same(codec.extract(ping), [])
  t.same(codec.closes(ping), [])
  t.equal(codec.rebuild(ping, []), ping)
})

t.test('one event is inspected once, whatever the order and number of calls', async (t) => {
  const codec = createStreamCodec()
  const a = chatChunk('a')
  t.same(codec.closes(a), [])
  t.same(codec.extract(a), [{ channel: 'c0:content', kind: 'delta', text: 'a' }])
  t.same(codec.extract(a), [{ channel: 'c0:content', kind: 'delta', text: 'a' }])
  const finish = json({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
  t.same(codec.closes(finish), ['c0:content'])
  t.same(codec.closes(finish), ['c0:content'], 'asking again does not lose the answer')
  t.same(codec.extract(finish), [{ channel: 'c0:content', kind: 'delta', text: '' }])
})

t.test('every format: carriers carry their channel, rebuild writes where extract read', async (t) => {
  for (const format of FORMATS) {
    const codec = createStreamCodec({ path: PATHS[format] })
    const events = streamOf(format, 'abc def')
    const delta = events.findIndex((e) => codec.extract(e).some((s) => s.kind === 'delta'))
    const carrier = codec.carrier(ANSWER_CHANNEL[format], 'ca"rr\\ier\n😀')
    t.same(codec.extract(carrier), [{ channel: ANSWER_CHANNEL[format], kind: 'delta', text: 'ca"rr\\ier\n😀' }], `${format}: carrier round trip`)
    t.same(overTheWire([carrier]).length, 1, `${format}: the carrier is one event on the wire`)
    const e = events[delta + 1]!
    const slots = codec.extract(e)
    const rebuilt = codec.rebuild(e, slots.map((s) => s.text.toUpperCase() + 'é'))!
    t.same(
      codec.extract(rebuilt).map((s) => s.text),
      slots.map((s) => s.text.toUpperCase() + 'é'),
      `${format}: rebuilt text reads back`,
    )
  }
})

t.test('JSON escapes are decoded; split surrogate pairs are two halves that concatenate', async (t) => {
  const codec = createStreamCodec()
  const escaped: SseEvent = { data: '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\u0062ad w\\u00f6rd \\ud83d"},"finish_reason":null}]}' }
  const first = codec.extract(escaped)
  t.equal(first[0]!.text, 'bad wörd \ud83d')
  const second = codec.extract({ data: '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\ude00!"},"finish_reason":null}]}' })
  t.equal(first[0]!.text + second[0]!.text, 'bad wörd 😀!')
  const rebuilt = codec.rebuild(escaped, ['b** w\u00f6rd \ud83d'])!
  t.match(rebuilt.data, /\\ud83d/, 'a lone surrogate is written back as an escape (well-formed JSON)')
  t.equal(JSON.parse(rebuilt.data).choices[0].delta.content, 'b** wörd \ud83d')

  for (const format of FORMATS.filter((f) => f !== 'plain')) {
    const text = 'I 😀 emoji and 東京'
    const events = streamOf(format, text, { pieces: ['I \ud83d', '\ude00 emoji and 東', '京'] })
    const c = createStreamCodec()
    const joined = events.flatMap((e) => c.extract(e)).filter((s) => s.kind === 'delta' && s.channel === ANSWER_CHANNEL[format]).map((s) => s.text).join('')
    t.equal(joined, text, `${format}: halves concatenate`)
    t.equal(clientText(format, overTheWire(holdAll(createStreamCodec(), events))), text, `${format}: and survive a rebuild and the wire`)
  }
})
