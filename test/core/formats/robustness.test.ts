import t from 'tap'
import { blockedBody, createStreamCodec, requestBodyCodec, responseBodyCodec } from '../../../src/core/formats/index.js'
import { serializeEvent } from '../../../src/core/sse/serializer.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { mulberry32 } from '../../helpers/prng.js'
import { FORMATS, PATHS, streamOf } from '../../helpers/parity.js'

/**
 * Upstreams that claim a format differ in the details. Whatever shape an event or body has,
 * nothing throws, and what rebuild returns is still one serializable event.
 */

const TYPES = [
  'message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop', 'ping', 'error',
  'response.created', 'response.output_item.added', 'response.output_item.done', 'response.content_part.added', 'response.content_part.done',
  'response.output_text.delta', 'response.output_text.done', 'response.reasoning_summary_part.added', 'response.completed', 'response.x.delta', 'response.x.done',
]
const KEYS = ['type', 'index', 'delta', 'text', 'choices', 'object', 'content', 'content_block', 'message', 'item', 'part', 'output', 'output_index', 'content_index', 'summary_index', 'response', 'error', 'finish_reason', 'tool_calls', 'function', 'arguments', 'input', 'partial_json', 'thinking', 'logprobs', 'sequence_number', 'role', 'usage', 'summary', 'refusal']

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd()
  if (depth > 4 || r < 0.25) {
    const k = Math.floor(rnd() * 8)
    return [null, true, 0, -1, 1.5, 'text', '', TYPES[Math.floor(rnd() * TYPES.length)]][k]
  }
  if (r < 0.45) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1))
  const o: Record<string, unknown> = {}
  const n = Math.floor(rnd() * 6)
  for (let i = 0; i < n; i++) o[KEYS[Math.floor(rnd() * KEYS.length)]!] = randomValue(rnd, depth + 1)
  if (rnd() < 0.5) o.type = TYPES[Math.floor(rnd() * TYPES.length)]
  if (rnd() < 0.2) o.object = ['chat.completion.chunk', 'text_completion', 'chat.completion', 'response', ''][Math.floor(rnd() * 5)]
  return o
}

t.test('random shapes never throw, in any format', async (t) => {
  let events = 0
  let badCloses = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed)
    const format = FORMATS[seed % FORMATS.length]!
    const codec = createStreamCodec({ path: PATHS[format] })
    const prefix = streamOf(format, 'warm up', { seed }).slice(0, 3)
    const stream: SseEvent[] = [...prefix, ...Array.from({ length: 20 }, () => ({ data: JSON.stringify(randomValue(rnd, 0)) }))]
    for (const ev of stream) {
      events++
      const slots = codec.extract(ev)
      const closes = codec.closes(ev)
      if (closes !== 'all' && !Array.isArray(closes)) badCloses++
      const out = codec.rebuild(ev, slots.map((s, i) => (i % 2 ? '' : s.text + '*')))
      if (out) serializeEvent(out)
      const channel = slots.find((s) => s.kind === 'delta')?.channel
      if (channel) serializeEvent(codec.carrier(channel, 'c'))
    }
    for (const e of codec.endEvents('Blocked.', { retraction: seed % 2 === 0 })) serializeEvent(e)
    const body = randomValue(rnd, 0)
    for (const codecOf of [responseBodyCodec, (b: unknown) => requestBodyCodec(b, PATHS[format])]) {
      const bc = codecOf(body)
      if (bc) JSON.stringify(bc.rebuild(body, bc.extract(body).map((s) => s.text + '*')))
    }
    JSON.stringify(blockedBody(body, 'x'))
  }
  t.ok(events > 6000)
  t.equal(badCloses, 0)
})

t.test('JSON nested deeper than the walk is one opaque text, not a miss', async (t) => {
  let deep: unknown = { note: 'deep secret' }
  for (let i = 0; i < 100; i++) deep = { wrap: deep }
  const codec = createStreamCodec()
  codec.extract(streamOf('openai-chat', 'x')[0]!)
  const ev: SseEvent = { data: JSON.stringify(deep) }
  const slots = codec.extract(ev)
  t.equal(slots.length, 1)
  t.match(slots[0]!.text, /deep secret/)
  t.equal(slots[0]!.kind, 'whole')
  t.same(codec.rebuild(ev, [slots[0]!.text.replace('secret', '******')]), { data: JSON.stringify(deep).replace('secret', '******') })

  const body = { id: 'r', object: 'response', status: 'completed', output: [{ type: 'future_item', data: deep }] }
  const bc = responseBodyCodec(body)!
  const bslots = bc.extract(body)
  t.equal(bslots.length, 1)
  t.match(bslots[0]!.text, /deep secret/)
  t.same(bc.rebuild(body, [bslots[0]!.text.replace('secret', '******')]), JSON.parse(JSON.stringify(body).replace('secret', '******')))
  t.same(bc.rebuild(body, ['{broken']), { error: { type: 'chaperone_error', code: 'content_policy_violation', message: 'The response was withheld by the content policy.' } })
  t.equal(bc.rebuild(body, [bslots[0]!.text]), body)
})

t.test('odd but valid shapes', async (t) => {
  const codec = createStreamCodec()
  const ev = (o: unknown): SseEvent => ({ data: JSON.stringify(o) })
  t.same(codec.extract(ev({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: null, finish_reason: 'stop' }] })), [])
  t.same(codec.extract(ev({ object: 'chat.completion.chunk', choices: [null, 1, 'x'] })), [])
  t.same(codec.extract(ev({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 7, tool_calls: [null, { index: 'a' }] } }] })), [])
  const a = createStreamCodec()
  t.same(a.extract(ev({ type: 'content_block_delta', delta: { type: 'text_delta', text: 'no index' } })), [{ channel: 'anthropic:block?', kind: 'delta', text: 'no index' }])
  t.same(a.extract(ev({ type: 'content_block_stop' })), [])
  t.same(a.closes(ev({ type: 'content_block_stop', index: 9 })), [], 'closing a block never opened')
  const r = createStreamCodec()
  t.same(r.extract(ev({ type: 'response.output_text.delta', delta: 5 })), [])
  t.same(r.extract(ev({ type: 'response.output_item.done' })), [])
  t.same(r.extract(ev({ type: 'response.completed', response: 'x' })), [])
  t.same(r.closes(ev({ type: 'response.completed' })), 'all')
})
