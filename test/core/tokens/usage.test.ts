import t from 'tap'
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base'
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base'
import { loadTokenizer, TOKENIZED_BYTES } from '../../../src/core/tokens/estimate.js'
import { StreamUsage, usageFromBody } from '../../../src/core/tokens/usage.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { fixture, parseSse } from '../../helpers/parity.js'

/** The tokens of each delta, counted one by one as StreamUsage does. */
const perDelta = (deltas: string[], count = o200k) => deltas.reduce((n, d) => n + count(d), 0)

function feed(events: readonly SseEvent[], usage = new StreamUsage()): StreamUsage {
  for (const e of events) usage.push(e)
  return usage
}

/** The events before the first one whose data contains `marker`: a stream cut just before it. */
function until(events: readonly SseEvent[], marker: string): SseEvent[] {
  const i = events.findIndex((e) => e.data.includes(marker))
  if (i < 0) throw new Error(`no event with ${marker}`)
  return events.slice(0, i)
}


await loadTokenizer('o200k_base')
await loadTokenizer('cl100k_base')

t.test('usageFromBody: each format, the whole prompt as input', async (t) => {
  const chat = { object: 'chat.completion', choices: [], usage: { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29, prompt_tokens_details: { cached_tokens: 12 } } }
  t.same(usageFromBody(chat), { input: 19, output: 10 }, 'OpenAI chat (cached tokens are part of prompt_tokens)')
  const responses = { object: 'response', output: [], usage: { input_tokens: 37, input_tokens_details: { cached_tokens: 5 }, output_tokens: 11, output_tokens_details: { reasoning_tokens: 4 }, total_tokens: 48 } }
  t.same(usageFromBody(responses), { input: 37, output: 11 }, 'Responses')
  const anthropic = { type: 'message', content: [], usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 5 } }
  t.same(usageFromBody(anthropic), { input: 1110, output: 5 }, 'Anthropic: cache writes and reads are prompt tokens too')
  t.same(usageFromBody({ type: 'message', usage: { input_tokens: 7, cache_creation_input_tokens: null, output_tokens: 3 } }), { input: 7, output: 3 })
  t.same(usageFromBody({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } }), { input: 8, output: 0 }, 'embeddings report the prompt alone')
})

t.test('usageFromBody: no usable report, undefined', async (t) => {
  const bodies: unknown[] = [
    undefined,
    null,
    'text',
    [],
    {},
    { usage: null },
    { usage: {} },
    { usage: { total_tokens: 5 } },
    { usage: { prompt_tokens: -1, completion_tokens: 'many' } },
    { usage: { input_tokens: 1.5 } },
    { error: { message: 'rate limited' } },
  ]
  for (const b of bodies) t.equal(usageFromBody(b), undefined, JSON.stringify(b) ?? 'undefined')
})

t.test('OpenAI chat: the include_usage chunk is the report; before it, the streamed text', async (t) => {
  const events = fixture('openai-chat.sse')
  t.same(feed(events).result(), { input: 19, output: 10, reported: true })
  const cut = feed(until(events, '"usage":{'))
  t.same(cut.result(), { input: undefined, output: perDelta(['Sure', ', write', ' to jane', '@exam', 'ple.com', '.']), reported: false }, 'cut before the usage chunk')
  t.same(feed(events.slice(0, 3)).result(), { input: undefined, output: perDelta(['Sure', ', write']), reported: false }, 'counted as it streams')
})

t.test('OpenAI chat: tool-call arguments are output; a stream that never reports is charged for them', async (t) => {
  t.same(feed(fixture('openai-chat-tools.sse')).result(), { input: undefined, output: perDelta(['{"', 'location', '":"', 'Paris', '"}']), reported: false })
})

t.test('OpenAI chat: running totals on every chunk (compatible servers), the last one wins', async (t) => {
  const chunk = (content: string, completion: number) => ({ data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }], usage: { prompt_tokens: 7, completion_tokens: completion } }) })
  t.same(feed([chunk('a', 1), chunk('b', 2), chunk('c', 3)]).result(), { input: 7, output: 3, reported: true })
})

t.test('text streamed after a report (a server that reports early) is added to it', async (t) => {
  const chunk = (content: string, usage?: object) => ({ data: JSON.stringify({ object: 'chat.completion.chunk', choices: content ? [{ index: 0, delta: { content } }] : [], ...(usage ? { usage } : {}) }) })
  const early = feed([chunk('', { prompt_tokens: 12, completion_tokens: 0 }), chunk('Hello'), chunk(' there, friend')])
  t.same(early.result(), { input: 12, output: perDelta(['Hello', ' there, friend']), reported: false })
  const late = feed([chunk('Hello'), chunk(' there, friend'), chunk('', { prompt_tokens: 12, completion_tokens: 3 })])
  t.same(late.result(), { input: 12, output: 3, reported: true }, 'a report after the text is the whole truth')
})

t.test('legacy completions: text deltas counted', async (t) => {
  t.same(feed(fixture('openai-completions.sse')).result(), { input: undefined, output: perDelta(['This', ' is a', ' test.']), reported: false })
  const withUsage = parseSse('data: {"object":"text_completion","choices":[{"text":"Hi","index":0}]}\n\ndata: {"object":"text_completion","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}\n\ndata: [DONE]\n\n')
  t.same(feed(withUsage).result(), { input: 4, output: 1, reported: true })
})

t.test('Responses: response.completed reports; before it, the deltas and never the done events', async (t) => {
  const events = fixture('openai-responses.sse')
  t.same(feed(events).result(), { input: 37, output: 11, reported: true })
  const deltas = ['Hi', ' there', '! Mail', ' me at', ' jane@', 'example', '.com', '.']
  t.same(feed(until(events, '"type":"response.completed"')).result(), { input: undefined, output: perDelta(deltas), reported: false }, 'the text.done, part.done and item.done repeat the text: not counted again')

  const tools = fixture('openai-responses-tools.sse')
  t.same(feed(tools).result(), { input: 60, output: 40, reported: true })
  const reasoningAndArgs = ['**Checking', ' the weather**\n\nThe user', ' asks about Paris.', '{"', 'location', '":"', 'Paris', ', France', '"}']
  t.same(feed(until(tools, '"type":"response.completed"')).result(), { input: undefined, output: perDelta(reasoningAndArgs), reported: false })
})

t.test('Responses: incomplete and failed responses carry usage too', async (t) => {
  for (const type of ['response.incomplete', 'response.failed']) {
    const ev = { event: type, data: JSON.stringify({ type, sequence_number: 3, response: { id: 'resp_1', status: type.slice(9), usage: { input_tokens: 12, output_tokens: 100, total_tokens: 112 } } }) }
    t.same(feed([ev]).result(), { input: 12, output: 100, reported: true }, type)
  }
})

t.test('Anthropic: input from message_start, output from message_delta; cut, the input stays', async (t) => {
  const events = fixture('anthropic.sse')
  t.same(feed(events).result(), { input: 25, output: 15, reported: true })
  const cut = feed(until(events, '"type": "content_block_stop"'))
  t.same(cut.result(), { input: 25, output: perDelta(['Hello', '! Call', ' me on', ' +1 415', '-555-', '0100', '.']), reported: false }, "message_start's output_tokens (1) is no report")

  const tools = fixture('anthropic-tools.sse')
  t.same(feed(tools).result(), { input: 472, output: 89, reported: true })
  const streamed = ['Let me solve', ' this step by step.', '\n\n1. First break', ' down 27 * 453', "Okay, let's check", ' the weather for', ' San Francisco, CA:', '{"location":', ' "San Fra', 'ncisco, CA"', ' , "unit": "fah', 'renheit"}']
  t.same(feed(until(tools, '"type": "message_delta"')).result(), { input: 472, output: perDelta(streamed), reported: false }, 'thinking, text and tool input counted; the signature is not')
})

t.test('Anthropic: cache fields, and a message_delta that updates the input', async (t) => {
  const ev = (name: string, data: object): SseEvent => ({ event: name, data: JSON.stringify({ type: name, ...data }) })
  const start = ev('message_start', { message: { id: 'm', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 5, cache_creation_input_tokens: 200, cache_read_input_tokens: 3000, output_tokens: 1 } } })
  t.same(feed([start]).result(), { input: 3205, output: 0, reported: false })
  const delta = ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 9, output_tokens: 40 } })
  t.same(feed([start, delta]).result(), { input: 3209, output: 40, reported: true }, 'cumulative input_tokens replace the first; the cache fields stay')
})

t.test('per-delta counting over-counts a word split across deltas, never keeps the text', async (t) => {
  const chunk = (content: string) => ({ data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] }) })
  const r = feed(['Hel', 'lo', ' wor', 'ld'].map(chunk)).result()
  t.equal(r.output, perDelta(['Hel', 'lo', ' wor', 'ld']))
  t.ok(r.output >= o200k('Hello world'))
})

t.test('bounded work: past 1 MiB of streamed text, deltas are estimated at 4 bytes a token', async (t) => {
  const delta = 'hello world, hello world '
  t.equal(delta.length, 25)
  const tokenized = o200k(delta)
  t.not(tokenized, Math.ceil(25 / 4), 'the two ways differ for this delta')
  const ev = { data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: delta } }] }) }
  const usage = new StreamUsage()
  const n = 50_000
  for (let i = 0; i < n; i++) usage.push(ev)
  const fits = Math.floor(TOKENIZED_BYTES / 25)
  t.equal(usage.result().output, fits * tokenized + (n - fits) * Math.ceil(25 / 4))
})

t.test('the encoding option', async (t) => {
  const text = 'Привет, мир! Как дела у тебя сегодня?'
  const ev = { data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text } }] }) }
  t.equal(feed([ev], new StreamUsage({ encoding: 'cl100k_base' })).result().output, cl100k(text))
  t.equal(feed([ev]).result().output, o200k(text))
  t.not(cl100k(text), o200k(text))
})

t.test('plain SSE, comments, [DONE] and broken JSON: nothing counted, nothing thrown', async (t) => {
  t.same(feed(fixture('plain.sse')).result(), { input: undefined, output: 0, reported: false })
  const odd: SseEvent[] = [{ data: '', commentOnly: true, comments: ['keep-alive'] }, { data: '{"usage": {"prompt_tokens": ' }, { data: '[DONE]' }, { data: '"usage"' }]
  t.same(feed(odd).result(), { input: undefined, output: 0, reported: false })
})
