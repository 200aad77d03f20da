import t from 'tap'
import { responseComplete } from '../../../src/core/cache/completeness.js'
import { createBoundaryFinder } from '../../../src/core/cache/sse-boundaries.js'

type Asserts = Pick<typeof t, 'equal'>

const enc = new TextEncoder()
const SSE = 'text/event-stream; charset=utf-8'
const OK = { ok: true }
const INCOMPLETE = { ok: false, reason: 'incomplete' }
const ERROR = { ok: false, reason: 'error_event' }

const data = (o: unknown): string => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`
const named = (event: string, o: unknown): string => `event: ${event}\n${data(o)}`

/** The boundaries the recorder would pass along with the body. */
function endsOf(body: Uint8Array): number[] {
  const f = createBoundaryFinder()
  return [...f.push(body), ...f.end()]
}

function sse(body: string, ends?: readonly number[] | 'computed') {
  const bytes = enc.encode(body)
  return responseComplete(SSE, bytes, ends === 'computed' ? endsOf(bytes) : ends)
}

const chunk = (delta: object, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: finish }],
})
const CHAT = data(chunk({ role: 'assistant', content: '' })) + data(chunk({ content: 'Hello' })) + data(chunk({ content: ' world' })) + data(chunk({}, 'stop'))
const CHAT_DONE = CHAT + data('[DONE]')

const completion = (text: string, finish: string | null = null) => ({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'gpt-3.5-turbo-instruct', choices: [{ index: 0, text, finish_reason: finish }] })
const COMPLETIONS = data(completion('Hello')) + data(completion(' there', 'stop'))

const response = (status: string, extra: object = {}) => ({ id: 'resp_1', object: 'response', status, error: null, incomplete_details: null, output: [], ...extra })
const RESPONSES_HEAD =
  named('response.created', { type: 'response.created', sequence_number: 0, response: response('in_progress') }) +
  named('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' })
const RESPONSES = RESPONSES_HEAD + named('response.completed', { type: 'response.completed', sequence_number: 2, response: response('completed') })

const ANTHROPIC_HEAD =
  named('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4', stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } }) +
  named('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
  named('ping', { type: 'ping' }) +
  named('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }) +
  named('content_block_stop', { type: 'content_block_stop', index: 0 }) +
  named('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } })
const ANTHROPIC = ANTHROPIC_HEAD + named('message_stop', { type: 'message_stop' })

/** Every proper prefix of a finished stream is unfinished: cut inside an event, or before its last one. */
function everyPrefixIncomplete(t: Asserts, body: string): void {
  const bytes = enc.encode(body)
  let bad = 0
  for (let n = 0; n < bytes.length; n++) {
    const prefix = bytes.subarray(0, n)
    const r1 = responseComplete(SSE, prefix, undefined)
    const r2 = responseComplete(SSE, prefix, endsOf(prefix))
    if (r1.ok || r1.reason !== 'incomplete' || r2.ok || r2.reason !== 'incomplete') bad++
  }
  t.equal(bad, 0, `all ${bytes.length} proper prefixes are incomplete`)
}

t.test('OpenAI chat streams', async (t) => {
  t.same(sse(CHAT_DONE), OK, 'finished with [DONE]')
  t.same(sse(CHAT_DONE, 'computed'), OK, 'with the recorder boundaries')
  t.same(sse(CHAT_DONE.replaceAll('\n', '\r\n'), 'computed'), OK, 'CRLF endings')
  t.same(sse(CHAT), INCOMPLETE, 'a finish_reason is not the end: [DONE] is')
  everyPrefixIncomplete(t, CHAT_DONE)
  t.same(sse(data(chunk({ content: 'Hel' })) + data({ error: { message: 'The server had an error', type: 'server_error' } })), ERROR, 'an error chunk mid-stream')
  t.same(sse(CHAT + data({ error: { message: 'x' } }) + data('[DONE]')), ERROR, 'an error chunk even before [DONE]')
  t.same(sse(CHAT + 'event: error\ndata: oops\n\n' + data('[DONE]')), ERROR, 'an SSE event named error')
  t.same(sse(': keep-alive\n\n' + CHAT_DONE), OK, 'comments are not events')
})

t.test('OpenAI completions streams', async (t) => {
  t.same(sse(COMPLETIONS + data('[DONE]')), OK)
  t.same(sse(COMPLETIONS), INCOMPLETE)
  everyPrefixIncomplete(t, COMPLETIONS + data('[DONE]'))
})

t.test('OpenAI Responses streams', async (t) => {
  t.same(sse(RESPONSES), OK, 'finished with response.completed')
  t.same(sse(RESPONSES_HEAD), INCOMPLETE, 'no response.completed')
  everyPrefixIncomplete(t, RESPONSES)
  t.same(sse(RESPONSES_HEAD + named('response.failed', { type: 'response.failed', sequence_number: 2, response: response('failed', { error: { code: 'server_error', message: 'x' } }) })), ERROR)
  t.same(sse(RESPONSES_HEAD + named('response.incomplete', { type: 'response.incomplete', sequence_number: 2, response: response('incomplete', { incomplete_details: { reason: 'max_output_tokens' } }) })), INCOMPLETE)
  t.same(sse(RESPONSES_HEAD + named('error', { type: 'error', code: 'server_error', message: 'The server had an error', sequence_number: 2 })), ERROR, 'an error event')
  t.same(sse(RESPONSES_HEAD + data({ type: 'error', code: 'x', message: 'y' }) + named('response.completed', { type: 'response.completed', response: response('completed') })), ERROR, 'an error typed event without an event name')
})

t.test('Anthropic streams', async (t) => {
  t.same(sse(ANTHROPIC), OK, 'finished with message_stop')
  t.same(sse(ANTHROPIC, 'computed'), OK)
  t.same(sse(ANTHROPIC_HEAD), INCOMPLETE, 'message_delta with a stop reason is not the end: message_stop is')
  everyPrefixIncomplete(t, ANTHROPIC)
  t.same(sse(ANTHROPIC_HEAD + named('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })), ERROR)
  t.same(sse(ANTHROPIC_HEAD + named('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }) + named('message_stop', { type: 'message_stop' })), ERROR, 'even followed by message_stop')
})

t.test('SSE of unknown format', async (t) => {
  t.same(sse('data: hello\n\ndata: world\n\n'), OK, 'needs only to end on a boundary')
  t.same(sse('data: hello\n\ndata: wor'), INCOMPLETE)
  t.same(sse('data: hello\n\ndata: world\n'), INCOMPLETE, 'one line ending short')
  t.same(sse('data: hello\r\r'), OK, 'a CR blank line at the very end')
  t.same(sse('data: {"not":"known"}\n\n'), OK, 'JSON of no known format')
  t.same(sse('data: {"error":"quota"}\n\n'), ERROR, 'a top-level error in any JSON event')
  t.same(sse('data: {"error":null,"x":1}\n\n'), OK, 'a null error is no error')
  t.same(sse(''), INCOMPLETE, 'an empty stream answers nothing')
  t.same(sse(': ping\n\n: ping\n\n'), INCOMPLETE, 'nor does one of keep-alives only')
})

t.test('the recorder boundaries must match the body', async (t) => {
  const body = enc.encode('data: a\n\ndata: b\n\n')
  t.same(responseComplete(SSE, body, [9, 18]), OK)
  t.same(responseComplete(SSE, body, [9]), INCOMPLETE, 'the last boundary is not the end')
  t.same(responseComplete(SSE, body, []), INCOMPLETE, 'no boundary in a non-empty body')
  t.same(responseComplete(SSE, body, [18, 9]), INCOMPLETE, 'not ascending')
  t.same(responseComplete(SSE, body, [9, 19]), INCOMPLETE, 'past the body')
  t.same(responseComplete(SSE, body, [0, 18]), INCOMPLETE, 'zero')
  t.same(responseComplete(SSE, body, [9.5, 18]), INCOMPLETE, 'not an integer')
  const cut = enc.encode('data: a\n\ndata: b')
  t.same(responseComplete(SSE, cut, [cut.length]), INCOMPLETE, 'the body itself is read: a wrong end is caught')
})

t.test('JSON answers', async (t) => {
  const answer = { id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }] }
  const body = enc.encode(JSON.stringify(answer))
  for (const ct of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', ' application/json ', 'application/problem+json', 'application/vnd.api+json; x=1']) {
    t.same(responseComplete(ct, body, undefined), OK, ct)
  }
  let bad = 0
  for (let n = 0; n < body.length; n++) if (responseComplete('application/json', body.subarray(0, n), undefined).ok) bad++
  t.equal(bad, 0, 'every truncation is incomplete')
  const json = (o: unknown) => responseComplete('application/json', enc.encode(JSON.stringify(o)), undefined)
  t.same(json({ error: { message: 'Rate limit', type: 'rate_limit_error' } }), ERROR, 'OpenAI error')
  t.same(json({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), ERROR, 'Anthropic error')
  t.same(json({ error: 'x' }), ERROR, 'a string error')
  t.same(json(response('completed')), OK, 'a Responses body with "error": null')
  t.same(json(response('failed', { error: { code: 'server_error' } })), ERROR, 'a failed response')
  t.same(json({ ...response('failed'), error: null }), ERROR, 'failed even without an error object')
  for (const s of ['incomplete', 'in_progress', 'queued', 'cancelled']) t.same(json(response(s)), INCOMPLETE, `a ${s} response`)
  t.same(json({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn' }), OK, 'an Anthropic message')
  t.same(json([1, 2]), OK, 'not an object')
  t.same(json('text'), OK, 'a JSON string')
  t.same(responseComplete('application/json', enc.encode(''), undefined), INCOMPLETE, 'empty')
  t.same(responseComplete('application/json', enc.encode('{"a":1} x'), undefined), INCOMPLETE, 'trailing junk')
  t.same(responseComplete('application/json', enc.encode(' {"a":1}\n'), undefined), OK, 'surrounding whitespace')
})

t.test('other content types are complete as the transport delivered them', async (t) => {
  t.same(responseComplete('text/plain', enc.encode('{"error": 1'), undefined), OK)
  t.same(responseComplete('application/octet-stream', Uint8Array.of(0, 1, 2), undefined), OK)
  t.same(responseComplete('', enc.encode('data: x'), undefined), OK)
  t.same(responseComplete('text/event-streams', enc.encode('data: x'), undefined), OK, 'not SSE')
})
