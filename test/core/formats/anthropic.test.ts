import t from 'tap'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { clientText, fixture, holdAll, overTheWire, passThrough, streamOf } from '../../helpers/parity.js'

const parse = (e: SseEvent) => JSON.parse(e.data) as Record<string, any>

/**
 * The Anthropic SDK's stream handling, as @anthropic-ai/sdk does it (it is not a dependency):
 * dispatch on the SSE event name, throw on `error`, and MessageStream's accumulation rules
 * (message_start first and once, deltas applied by block index and type, message_delta's
 * usage.output_tokens read unconditionally).
 */
function anthropicSdk(events: readonly SseEvent[]) {
  const dispatched = ['message_start', 'message_delta', 'message_stop', 'content_block_start', 'content_block_delta', 'content_block_stop']
  let snapshot: any
  let text = ''
  for (const sse of overTheWire(events)) {
    if (sse.commentOnly || sse.event === 'ping') continue
    if (sse.event === 'error') throw new Error(`APIError ${sse.data}`)
    if (!dispatched.includes(sse.event ?? '')) continue
    const e = JSON.parse(sse.data)
    if (e.type === 'message_start') {
      if (snapshot) throw new Error('Unexpected event order, got message_start before receiving "message_stop"')
      snapshot = e.message
      continue
    }
    if (!snapshot) throw new Error(`Unexpected event order, got ${e.type} before "message_start"`)
    switch (e.type) {
      case 'message_delta':
        snapshot.stop_reason = e.delta.stop_reason
        snapshot.stop_sequence = e.delta.stop_sequence
        snapshot.usage.output_tokens = e.usage.output_tokens
        break
      case 'content_block_start':
        snapshot.content.push(e.content_block)
        break
      case 'content_block_delta': {
        const block = snapshot.content.at(e.index)
        if (e.delta.type === 'text_delta' && block?.type === 'text') {
          block.text += e.delta.text
          if (snapshot.content.at(-1) === block) text += e.delta.text
        }
        if (e.delta.type === 'thinking_delta' && block?.type === 'thinking') block.thinking += e.delta.thinking
        if (e.delta.type === 'input_json_delta' && block?.type === 'tool_use') block.json = (block.json ?? '') + e.delta.partial_json
        break
      }
    }
  }
  return { message: snapshot, text }
}

t.test('extract and closes over a real-looking stream', async (t) => {
  const events = fixture('anthropic.sse')
  const codec = createStreamCodec()
  const slots = events.map((e) => codec.extract(e))
  const closes = events.map((e) => codec.closes(e))
  t.equal(codec.format, 'anthropic')
  t.same(slots.slice(0, 3).flat(), [], 'message_start, empty block start, ping')
  t.equal(slots.flat().map((s) => s.text).join(''), 'Hello! Call me on +1 415-555-0100.')
  t.ok(slots.flat().every((s) => s.channel === 'anthropic:block0' && s.kind === 'delta'))
  const stop = events.findIndex((e) => e.event === 'content_block_stop')
  t.same(closes[stop], ['anthropic:block0'])
  t.equal(closes[stop + 1], 'all', 'message_delta: the stop reason comes after all text')
  t.equal(closes[stop + 2], 'all')
})

t.test('thinking, text and tool input are one channel per block; signatures are not text', async (t) => {
  const events = fixture('anthropic-tools.sse')
  const codec = createStreamCodec({ path: '/v1/messages' })
  const slots = events.flatMap((e) => codec.extract(e))
  const by = (ch: string) => slots.filter((s) => s.channel === ch).map((s) => s.text).join('')
  t.equal(by('anthropic:block0'), 'Let me solve this step by step.\n\n1. First break down 27 * 453')
  t.equal(by('anthropic:block1'), "Okay, let's check the weather for San Francisco, CA:")
  t.equal(by('anthropic:block2'), '{"location": "San Francisco, CA" , "unit": "fahrenheit"}')
  t.notOk(slots.some((s) => s.text.startsWith('EqQB')), 'the signature is not moderated')

  const out = holdAll(createStreamCodec(), events, (s) => s.replace('San Francisco', 'S.F.'))
  const { message } = anthropicSdk(out)
  t.equal(message.content[0].thinking, 'Let me solve this step by step.\n\n1. First break down 27 * 453')
  t.equal(message.content[1].text, "Okay, let's check the weather for S.F., CA:")
  t.equal(message.content[2].json, '{"location": "S.F., CA" , "unit": "fahrenheit"}')
  t.equal(message.stop_reason, 'tool_use')
  const carriers = out.filter((e) => e.data.startsWith('{"type":"content_block_delta"'))
  t.same(
    carriers.map((e) => parse(e).delta.type),
    ['thinking_delta', 'text_delta', 'input_json_delta'],
    'each carrier uses its block type',
  )
  t.ok(carriers.every((e) => e.event === 'content_block_delta'), 'with the event name the SDK dispatches on')
})

t.test('rebuild', async (t) => {
  const events = fixture('anthropic.sse')
  const codec = createStreamCodec()
  passThrough(codec, events).forEach((e, i) => t.equal(e, events[i], `event ${i} unchanged`))
  const c2 = createStreamCodec()
  for (const e of events.slice(0, 3)) c2.extract(e)
  const d = events[3]!
  c2.extract(d)
  t.equal(c2.rebuild(d, ['']), null)
  t.same(parse(c2.rebuild(d, ['Hi'])!), { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } })
  t.equal(c2.rebuild(d, ['Hi'])!.event, 'content_block_delta')

  const start: SseEvent = { event: 'content_block_start', data: JSON.stringify({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: 'Pre' } }) }
  t.same(c2.extract(start), [{ channel: 'anthropic:block1', kind: 'delta', text: 'Pre' }], 'initial text of a block starts its channel')
  t.same(parse(c2.rebuild(start, [''])!).content_block, { type: 'text', text: '' }, 'a block start is never dropped')
})

t.test('tool input and server tool results in content_block_start are whole slots', async (t) => {
  const codec = createStreamCodec()
  codec.extract(fixture('anthropic.sse')[0]!)
  const tool: SseEvent = {
    event: 'content_block_start',
    data: JSON.stringify({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { who: 'jane@example.com', n: 3 } } }),
  }
  t.same(codec.extract(tool), [{ channel: 'anthropic:block1', kind: 'whole', text: 'jane@example.com' }])
  t.same(parse(codec.rebuild(tool, ['[EMAIL]'])!).content_block.input, { who: '[EMAIL]', n: 3 })
  const search: SseEvent = {
    event: 'content_block_start',
    data: JSON.stringify({
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_search_result', title: 'Jane Doe', url: 'https://x', encrypted_content: 'EqgfCioIARgB', page_age: null }] },
    }),
  }
  t.same(codec.extract(search).map((s) => s.text), ['Jane Doe', 'https://x'])
  const redacted: SseEvent = { event: 'content_block_start', data: JSON.stringify({ type: 'content_block_start', index: 3, content_block: { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' } }) }
  t.same(codec.extract(redacted), [])
  const citation: SseEvent = { event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'citations_delta', citation: { type: 'char_location', cited_text: 'x' } } }) }
  t.same(codec.extract(citation), [])
  const error: SseEvent = { event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }) }
  t.same(codec.extract(error), [{ channel: 'anthropic:other', kind: 'whole', text: 'Overloaded' }])
  t.equal(codec.closes(error), 'all')
})

t.test('endEvents', async (t) => {
  t.test('inside an open text block', async (t) => {
    const events = fixture('anthropic.sse').slice(0, 6)
    const codec = createStreamCodec()
    const sent = passThrough(codec, events) as SseEvent[]
    const end = codec.endEvents('Blocked.', { retraction: false })
    t.same(end.map((e) => e.event), ['content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    t.same(parse(end[0]!), { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Blocked.' } })
    t.same(parse(end[2]!), { type: 'message_delta', delta: { stop_reason: 'refusal', stop_sequence: null }, usage: { output_tokens: 1 } })
    const { message, text } = anthropicSdk([...sent, ...end])
    t.equal(text, 'Hello! Call me onBlocked.')
    t.equal(message.stop_reason, 'refusal')
    t.equal(clientText('anthropic', [...sent, ...end]), 'Hello! Call me onBlocked.')
  })
  t.test('inside a tool_use block: it is closed and a text block opened', async (t) => {
    const events = fixture('anthropic-tools.sse')
    const cut = events.findIndex((e) => e.data.includes('input_json_delta')) + 2
    const codec = createStreamCodec()
    const sent = passThrough(codec, events.slice(0, cut)) as SseEvent[]
    const end = codec.endEvents('Stopped.', { retraction: true })
    t.same(end.map((e) => e.event), ['content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    t.equal(parse(end[0]!).index, 2)
    t.equal(parse(end[1]!).index, 3)
    t.same(parse(end[4]!).chaperone, { retracted: true })
    const { message, text } = anthropicSdk([...sent, ...end])
    t.equal(text, "Okay, let's check the weather for San Francisco, CA:Stopped.")
    t.equal(message.content[3].text, 'Stopped.')
    t.equal(message.stop_reason, 'refusal')
  })
  t.test('before message_start', async (t) => {
    const codec = createStreamCodec({ path: '/v1/messages' })
    const end = codec.endEvents('No.', { retraction: false })
    t.equal(end[0]!.event, 'message_start')
    const { message, text } = anthropicSdk(end)
    t.equal(text, 'No.')
    t.equal(message.stop_reason, 'refusal')
  })
})

t.test('hold everything: the client gets the whole redacted text', async (t) => {
  const text = 'Write to jane@example.com — or call 555-0100. 東京'
  for (let seed = 1; seed <= 10; seed++) {
    const out = holdAll(createStreamCodec(), streamOf('anthropic', text, { seed }), (s) => s.replace('jane@example.com', '[EMAIL]'))
    t.equal(anthropicSdk(out).text, 'Write to [EMAIL] — or call 555-0100. 東京', `seed ${seed}`)
  }
})
