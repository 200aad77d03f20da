/** buildEntry: what the upstream sent → an entry, or the reason it is not stored. */
import t from 'tap'
import { buildEntry, type EntryPlan } from '../../../src/core/cache/build-entry.js'
import type { Recording } from '../../../src/core/cache/flight.js'
import type { CacheEntry, NotStoredReason } from '../../../src/core/cache/types.js'

const plan: EntryPlan = { key: 'v1/r/shared//abc', route: 'r', tags: ['faq'], ttlMs: 600_000, ttlJitter: 0.1, staleMs: 30_000, maxEntryBytes: 4096, honorNoCache: false, model: 'm' }
const NOW = 1_700_000_000_000

function rec(status: number, headers: string[], chunks: string[], at?: number[]): Recording {
  const bufs = chunks.map((c) => Buffer.from(c))
  return { status, headers, chunks: bufs, at: at ?? bufs.map((_, i) => i * 10), bytes: bufs.reduce((n, b) => n + b.byteLength, 0) }
}

const chatChunk = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`
const usageChunk = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } })}\n\n`
const DONE = 'data: [DONE]\n\n'
const chatJson = (usage?: object) =>
  JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], ...(usage ? { usage } : {}) })

const SSE = ['content-type', 'text/event-stream']
const JSON_CT = ['content-type', 'application/json']

function ok(r: ReturnType<typeof buildEntry>): CacheEntry {
  if (!r.ok) throw new Error(`not stored: ${r.reason}`)
  return r.entry
}
function reason(r: ReturnType<typeof buildEntry>): NotStoredReason | 'stored' {
  return r.ok ? 'stored' : r.reason
}

t.test('a complete 200 stream is stored with its metadata', async (t) => {
  const chunks = [chatChunk('hello '), chatChunk('world'), usageChunk, DONE]
  const e = ok(buildEntry(rec(200, [...SSE, 'x-upstream', 'kept'], chunks), plan, NOW, 0.5))
  t.equal(e.status, 200)
  t.equal(Buffer.from(e.body).toString(), chunks.join(''))
  t.same(e.meta.key, plan.key)
  t.same(e.meta.route, 'r')
  t.same(e.meta.tags, ['faq'])
  t.equal(e.meta.model, 'm')
  t.equal(e.meta.contentType, 'text/event-stream')
  t.equal(e.meta.bytes, Buffer.byteLength(chunks.join('')))
  t.equal(e.meta.createdAt, NOW)
  t.same(e.headers, [...SSE, 'x-upstream', 'kept'])
  t.same(e.meta.usage, { input: 7, output: 5 }, 'usage from the include_usage chunk')
  const noModel = ok(buildEntry(rec(200, SSE, chunks), { ...plan, model: undefined }, NOW, 0.5))
  t.notOk('model' in noModel.meta, 'no model key when the plan has none')
})

t.test('each reason not to store', async (t) => {
  const good = [chatChunk('x'), DONE]
  const cases: Array<[string, Recording, NotStoredReason | 'stored', Partial<EntryPlan>?]> = [
    ['206', rec(206, SSE, good), 'status'],
    ['500', rec(500, JSON_CT, ['{"error":{"message":"boom"}}']), 'status'],
    ['304', rec(304, [], []), 'status'],
    ['private', rec(200, [...SSE, 'cache-control', 'private'], good), 'cache_control'],
    ['private=""', rec(200, [...SSE, 'Cache-Control', 'private=""'], good), 'cache_control'],
    ['no-store in a second header', rec(200, [...SSE, 'cache-control', 'max-age=60', 'cache-control', 'no-store'], good), 'cache_control'],
    ['set-cookie', rec(200, [...SSE, 'Set-Cookie', 'a=b'], good), 'set_cookie'],
    ['over maxEntryBytes', rec(200, SSE, [chatChunk('x'.repeat(5000)), DONE]), 'too_large'],
    ['exactly maxEntryBytes', rec(200, ['content-type', 'text/plain'], ['y'.repeat(4096)]), 'stored'],
    ['one byte over', rec(200, ['content-type', 'text/plain'], ['y'.repeat(4097)]), 'too_large'],
    ['a stream cut inside an event', rec(200, SSE, [chatChunk('x'), 'data: {"id":']), 'incomplete'],
    ['a chat stream without [DONE]', rec(200, SSE, [chatChunk('x')]), 'incomplete'],
    ['truncated JSON', rec(200, JSON_CT, [chatJson().slice(0, 30)]), 'incomplete'],
    ['an empty stream', rec(200, SSE, []), 'incomplete'],
    ['an error event in a stream', rec(200, SSE, [chatChunk('x'), 'data: {"error":{"message":"overloaded"}}\n\n', DONE]), 'error_event'],
    ['a JSON error body with status 200', rec(200, JSON_CT, ['{"error":{"message":"x"}}']), 'error_event'],
  ]
  for (const [name, r, want, p] of cases) t.equal(reason(buildEntry(r, { ...plan, ...p }, NOW, 0.5)), want, name)
})

t.test('honorNoCache: upstream no-cache (and Pragma without Cache-Control) prevents storing only when honoured', async (t) => {
  const chunks = [chatChunk('x'), DONE]
  const noCache = rec(200, [...SSE, 'cache-control', 'no-cache'], chunks)
  const pragma = rec(200, [...SSE, 'pragma', 'no-cache'], chunks)
  t.equal(reason(buildEntry(noCache, plan, NOW, 0.5)), 'stored', 'SSE servers send no-cache on every stream: stored by default')
  t.equal(reason(buildEntry(noCache, { ...plan, honorNoCache: true }, NOW, 0.5)), 'cache_control')
  t.equal(reason(buildEntry(pragma, plan, NOW, 0.5)), 'stored')
  t.equal(reason(buildEntry(pragma, { ...plan, honorNoCache: true }, NOW, 0.5)), 'cache_control')
})

t.test('headers that describe one delivery are not stored', async (t) => {
  const headers = [
    'Content-Type', 'application/json',
    'Date', 'Tue, 01 Jan 2030 00:00:00 GMT',
    'connection', 'keep-alive',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'x-request-id', 'abc',
    'X-Chaperone-Cache', 'miss',
    'age', '4',
    'openai-model', 'gpt',
    'x-ratelimit-remaining', '10',
  ]
  const e = ok(buildEntry(rec(200, headers, [chatJson({ prompt_tokens: 1, completion_tokens: 2 })]), plan, NOW, 0.5))
  t.same(e.headers, ['Content-Type', 'application/json', 'openai-model', 'gpt', 'x-ratelimit-remaining', '10'], 'names and order of the kept ones as sent')
  t.equal(e.meta.contentType, 'application/json')
})

t.test('SSE: event ends and times from chunks split mid-event, LF and CRLF', async (t) => {
  // Two plain events (no known format: only the boundaries matter), split across four chunks.
  const lf = ['data: a', 'bc\n\ndata: d', 'ef\n', '\n']
  const e1 = ok(buildEntry(rec(200, SSE, lf, [0, 5, 9, 14]), plan, NOW, 0.5))
  t.same(e1.events, { ends: [11, 22], at: [5, 14] }, 'each event ends where its blank line does, timed by the chunk that completed it')
  t.equal(e1.meta.contentType, 'text/event-stream')

  // CRLF, with one CR LF pair split between chunks: the boundary belongs after the LF.
  const crlf = ['data: a\r\n\r', '\ndata: b\r\n', '\r\n']
  const e2 = ok(buildEntry(rec(200, ['Content-Type', 'text/event-stream; charset=utf-8'], crlf, [1, 2, 3]), plan, NOW, 0.5))
  t.same(e2.events, { ends: [11, 22], at: [2, 3] })
  t.equal(e2.meta.contentType, 'text/event-stream; charset=utf-8')

  // A final lone CR ends the last event: reported at the end of the stream.
  const cr = ['data: a\r\r', 'data: b\r\r']
  const e3 = ok(buildEntry(rec(200, SSE, cr, [4, 8]), plan, NOW, 0.5))
  t.same(e3.events, { ends: [9, 18], at: [8, 8] }, 'a CR that may yet be followed by LF is settled by the next chunk, or the end')

  // A JSON answer has no events.
  const j = ok(buildEntry(rec(200, JSON_CT, [chatJson()]), plan, NOW, 0.5))
  t.notOk('events' in j)
})

t.test('usage: from an include_usage chunk, from a JSON body, or absent', async (t) => {
  const stream = ok(buildEntry(rec(200, SSE, [chatChunk('a'), usageChunk, DONE]), plan, NOW, 0.5))
  t.same(stream.meta.usage, { input: 7, output: 5 })
  const json = ok(buildEntry(rec(200, JSON_CT, [chatJson({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 })]), plan, NOW, 0.5))
  t.same(json.meta.usage, { input: 11, output: 3 })
  const anthropic = ok(buildEntry(rec(200, JSON_CT, [JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'x' }], usage: { input_tokens: 4, output_tokens: 2 } })]), plan, NOW, 0.5))
  t.same(anthropic.meta.usage, { input: 4, output: 2 })
  const none = ok(buildEntry(rec(200, JSON_CT, [chatJson()]), plan, NOW, 0.5))
  t.notOk('usage' in none.meta, 'a JSON body without usage: none recorded')
  const plain = ok(buildEntry(rec(200, SSE, ['data: hello\n\n']), plan, NOW, 0.5))
  t.notOk('usage' in plain.meta, 'a stream of no known format: none recorded')
  const text = ok(buildEntry(rec(200, ['content-type', 'text/plain'], ['not json']), plan, NOW, 0.5))
  t.notOk('usage' in text.meta)
})

t.test('TTL jitter bounds and stale window', async (t) => {
  const r = rec(200, JSON_CT, [chatJson()])
  const at = (random: number, p: Partial<EntryPlan> = {}) => ok(buildEntry(r, { ...plan, ...p }, NOW, random)).meta
  t.equal(at(0).freshUntil, NOW + 540_000, 'random 0: ttl × (1 − jitter)')
  t.equal(at(1).freshUntil, NOW + 660_000, 'random 1: ttl × (1 + jitter)')
  t.equal(at(0.5).freshUntil, NOW + 600_000, 'random 0.5: ttl')
  for (const random of [0, 0.25, 0.5, 0.99, 1]) {
    const m = at(random)
    t.ok(m.freshUntil >= NOW + 540_000 && m.freshUntil <= NOW + 660_000, `random ${random} within the bounds`)
    t.equal(m.staleUntil, m.freshUntil + 30_000, 'staleUntil = freshUntil + staleMs')
  }
  t.equal(at(0, { ttlJitter: 0 }).freshUntil, NOW + 600_000, 'no jitter: exactly ttl')
  const noStale = at(1, { staleMs: 0 })
  t.equal(noStale.staleUntil, noStale.freshUntil, 'no stale window')
  t.equal(at(0, { ttlMs: 1000, ttlJitter: 0.5 }).freshUntil, NOW + 1000, 'never under one second')
})

t.test('the recording is not changed and the body is one copy of its chunks', async (t) => {
  const r = rec(200, [...SSE, 'date', 'x'], [chatChunk('a'), DONE])
  const headersBefore = [...r.headers]
  const e = ok(buildEntry(r, plan, NOW, 0.5))
  t.same(r.headers, headersBefore)
  t.equal(e.body.byteLength, r.bytes)
  t.equal(Buffer.from(e.body).toString(), r.chunks.map(String).join(''))
})
