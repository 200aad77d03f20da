/**
 * Test helpers for every format (not a test file): realistic streams and non-streamed bodies
 * built from one answer text, so that moderation tests can check that the same text gets the
 * same verdict streamed or not; the text a client assembles from events; the fixture streams;
 * and a reference run of the StreamCodec protocol that holds every delta until its channel
 * closes (the hardest case for carriers and empty slots).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createSseParser } from '../../src/core/sse/parser.js'
import { serializeEvent } from '../../src/core/sse/serializer.js'
import type { SseEvent } from '../../src/core/sse/types.js'
import type { FormatName, StreamCodec } from '../../src/core/formats/index.js'
import OpenAI from 'openai'
import { mulberry32 } from './prng.js'

export const FORMATS: readonly FormatName[] = ['openai-chat', 'openai-responses', 'anthropic', 'openai-completions', 'plain']

/** The request path each format is served on (the hint createStreamCodec takes). */
export const PATHS: Record<FormatName, string> = {
  'openai-chat': '/v1/chat/completions',
  'openai-responses': '/v1/responses',
  anthropic: '/v1/messages',
  'openai-completions': '/v1/completions',
  plain: '/stream',
}

/** The channel the answer text streams on, per format. */
export const ANSWER_CHANNEL: Record<FormatName, string> = {
  'openai-chat': 'c0:content',
  'openai-responses': 'resp:0:0:output_text',
  anthropic: 'anthropic:block0',
  'openai-completions': 'c0:text',
  plain: 'plain:message',
}

/**
 * Splits text into pieces of 1–maxPiece code points, as LLM tokens come (seeded, so a failure
 * is reproducible). With `splitPairs`, a piece may also end between the two halves of a
 * surrogate pair, as a server that escapes lone surrogates would send them.
 */
export function splitText(text: string, opts: { seed?: number; maxPiece?: number; splitPairs?: boolean } = {}): string[] {
  const rnd = mulberry32(opts.seed ?? 1)
  const max = opts.maxPiece ?? 8
  const pieces: string[] = []
  let i = 0
  while (i < text.length) {
    let n = 1 + Math.floor(rnd() * max)
    let j = i
    while (n-- > 0 && j < text.length) {
      const c = text.charCodeAt(j)
      j += !opts.splitPairs && c >= 0xd800 && c <= 0xdbff && j + 1 < text.length ? 2 : 1
    }
    pieces.push(text.slice(i, j))
    i = j
  }
  return pieces
}

const ev = (data: unknown, event?: string): SseEvent => (event === undefined ? { data: JSON.stringify(data) } : { event, data: JSON.stringify(data) })

/** A realistic upstream stream whose answer is `text` (in `pieces` when given). */
export function streamOf(format: FormatName, text: string, opts: { seed?: number; maxPiece?: number; pieces?: string[] } = {}): SseEvent[] {
  const pieces = opts.pieces ?? splitText(text, opts)
  switch (format) {
    case 'openai-chat': {
      const base = { id: 'chatcmpl-parity', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o-mini', system_fingerprint: 'fp_1' }
      return [
        ev({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }] }),
        ...pieces.map((p) => ev({ ...base, choices: [{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }] })),
        ev({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] }),
        { data: '[DONE]' },
      ]
    }
    case 'openai-completions': {
      const base = { id: 'cmpl-parity', object: 'text_completion', created: 1_700_000_000 }
      return [
        ...pieces.map((p) => ev({ ...base, choices: [{ text: p, index: 0, logprobs: null, finish_reason: null }], model: 'gpt-3.5-turbo-instruct' })),
        ev({ ...base, choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }], model: 'gpt-3.5-turbo-instruct' }),
        { data: '[DONE]' },
      ]
    }
    case 'openai-responses': {
      let seq = 0
      const r = (type: string, body: Record<string, unknown>) => ev({ type, sequence_number: seq++, ...body }, type)
      const item = 'msg_parity'
      const at = { item_id: item, output_index: 0, content_index: 0 }
      const part = { type: 'output_text', annotations: [], logprobs: [], text }
      const done = { id: item, type: 'message', status: 'completed', content: [part], role: 'assistant' }
      return [
        r('response.created', { response: responseObject('in_progress', []) }),
        r('response.in_progress', { response: responseObject('in_progress', []) }),
        r('response.output_item.added', { output_index: 0, item: { id: item, type: 'message', status: 'in_progress', content: [], role: 'assistant' } }),
        r('response.content_part.added', { ...at, part: { ...part, text: '' } }),
        ...pieces.map((p) => r('response.output_text.delta', { ...at, delta: p, logprobs: [] })),
        r('response.output_text.done', { ...at, text, logprobs: [] }),
        r('response.content_part.done', { ...at, part }),
        r('response.output_item.done', { output_index: 0, item: done }),
        r('response.completed', { response: responseObject('completed', [done]) }),
      ]
    }
    case 'anthropic': {
      const a = (body: Record<string, unknown> & { type: string }) => ev(body, body.type)
      return [
        a({ type: 'message_start', message: { id: 'msg_parity', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } }),
        a({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
        a({ type: 'ping' }),
        ...pieces.map((p) => a({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } })),
        a({ type: 'content_block_stop', index: 0 }),
        a({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: pieces.length } }),
        a({ type: 'message_stop' }),
      ]
    }
    case 'plain':
      return pieces.map((p) => ({ data: p }))
  }
}

/** The non-streamed body whose answer is `text` (plain has none: its text is the body). */
export function bodyOf(format: Exclude<FormatName, 'plain'>, text: string): unknown {
  switch (format) {
    case 'openai-chat':
      return {
        id: 'chatcmpl-parity',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 },
        system_fingerprint: 'fp_1',
      }
    case 'openai-completions':
      return { id: 'cmpl-parity', object: 'text_completion', created: 1_700_000_000, model: 'gpt-3.5-turbo-instruct', choices: [{ text, index: 0, logprobs: null, finish_reason: 'stop' }] }
    case 'openai-responses':
      return responseObject('completed', [{ id: 'msg_parity', type: 'message', status: 'completed', content: [{ type: 'output_text', annotations: [], logprobs: [], text }], role: 'assistant' }])
    case 'anthropic':
      return {
        id: 'msg_parity',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 20 },
      }
  }
}

function responseObject(status: string, output: unknown[]): Record<string, unknown> {
  return {
    id: 'resp_parity',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    model: 'gpt-4.1-mini',
    output,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: status === 'completed' ? { input_tokens: 10, output_tokens: 20, total_tokens: 30 } : null,
    metadata: {},
  }
}

/** The answer a client assembles from the events, the way each SDK concatenates deltas. */
export function clientText(format: FormatName, events: readonly SseEvent[]): string {
  let out = ''
  for (const e of events) {
    if (e.commentOnly || e.data === '[DONE]') continue
    if (format === 'plain') {
      if (e.event === undefined || e.event === 'message') out += e.data
      continue
    }
    const d = JSON.parse(e.data) as any
    if (format === 'openai-chat') out += d.choices?.find((c: any) => c.index === 0)?.delta?.content ?? ''
    else if (format === 'openai-completions') out += d.choices?.find((c: any) => c.index === 0)?.text ?? ''
    else if (format === 'openai-responses' && d.type === 'response.output_text.delta') out += d.delta
    else if (format === 'anthropic' && d.type === 'content_block_delta' && d.delta?.type === 'text_delta') out += d.delta.text
  }
  return out
}

/** Events as the client receives them: serialized, then parsed again. */
export function overTheWire(events: readonly SseEvent[]): SseEvent[] {
  return parseSse(events.map(serializeEvent).join(''))
}

export function parseSse(text: string): SseEvent[] {
  const p = createSseParser()
  return [...p.push(new TextEncoder().encode(text)), ...p.end()]
}

/** A fixture stream from test/fixtures/streams/. */
export function fixture(name: string): SseEvent[] {
  return parseSse(readFileSync(fileURLToPath(new URL(`../fixtures/streams/${name}`, import.meta.url)), 'utf8'))
}

/**
 * Runs the StreamCodec protocol as the moderation filter does, holding every delta until its
 * channel closes, then releasing it through `map` (a stand-in for redaction). Whole slots go
 * through `map` on their own. Exercises drops, carriers and empty slots on closing events.
 */
export function holdAll(codec: StreamCodec, events: readonly SseEvent[], map: (text: string) => string = (s) => s): SseEvent[] {
  const held = new Map<string, string>()
  const out: SseEvent[] = []
  for (const e of events) {
    const slots = codec.extract(e)
    const texts = slots.map((s) => {
      if (s.kind === 'whole') return map(s.text)
      held.set(s.channel, (held.get(s.channel) ?? '') + s.text)
      return ''
    })
    const closes = codec.closes(e)
    for (const channel of closes === 'all' ? [...held.keys()] : closes.filter((c) => held.has(c))) {
      const text = map(held.get(channel)!)
      held.delete(channel)
      if (text === '') continue
      const own = slots.findIndex((s) => s.kind === 'delta' && s.channel === channel)
      if (own !== -1) texts[own] += text
      else out.push(codec.carrier(channel, text))
    }
    const rebuilt = codec.rebuild(e, texts)
    if (rebuilt) out.push(rebuilt)
  }
  for (const [channel, text] of held) if (text !== '') out.push(codec.carrier(channel, map(text)))
  return out
}

/** Runs the protocol releasing every delta at once through `map` (no hold-back). */
export function passThrough(codec: StreamCodec, events: readonly SseEvent[], map: (text: string) => string = (s) => s): (SseEvent | null)[] {
  return events.map((e) => {
    const slots = codec.extract(e)
    codec.closes(e)
    return codec.rebuild(
      e,
      slots.map((s) => map(s.text)),
    )
  })
}

/** A byte stream of the events, as a fetch Response body an SDK reads. */
export function sseResponse(events: readonly SseEvent[]): Response {
  return new Response(events.map(serializeEvent).join(''), { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

/** An official OpenAI SDK client whose every request is answered with these events. */
export function openaiClientFor(events: readonly SseEvent[]): OpenAI {
  return new OpenAI({ apiKey: 'sk-test', baseURL: 'http://sdk.invalid/v1', maxRetries: 0, fetch: async () => sseResponse(events) })
}
