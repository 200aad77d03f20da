import t from 'tap'
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator'
import type { Response as OpenAiResponse, ResponseStreamEvent } from 'openai/resources/responses/responses'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { clientText, fixture, holdAll, openaiClientFor, passThrough, streamOf } from '../../helpers/parity.js'

const parse = (e: SseEvent) => JSON.parse(e.data) as Record<string, any>

/** Replays events through the SDK's own accumulator (what responses.stream() does); throws where it would. */
function accumulate(events: readonly SseEvent[]): OpenAiResponse {
  let snapshot: OpenAiResponse | undefined
  for (const e of events) snapshot = accumulateResponse(JSON.parse(e.data) as ResponseStreamEvent, snapshot)
  return snapshot!
}

function sequence(events: readonly SseEvent[]): number[] {
  return events.map((e) => parse(e).sequence_number as number)
}

const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!)

t.test('extract and closes over a real-looking text stream', async (t) => {
  const events = fixture('openai-responses.sse')
  const codec = createStreamCodec()
  const slots = events.map((e) => codec.extract(e))
  const closes = events.map((e) => codec.closes(e))
  t.equal(codec.format, 'openai-responses')
  const channel = 'resp:0:0:output_text'
  const text = 'Hi there! Mail me at jane@example.com.'
  t.same(slots.slice(0, 4).flat(), [], 'created, in_progress, item and part added carry no text')
  t.same(
    slots.slice(4, 12).flat().map((s) => [s.channel, s.kind]),
    Array(8).fill([channel, 'delta']),
  )
  t.equal(slots.slice(4, 12).flat().map((s) => s.text).join(''), text)
  t.same(slots[12], [{ channel, kind: 'whole', text }], 'output_text.done: the whole text')
  t.same(closes[12], [channel], 'and it closes the channel')
  t.same(slots[13], [{ channel, kind: 'whole', text }], 'content_part.done')
  t.same(closes[13], [], 'already closed')
  t.same(slots[14], [{ channel, kind: 'whole', text }], 'output_item.done')
  t.same(slots[15], [{ channel, kind: 'whole', text }], 'response.completed')
  t.equal(closes[15], 'all')
})

t.test('reasoning summaries and function call arguments', async (t) => {
  const events = fixture('openai-responses-tools.sse')
  const codec = createStreamCodec({ path: '/v1/responses' })
  const deltas = events.flatMap((e) => codec.extract(e)).filter((s) => s.kind === 'delta')
  t.same([...new Set(deltas.map((s) => s.channel))], ['resp:0:s0:reasoning_summary_text', 'resp:1::function_call_arguments'])
  t.equal(deltas.filter((s) => s.channel.endsWith('function_call_arguments')).map((s) => s.text).join(''), '{"location":"Paris, France"}')

  const c2 = createStreamCodec()
  const closes = events.map((e) => (c2.extract(e), c2.closes(e)))
  const types = events.map((e) => parse(e).type as string)
  t.same(closes[types.indexOf('response.reasoning_summary_text.done')], ['resp:0:s0:reasoning_summary_text'])
  t.same(closes[types.indexOf('response.function_call_arguments.done')], ['resp:1::function_call_arguments'])
})

t.test('an output_item.done closes what its .done events did not', async (t) => {
  const events = fixture('openai-responses.sse').filter((e) => !parse(e).type.endsWith('output_text.done') && !parse(e).type.endsWith('content_part.done'))
  const codec = createStreamCodec()
  const itemDone = events.findIndex((e) => parse(e).type === 'response.output_item.done')
  const closes = events.map((e) => (codec.extract(e), codec.closes(e)))
  t.same(closes[itemDone], ['resp:0:0:output_text'])
})

t.test('rebuild: same object, drops, logprobs, renumbering', async (t) => {
  const events = fixture('openai-responses.sse')
  const codec = createStreamCodec()
  passThrough(codec, events).forEach((e, i) => t.equal(e, events[i], `event ${i} unchanged`))

  const c2 = createStreamCodec()
  const out: SseEvent[] = []
  for (const e of events.slice(0, 5)) {
    const slots = c2.extract(e)
    out.push(c2.rebuild(e, slots.map((s) => s.text))!)
  }
  const delta = events[5]!
  t.same(c2.extract(delta), [{ channel: 'resp:0:0:output_text', kind: 'delta', text: ' there' }])
  t.equal(c2.rebuild(delta, ['']), null, 'a delta all held back is dropped')
  const lp = { ...delta, data: delta.data.replace('"logprobs":[]', '"logprobs":[{"token":" there","logprob":-1}]') }
  c2.extract(lp)
  t.same(parse(c2.rebuild(lp, [' th***'])!).logprobs, [], 'logprobs of rewritten text are emptied')
  const carrier = c2.carrier('resp:0:0:output_text', 'HELD')
  t.equal(carrier.event, 'response.output_text.delta')
  const cp = parse(carrier)
  t.same(
    { ...cp },
    {
      type: 'response.output_text.delta',
      sequence_number: 6,
      item_id: 'msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654',
      output_index: 0,
      content_index: 0,
      delta: 'HELD',
      logprobs: [],
    },
    'a carrier copies the last delta of its channel, without obfuscation, numbered next',
  )
  const next = events[6]!
  c2.extract(next)
  const shifted = c2.rebuild(next, ['!'])!
  t.equal(parse(shifted).sequence_number, parse(next).sequence_number + 1, 'later events shift by the carriers inserted')
  const noText = events[12]!
  c2.extract(noText)
  const r = c2.rebuild(noText, [parse(noText).text])!
  t.not(r, noText, 'even an unchanged event is renumbered once something was inserted')
  t.equal(parse(r).sequence_number, 13)
})

t.test('hold everything: the SDK accumulates the redacted text and numbers keep increasing', async (t) => {
  for (const name of ['openai-responses.sse', 'openai-responses-tools.sse']) {
    const events = fixture(name)
    const out = holdAll(createStreamCodec(), events, (s) => s.replace('jane@example.com', '[EMAIL]').replace('Paris', 'P***s'))
    t.ok(increasing(sequence(out)), `${name}: sequence numbers increase`)
    const final = accumulate(out)
    t.equal(final.status, 'completed')
    if (name === 'openai-responses.sse') {
      t.equal(final.output_text, 'Hi there! Mail me at [EMAIL].')
      t.equal(clientText('openai-responses', out), 'Hi there! Mail me at [EMAIL].')
    } else {
      t.equal((final.output[1] as { arguments: string }).arguments, '{"location":"P***s, France"}')
    }
    const viaSdk = await openaiClientFor(out).responses.stream({ model: 'm', input: 'x' }).finalResponse()
    t.equal(viaSdk.id, final.id)
  }
})

t.test('endEvents: inside an open text part', async (t) => {
  const events = fixture('openai-responses.sse').slice(0, 7)
  const codec = createStreamCodec()
  const sent = passThrough(codec, events) as SseEvent[]
  const end = codec.endEvents('Blocked by policy.', { retraction: false })
  t.same(end.map((e) => e.event), ['response.output_text.delta', 'response.incomplete'])
  const delta = parse(end[0]!)
  t.same(delta, {
    type: 'response.output_text.delta',
    sequence_number: 7,
    item_id: 'msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654',
    output_index: 0,
    content_index: 0,
    delta: 'Blocked by policy.',
    logprobs: [],
  })
  const final = parse(end[1]!)
  t.equal(final.sequence_number, 8)
  t.equal(final.response.status, 'incomplete')
  t.same(final.response.incomplete_details, { reason: 'content_filter' })
  t.equal(final.response.id, 'resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654')
  t.equal(final.chaperone, undefined)
  const all = [...sent, ...end]
  t.ok(increasing(sequence(all)))
  t.equal(clientText('openai-responses', all), 'Hi there! MailBlocked by policy.')
  const snapshot = accumulate(all)
  t.equal(snapshot.status, 'incomplete')
  t.equal(snapshot.output_text, 'Blocked by policy.', 'the final response holds the notice only')

  const stream = openaiClientFor(all).responses.stream({ model: 'm', input: 'x' })
  const types: string[] = []
  for await (const e of stream) types.push(e.type)
  t.same(types.slice(-2), ['response.output_text.delta', 'response.incomplete'])
  t.equal((await stream.finalResponse()).incomplete_details?.reason, 'content_filter')
})

t.test('endEvents: during a function call, a new message item is opened', async (t) => {
  const events = fixture('openai-responses-tools.sse')
  const cut = events.findIndex((e) => parse(e).type === 'response.function_call_arguments.delta') + 2
  const codec = createStreamCodec()
  const sent = passThrough(codec, events.slice(0, cut)) as SseEvent[]
  const end = codec.endEvents('Stopped.', { retraction: true })
  t.same(end.map((e) => parse(e).type), ['response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.incomplete'])
  t.equal(parse(end[0]!).output_index, 2, 'after the items already added')
  t.same(parse(end[3]!).chaperone, { retracted: true })
  const all = [...sent, ...end]
  t.ok(increasing(sequence(all)))
  const final = await openaiClientFor(all).responses.stream({ model: 'm', input: 'x' }).finalResponse()
  t.equal(final.output_text, 'Stopped.')
})

t.test('endEvents: before anything was sent', async (t) => {
  const codec = createStreamCodec({ path: '/v1/responses' })
  t.equal(codec.format, 'openai-responses', 'the path is the first guess')
  const end = codec.endEvents('No.', { retraction: false })
  t.same(end.map((e) => parse(e).type), ['response.created', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.incomplete'])
  t.same(sequence(end), [0, 1, 2, 3, 4])
  t.equal(accumulate(end).output_text, 'No.')
})

t.test('a stream without event names or sequence numbers gets none in synthetic events', async (t) => {
  const events = streamOf('openai-responses', 'Hello there').map((e) => {
    const { sequence_number: _s, ...rest } = parse(e)
    return { data: JSON.stringify(rest) }
  })
  const codec = createStreamCodec()
  passThrough(codec, events.slice(0, 6))
  const c = codec.carrier('resp:0:0:output_text', 'x')
  t.equal(c.event, undefined)
  t.equal(parse(c).sequence_number, undefined)
  for (const e of codec.endEvents('m', { retraction: false })) t.equal(parse(e).sequence_number, undefined)
})

t.test('other event types', async (t) => {
  const codec = createStreamCodec()
  codec.extract(fixture('openai-responses.sse')[0]!)
  const ev = (o: Record<string, unknown>, event?: string): SseEvent => ({ event: event ?? (o.type as string), data: JSON.stringify(o) })
  t.same(codec.extract(ev({ type: 'response.refusal.delta', item_id: 'm', output_index: 0, content_index: 1, delta: 'I can' })), [
    { channel: 'resp:0:1:refusal', kind: 'delta', text: 'I can' },
  ])
  t.same(codec.extract(ev({ type: 'response.refusal.done', item_id: 'm', output_index: 0, content_index: 1, refusal: "I can't." })), [
    { channel: 'resp:0:1:refusal', kind: 'whole', text: "I can't." },
  ])
  t.same(codec.extract(ev({ type: 'response.reasoning_text.delta', item_id: 'r', output_index: 2, content_index: 0, delta: 'hmm' })), [
    { channel: 'resp:2:0:reasoning_text', kind: 'delta', text: 'hmm' },
  ])
  t.same(codec.extract(ev({ type: 'response.audio.delta', response_id: 'r', delta: 'UklGRiQAAABXQVZF' })), [], 'base64 audio is not text')
  t.same(codec.extract(ev({ type: 'response.audio.transcript.delta', response_id: 'r', delta: 'spoken' })), [
    { channel: 'resp:?::audio.transcript', kind: 'delta', text: 'spoken' },
  ])
  t.same(codec.extract(ev({ type: 'response.web_search_call.searching', item_id: 'ws_1', output_index: 3, sequence_number: 9 })), [], 'status events: ids only')
  t.same(codec.extract(ev({ type: 'response.output_text.annotation.added', item_id: 'm', output_index: 0, content_index: 0, annotation_index: 0, annotation: { type: 'url_citation', title: 'T', url: 'https://x' } })), [])
  t.same(codec.extract(ev({ type: 'response.future_thing.delta', item_id: 'm', output_index: 4, delta: 'new' })), [
    { channel: 'resp:4::future_thing', kind: 'delta', text: 'new' },
  ], 'a delta type we do not know yet is still a delta')
  const unknown = ev({ type: 'response.future_event', item_id: 'm', note: 'visible text', nested: { label: 'more' } })
  t.same(codec.extract(unknown), [
    { channel: 'resp:response.future_event', kind: 'whole', text: 'visible text' },
    { channel: 'resp:response.future_event', kind: 'whole', text: 'more' },
  ], 'unknown events: every non-structural string is moderated whole')
  t.same(parse(codec.rebuild(unknown, ['VISIBLE', 'more'])!).note, 'VISIBLE')
  const err = ev({ type: 'error', code: 'server_error', message: 'The server had an error', param: null, sequence_number: 10 })
  t.same(codec.extract(err), [{ channel: 'resp:error', kind: 'whole', text: 'The server had an error' }])
  t.equal(codec.closes(err), 'all')
  const failed = ev({ type: 'response.failed', response: { id: 'r', status: 'failed', output: [], error: { code: 'server_error', message: 'boom' } } })
  t.same(codec.extract(failed), [{ channel: 'resp:error', kind: 'whole', text: 'boom' }])
  t.equal(codec.closes(failed), 'all')
  const added = ev({ type: 'response.output_item.added', output_index: 5, item: { id: 'ws', type: 'web_search_call', status: 'in_progress', action: { type: 'search', query: 'where does jane live' } } })
  t.same(codec.extract(added), [{ channel: 'resp:5::web_search_call', kind: 'whole', text: 'where does jane live' }])
})
