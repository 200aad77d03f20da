import t from 'tap'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { clientText, fixture, holdAll, openaiClientFor, passThrough, streamOf } from '../../helpers/parity.js'

const codecFor = (events: readonly SseEvent[]) => {
  const codec = createStreamCodec({ path: '/v1/chat/completions' })
  return { codec, slots: events.map((e) => codec.extract(e)), closes: events.map((e) => codec.closes(e)) }
}

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): SseEvent => ({
  data: JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'm', choices, ...extra }),
})

t.test('extract and closes over a real-looking stream', async (t) => {
  const events = fixture('openai-chat.sse')
  const { codec, slots, closes } = codecFor(events)
  t.equal(codec.format, 'openai-chat')
  t.same(slots[0], [], 'role chunk: its empty content is no text')
  t.same(slots.slice(1, 7).flat(), [
    { channel: 'c0:content', kind: 'delta', text: 'Sure' },
    { channel: 'c0:content', kind: 'delta', text: ', write' },
    { channel: 'c0:content', kind: 'delta', text: ' to jane' },
    { channel: 'c0:content', kind: 'delta', text: '@exam' },
    { channel: 'c0:content', kind: 'delta', text: 'ple.com' },
    { channel: 'c0:content', kind: 'delta', text: '.' },
  ])
  t.same(slots[7], [{ channel: 'c0:content', kind: 'delta', text: '' }], 'the finish chunk offers an empty slot for held text')
  t.same(closes[7], ['c0:content'])
  t.same(slots[8], [], 'usage chunk')
  t.same(closes[8], [])
  t.same(slots[9], [], '[DONE]')
  t.equal(closes[9], 'all')
})

t.test('tool calls: one channel per tool call, closed by finish_reason, flushed by carrier', async (t) => {
  const events = fixture('openai-chat-tools.sse')
  const { slots, closes } = codecFor(events)
  t.same(slots.flat().map((s) => s.channel), ['c0:tool0', 'c0:tool0', 'c0:tool0', 'c0:tool0', 'c0:tool0'])
  t.same(slots.flat().map((s) => s.text).join(''), '{"location":"Paris"}')
  t.same(slots[6], [], 'no inline slot for tool arguments: they need a tool call entry')
  t.same(closes[6], ['c0:tool0'])

  const out = holdAll(createStreamCodec(), events, (s) => s.replace('Paris', 'P***s'))
  const stream = openaiClientFor(out).chat.completions.stream({ model: 'm', messages: [] })
  const final = await stream.finalChatCompletion()
  t.equal(final.choices[0]!.message.tool_calls![0]!.type, 'function')
  const call = final.choices[0]!.message.tool_calls![0]! as { function: { name: string; arguments: string } }
  t.equal(call.function.name, 'get_weather')
  t.equal(call.function.arguments, '{"location":"P***s"}')
  t.equal(final.choices[0]!.finish_reason, 'tool_calls')
})

t.test('several choices: each has its own channels and closes alone', async (t) => {
  const events = [
    chunk([{ index: 0, delta: { role: 'assistant', content: 'a' } }, { index: 1, delta: { role: 'assistant', reasoning_content: 'r', content: 'b' } }]),
    chunk([{ index: 1, delta: {}, finish_reason: 'stop' }]),
    chunk([{ index: 0, delta: { content: 'c' }, finish_reason: 'length' }]),
  ]
  const { slots, closes } = codecFor(events)
  t.same(slots[0], [
    { channel: 'c0:content', kind: 'delta', text: 'a' },
    { channel: 'c1:reasoning_content', kind: 'delta', text: 'r' },
    { channel: 'c1:content', kind: 'delta', text: 'b' },
  ])
  t.same(closes[1], ['c1:reasoning_content', 'c1:content'])
  t.same(slots[1], [
    { channel: 'c1:reasoning_content', kind: 'delta', text: '' },
    { channel: 'c1:content', kind: 'delta', text: '' },
  ])
  t.same(slots[2], [{ channel: 'c0:content', kind: 'delta', text: 'c' }], 'a chunk with text and finish_reason needs no extra slot')
  t.same(closes[2], ['c0:content'])
})

t.test('rebuild', async (t) => {
  const events = fixture('openai-chat.sse')
  const codec = createStreamCodec()
  const same = passThrough(codec, events)
  same.forEach((e, i) => t.equal(e, events[i], `event ${i} unchanged is the same object`))

  const c2 = createStreamCodec()
  c2.extract(events[0]!)
  c2.extract(events[1]!)
  const out = c2.rebuild(events[1]!, ['S***'])!
  t.equal(out.data, events[1]!.data.replace('"content":"Sure"', '"content":"S***"'), 'only the text changes; key order kept')
  t.equal(c2.rebuild(events[1]!, ['']), null, 'a pure delta whose text is all held is dropped')
  t.not(c2.rebuild(events[0]!, []), null)

  const withId = { ...events[2]!, id: '7', comments: ['c'] }
  c2.extract(withId)
  t.same(c2.rebuild(withId, ['']), { data: '', commentOnly: true, comments: ['c'], id: '7' }, 'a dropped event keeps its id and comments')

  const finish = events[7]!
  c2.extract(finish)
  const fin = JSON.parse(c2.rebuild(finish, ['held tail'])!.data)
  t.same(fin.choices[0], { index: 0, delta: { content: 'held tail' }, logprobs: null, finish_reason: 'stop' }, 'held text rides on the finish chunk')
  t.equal(c2.rebuild(finish, ['']), finish, 'an empty slot left empty changes nothing')
})

t.test('rebuild keeps chunks that carry more than text, and clears logprobs of rewritten text', async (t) => {
  const codec = createStreamCodec()
  const role = chunk([{ index: 0, delta: { role: 'assistant', content: 'Hi' } }])
  codec.extract(role)
  t.same(JSON.parse(codec.rebuild(role, [''])!.data).choices[0].delta, { role: 'assistant', content: '' })
  const usage = chunk([{ index: 0, delta: { content: 'x' } }], { usage: { total_tokens: 1 } })
  codec.extract(usage)
  t.not(codec.rebuild(usage, ['']), null, 'usage must reach the client')
  const unknownKey = chunk([{ index: 0, delta: { content: 'x' }, content_filter_results: {} }])
  codec.extract(unknownKey)
  t.not(codec.rebuild(unknownKey, ['']), null, 'a field we do not know might matter')

  const lp = chunk([{ index: 0, delta: { content: '555' }, logprobs: { content: [{ token: '555', logprob: -0.1 }] } }])
  codec.extract(lp)
  t.equal(JSON.parse(codec.rebuild(lp, ['***'])!.data).choices[0].logprobs, null, 'tokens of redacted text are not sent')
  t.equal(codec.rebuild(lp, ['555']), lp)
})

t.test('legacy function_call and audio transcripts are text too', async (t) => {
  const ev = chunk([{ index: 0, delta: { function_call: { name: 'f', arguments: '{"a"' }, audio: { id: 'a1', data: 'AAAA', transcript: 'hello' } } }])
  const codec = createStreamCodec()
  t.same(codec.extract(ev), [
    { channel: 'c0:audio_transcript', kind: 'delta', text: 'hello' },
    { channel: 'c0:function_call', kind: 'delta', text: '{"a"' },
  ])
  const out = JSON.parse(codec.rebuild(ev, ['HELLO', '{"b"'])!.data)
  t.same(out.choices[0].delta, { function_call: { name: 'f', arguments: '{"b"' }, audio: { id: 'a1', data: 'AAAA', transcript: 'HELLO' } })
  t.same(codec.extract(codec.carrier('c0:function_call', 'x')), [{ channel: 'c0:function_call', kind: 'delta', text: 'x' }])
  t.same(codec.extract(codec.carrier('c0:audio_transcript', 'y')), [{ channel: 'c0:audio_transcript', kind: 'delta', text: 'y' }])
})

t.test('carrier', async (t) => {
  const codec = createStreamCodec()
  for (const e of fixture('openai-chat.sse').slice(0, 3)) codec.extract(e)
  const c = codec.carrier('c0:content', 'held')
  const parsed = JSON.parse(c.data)
  t.same(parsed, {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion.chunk',
    created: 1741570283,
    model: 'gpt-4o-2024-08-06',
    system_fingerprint: 'fp_eb9dce56a8',
    choices: [{ index: 0, delta: { content: 'held' }, logprobs: null, finish_reason: null }],
  })
  t.equal(c.event, undefined)
  t.same(codec.extract(codec.carrier('c2:tool3', '{}')), [{ channel: 'c2:tool3', kind: 'delta', text: '{}' }])
  t.same(codec.extract(codec.carrier('c1:reasoning', 'r')), [{ channel: 'c1:reasoning', kind: 'delta', text: 'r' }])
})

t.test('endEvents: the SDK sees the notice and finish_reason content_filter', async (t) => {
  const events = fixture('openai-chat.sse')
  const codec = createStreamCodec()
  const sent = passThrough(codec, events.slice(0, 4)) as SseEvent[]
  const end = codec.endEvents('This answer was blocked.', { retraction: false })
  t.equal(end.length, 2)
  t.equal(end[1]!.data, '[DONE]')
  const last = JSON.parse(end[0]!.data)
  t.same(last.choices, [{ index: 0, delta: { content: 'This answer was blocked.' }, logprobs: null, finish_reason: 'content_filter' }])
  t.equal(last.chaperone, undefined)

  const stream = await openaiClientFor([...sent, ...end]).chat.completions.create({ model: 'm', messages: [], stream: true })
  let text = ''
  let finish: string | null | undefined
  for await (const c of stream) {
    text += c.choices[0]?.delta.content ?? ''
    finish = c.choices[0]?.finish_reason ?? finish
  }
  t.equal(text, 'Sure, write to janeThis answer was blocked.')
  t.equal(finish, 'content_filter')

  const helper = openaiClientFor([...sent, ...end]).chat.completions.stream({ model: 'm', messages: [] })
  const final = await helper.finalChatCompletion()
  t.equal(final.choices[0]!.finish_reason, 'content_filter')
  t.equal(final.choices[0]!.message.content, 'Sure, write to janeThis answer was blocked.')
})

t.test('endEvents: retraction marker, choices never seen, several open choices', async (t) => {
  const fresh = createStreamCodec({ path: '/v1/chat/completions' })
  const end = fresh.endEvents('Withdrawn.', { retraction: true })
  const last = JSON.parse(end[0]!.data)
  t.same(last.choices, [{ index: 0, delta: { role: 'assistant', content: 'Withdrawn.' }, logprobs: null, finish_reason: 'content_filter' }], 'a choice never seen gets its role')
  t.same(last.chaperone, { retracted: true })
  const final = await openaiClientFor(end).chat.completions.stream({ model: 'm', messages: [] }).finalChatCompletion()
  t.equal(final.choices[0]!.message.content, 'Withdrawn.')

  const two = createStreamCodec()
  two.extract(chunk([{ index: 0, delta: { role: 'assistant', content: 'a' } }, { index: 1, delta: { role: 'assistant', content: 'b' } }]))
  two.extract(chunk([{ index: 1, delta: {}, finish_reason: 'stop' }]))
  t.same(JSON.parse(two.endEvents('x', { retraction: false })[0]!.data).choices.map((c: { index: number }) => c.index), [0], 'finished choices are left alone')
  const done = createStreamCodec()
  done.extract(chunk([{ index: 0, delta: { role: 'assistant', content: 'a' }, finish_reason: 'stop' }]))
  t.same(JSON.parse(done.endEvents('x', { retraction: true })[0]!.data).choices.map((c: { index: number }) => c.index), [0], 'a late verdict after the end still reaches the choice')
})

t.test('hold everything: the client still gets the whole (redacted) text', async (t) => {
  const text = 'Reach me at jane@example.com or 555-0100, any time. 😀'
  for (let seed = 1; seed <= 20; seed++) {
    const events = streamOf('openai-chat', text, { seed })
    const out = holdAll(createStreamCodec(), events, (s) => s.replace('jane@example.com', '[EMAIL]'))
    t.equal(clientText('openai-chat', out), 'Reach me at [EMAIL] or 555-0100, any time. 😀', `seed ${seed}`)
    t.ok(out.length <= 4, 'held deltas were dropped, not sent empty')
  }
})

t.test('fields we do not know in a delta are moderated whole, not skipped', async (t) => {
  const codec = createStreamCodec()
  const parts = chunk([{ index: 0, delta: { content: [{ type: 'text', text: 'array content' }] } }])
  t.same(codec.extract(parts), [{ channel: 'c0:other', kind: 'whole', text: 'array content' }], 'content as parts (some compatible servers)')
  t.same(JSON.parse(codec.rebuild(parts, ['ARRAY'])!.data).choices[0].delta.content, [{ type: 'text', text: 'ARRAY' }])
  const details = chunk([{ index: 0, delta: { content: 'x', reasoning_details: [{ type: 'reasoning.text', text: 'hidden chain', format: 'unknown' }] } }])
  t.same(codec.extract(details), [
    { channel: 'c0:content', kind: 'delta', text: 'x' },
    { channel: 'c0:other', kind: 'whole', text: 'hidden chain' },
    { channel: 'c0:other', kind: 'whole', text: 'unknown' },
  ])
  t.not(codec.rebuild(details, ['', 'hidden chain', 'unknown']), null, 'a chunk with more than known text is never dropped')
  t.same(codec.extract(chunk([{ index: 0, delta: { role: 'assistant', content: null, refusal: null, annotations: [{ type: 'url_citation' }] } }])), [])
})
