import t from 'tap'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { clientText, fixture, holdAll, openaiClientFor, passThrough, streamOf } from '../../helpers/parity.js'

const parse = (e: SseEvent) => JSON.parse(e.data) as Record<string, any>

t.test('extract and closes', async (t) => {
  const events = fixture('openai-completions.sse')
  const codec = createStreamCodec()
  const slots = events.map((e) => codec.extract(e))
  const closes = events.map((e) => codec.closes(e))
  t.equal(codec.format, 'openai-completions')
  t.same(slots.slice(0, 3).flat(), [
    { channel: 'c0:text', kind: 'delta', text: 'This' },
    { channel: 'c0:text', kind: 'delta', text: ' is a' },
    { channel: 'c0:text', kind: 'delta', text: ' test.' },
  ])
  t.same(slots[3], [{ channel: 'c0:text', kind: 'delta', text: '' }], 'the finish chunk offers its empty text')
  t.same(closes[3], ['c0:text'])
  t.equal(closes[4], 'all')
})

t.test('rebuild, carrier, drop', async (t) => {
  const events = fixture('openai-completions.sse')
  passThrough(createStreamCodec(), events).forEach((e, i) => t.equal(e, events[i]))
  const codec = createStreamCodec()
  codec.extract(events[0]!)
  t.equal(codec.rebuild(events[0]!, ['']), null)
  t.equal(parse(codec.rebuild(events[0]!, ['That'])!).choices[0].text, 'That')
  t.same(parse(codec.carrier('c0:text', 'held')), {
    id: 'cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe',
    object: 'text_completion',
    created: 1690759702,
    model: 'gpt-3.5-turbo-instruct',
    choices: [{ text: 'held', index: 0, logprobs: null, finish_reason: null }],
  })
  const out = holdAll(createStreamCodec(), streamOf('openai-completions', 'Mail jane@example.com now', { seed: 3 }), (s) => s.replace('jane@example.com', '[EMAIL]'))
  t.equal(clientText('openai-completions', out), 'Mail [EMAIL] now')
  t.equal(out.length, 2, 'the held text rides on the finish chunk, then [DONE]')
})

t.test('endEvents: the SDK sees the notice and content_filter', async (t) => {
  const codec = createStreamCodec({ path: '/v1/completions' })
  const sent = passThrough(codec, fixture('openai-completions.sse').slice(0, 2)) as SseEvent[]
  const end = codec.endEvents('Blocked.', { retraction: true })
  t.equal(end[1]!.data, '[DONE]')
  t.same(parse(end[0]!).choices, [{ text: 'Blocked.', index: 0, logprobs: null, finish_reason: 'content_filter' }])
  t.same(parse(end[0]!).chaperone, { retracted: true })
  const stream = await openaiClientFor([...sent, ...end]).completions.create({ model: 'm', prompt: 'x', stream: true })
  let text = ''
  let finish: string | null | undefined
  for await (const c of stream) {
    text += c.choices[0]?.text ?? ''
    finish = c.choices[0]?.finish_reason ?? finish
  }
  t.equal(text, 'This is aBlocked.')
  t.equal(finish, 'content_filter')
})
