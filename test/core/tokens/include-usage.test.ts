import t from 'tap'
import { isUsageOnlyChunk, requestUsageInStream } from '../../../src/core/tokens/include-usage.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { fixture } from '../../helpers/parity.js'

const CHAT = '/v1/chat/completions'
const messages = [{ role: 'user', content: 'hi' }]

t.test('a streamed chat request without include_usage gets it, in a copy', async (t) => {
  const body = { model: 'gpt-4o', stream: true, messages }
  const r = requestUsageInStream(body, CHAT)
  t.equal(r.added, true)
  t.same(r.body, { model: 'gpt-4o', stream: true, messages, stream_options: { include_usage: true } })
  t.same(body, { model: 'gpt-4o', stream: true, messages }, 'the caller’s body is untouched')
  t.equal((r.body as { messages: unknown }).messages, messages, 'a shallow copy')
})

t.test('other stream_options are kept; include_usage false is overridden', async (t) => {
  const body = { stream: true, messages, stream_options: { include_obfuscation: false } }
  const r = requestUsageInStream(body, CHAT)
  t.same(r, { body: { stream: true, messages, stream_options: { include_obfuscation: false, include_usage: true } }, added: true })
  t.same(body.stream_options, { include_obfuscation: false }, 'not mutated')
  const off = requestUsageInStream({ stream: true, messages, stream_options: { include_usage: false, include_obfuscation: true } }, CHAT)
  t.same(off, { body: { stream: true, messages, stream_options: { include_usage: true, include_obfuscation: true } }, added: true }, 'the client did not ask for the chunk: it is stripped later')
  const nul = requestUsageInStream({ stream: true, messages, stream_options: null }, CHAT)
  t.same(nul, { body: { stream: true, messages, stream_options: { include_usage: true } }, added: true })
})

t.test('unchanged: already asked, not streamed, other formats, odd bodies', async (t) => {
  const cases: [unknown, string, string][] = [
    [{ stream: true, messages, stream_options: { include_usage: true } }, CHAT, 'the client asked already'],
    [{ stream: false, messages }, CHAT, 'not streamed'],
    [{ messages }, CHAT, 'stream absent'],
    [{ stream: 'true', messages }, CHAT, 'stream not a boolean'],
    [{ stream: true, messages, stream_options: 'yes' }, CHAT, 'stream_options not an object: the upstream refuses it'],
    [{ stream: true, messages, stream_options: [] }, CHAT, 'stream_options an array'],
    [{ stream: true, input: 'hi' }, '/v1/responses', 'Responses reports usage anyway'],
    [{ stream: true, max_tokens: 10, messages }, '/v1/messages', 'Anthropic reports usage anyway'],
    [{ stream: true, system: 'be brief', messages }, '/proxy', 'Anthropic by shape'],
    [{ stream: true }, CHAT, 'no request shape'],
    [null, CHAT, 'null'],
    ['text', CHAT, 'a string'],
  ]
  for (const [body, path, why] of cases) {
    const r = requestUsageInStream(body, path)
    t.equal(r.added, false, why)
    t.equal(r.body, body, `${why}: the same body`)
  }
})

t.test('legacy completions streams report usage only when asked, like chat', async (t) => {
  const r = requestUsageInStream({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', stream: true }, '/v1/completions')
  t.same(r, { body: { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', stream: true, stream_options: { include_usage: true } }, added: true })
})

t.test('isUsageOnlyChunk: only the usage chunk of the chat fixture', async (t) => {
  const events = fixture('openai-chat.sse')
  const flags = events.map(isUsageOnlyChunk)
  t.same(flags, events.map((_, i) => i === events.length - 2), 'the one before [DONE]')
  t.equal(events.at(-1)!.data, '[DONE]')
  t.equal(isUsageOnlyChunk(events.at(-1)!), false, '[DONE] stays')
})

t.test('isUsageOnlyChunk: everything else is kept', async (t) => {
  const kept: [SseEvent, string][] = [
    [{ data: '', commentOnly: true, comments: ['ping'] }, 'a comment'],
    [{ data: JSON.stringify({ object: 'chat.completion.chunk', choices: [], prompt_filter_results: [{ prompt_index: 0 }] }) }, "Azure's prompt-filter chunk"],
    [{ data: JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'x' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } }) }, 'a content chunk with running usage'],
    [{ data: JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage: null }) }, 'usage null'],
    [{ data: JSON.stringify({ object: 'chat.completion', choices: [], usage: { prompt_tokens: 1 } }) }, 'not a chunk'],
    [{ data: '{"choices":[],"usage":{' }, 'broken JSON'],
    [{ data: '"choices":[]' }, 'not an object'],
    ...fixture('openai-responses.sse').map((e): [SseEvent, string] => [e, `responses ${e.event}`]),
    ...fixture('anthropic.sse').map((e): [SseEvent, string] => [e, `anthropic ${e.event}`]),
  ]
  for (const [ev, why] of kept) t.equal(isUsageOnlyChunk(ev), false, why)
})

t.test('isUsageOnlyChunk: spacing, a missing object field, the legacy usage chunk', async (t) => {
  t.equal(isUsageOnlyChunk({ data: '{ "id": "c1", "choices": [ ], "usage": { "prompt_tokens": 3, "completion_tokens": 2 } }' }), true)
  t.equal(isUsageOnlyChunk({ data: JSON.stringify({ object: 'text_completion', choices: [], usage: { prompt_tokens: 4, completion_tokens: 1 } }) }), true)
})
