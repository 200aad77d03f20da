import t from 'tap'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { rawRequest } from '../helpers/raw-http.js'
import { chatChunk, DONE, startScriptedUpstream, type ScriptedUpstream, type Step } from '../helpers/scripted-upstream.js'
import { createSseParser } from '../../src/core/sse/parser.js'
import { eventually } from '../helpers/eventually.js'

// A term whose letter pairs never occur in the JSON scaffolding of a chat stream, so that any
// two adjacent letters of it on the wire are a leak.
const TERM = 'xqzjvbwk'
const BLOCK_MESSAGE = 'Stopped by policy.'

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: moderation }
spec:
  moderation:
    blockMessage: ${JSON.stringify(BLOCK_MESSAGE)}
    rules:
      - name: banned
        direction: response
        keywords: [${TERM}]
        action: block
      - name: contact
        pii: [email, credit_card]
        action: redact
`

interface Parsed {
  content: string
  finish: (string | null)[]
  done: boolean
  events: number
}

function parseChat(body: Buffer): Parsed {
  const p = createSseParser({ maxEventBytes: 1 << 20 })
  const events = [...p.push(body), ...p.end()]
  const out: Parsed = { content: '', finish: [], done: false, events: events.length }
  for (const ev of events) {
    if (ev.commentOnly) continue
    if (ev.data === '[DONE]') {
      out.done = true
      continue
    }
    const chunk = JSON.parse(ev.data) as { choices: { delta: { content?: string }; finish_reason: string | null }[] }
    for (const c of chunk.choices) {
      out.content += c.delta.content ?? ''
      if (c.finish_reason) out.finish.push(c.finish_reason)
    }
  }
  return out
}

function leaks(raw: Buffer): string[] {
  const text = raw.toString('latin1')
  const found: string[] = []
  for (let i = 0; i + 2 <= TERM.length; i++) if (text.includes(TERM.slice(i, i + 2))) found.push(TERM.slice(i, i + 2))
  return found
}

const request = (path = '/v1/chat/completions') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`

/** Every way of cutting `s` into `parts` non-empty pieces. */
function splits(s: string, parts: number): string[][] {
  if (parts === 1) return [[s]]
  const out: string[][] = []
  for (let i = 1; i <= s.length - parts + 1; i++) for (const rest of splits(s.slice(i), parts - 1)) out.push([s.slice(0, i), ...rest])
  return out
}

t.test('the hold-back invariant on raw socket bytes', async (t) => {
  let body: Step[] = []
  const upstream: ScriptedUpstream = await startScriptedUpstream(() => ({ body }))
  const stack: Stack = await startStack({ files: { 'policy.yaml': POLICY }, upstream: upstream.url })
  t.teardown(async () => {
    await stack.close()
    await upstream.close()
  })
  const base = stack.chaperone.proxyUrl

  t.test('a blocked term split across 2 and 3 events at every point never reaches the client', async (t) => {
    const cases = [...splits(TERM, 2), ...splits(TERM, 3)]
    t.equal(cases.length, 7 + 21)
    for (const pieces of cases) {
      pieces[0] = 'Hello ' + pieces[0]
      pieces[pieces.length - 1] += ' and then more text'
      body = [chatChunk('', { role: 'assistant' }), ...pieces.map((p) => chatChunk(p)), chatChunk(' tail'), chatChunk(null, { finish: 'stop' }), DONE]
      const res = await rawRequest(base, request())
      const label = pieces.join('|')
      t.equal(res.status, 200, label)
      t.same(leaks(res.raw), [], `no two adjacent letters of the term on the wire: ${label}`)
      const parsed = parseChat(res.body)
      t.equal(parsed.content, 'Hello ' + BLOCK_MESSAGE, `only text before the term, then the message: ${label}`)
      t.same(parsed.finish, ['content_filter'], label)
      t.ok(parsed.done, `[DONE] ends the stream: ${label}`)
    }
  })

  t.test('TCP writes that cut inside events (and inside the term) leak nothing', async (t) => {
    const wire = [chatChunk('', { role: 'assistant' }), chatChunk('Hello xqz'), chatChunk('jvb'), chatChunk('wk!'), chatChunk(null, { finish: 'stop' }), DONE].join('')
    for (const step of [1, 3, 7, 13]) {
      const pieces: Step[] = []
      for (let i = 0; i < wire.length; i += step) pieces.push(wire.slice(i, i + step))
      body = pieces
      const res = await rawRequest(base, request(), 20_000)
      t.same(leaks(res.raw), [], `writes of ${step} bytes`)
      t.equal(parseChat(res.body).content, 'Hello ' + BLOCK_MESSAGE, `writes of ${step} bytes`)
    }
  })

  t.test('a block aborts the upstream request', async (t) => {
    const before = upstream.aborted()
    body = [chatChunk('Hello ' + TERM), { pause: 2000 }, chatChunk('never sent'), DONE]
    const started = Date.now()
    const res = await rawRequest(base, request())
    t.ok(Date.now() - started < 1500, 'the client does not wait for the upstream to finish')
    t.equal(parseChat(res.body).content, 'Hello ' + BLOCK_MESSAGE)
    t.ok(await eventually(() => upstream.aborted() > before), 'the upstream request is cut')
  })

  t.test('redaction across five events masks exactly the e-mail and the card', async (t) => {
    body = [
      chatChunk('Mail jo'),
      chatChunk('hn.doe@exa'),
      chatChunk('mple.com, card 4111 11'),
      chatChunk('11 1111 '),
      chatChunk('1111 thanks'),
      chatChunk(null, { finish: 'stop' }),
      DONE,
    ]
    const res = await rawRequest(base, request())
    const parsed = parseChat(res.body)
    t.equal(parsed.content, 'Mail [REDACTED:EMAIL], card [REDACTED:CREDIT_CARD] thanks')
    t.same(parsed.finish, ['stop'])
    t.notMatch(res.raw.toString('latin1'), /john|doe@|4111/, 'nothing of the originals on the wire')
  })

  t.test('comment and id lines cannot carry the term past the filter', async (t) => {
    body = [`: ${TERM} in a comment\n\n`, chatChunk('Hello'), `id: ${TERM}\ndata: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: ' there' }, finish_reason: null }] })}\n\n`, DONE]
    const res = await rawRequest(base, request())
    t.same(leaks(res.raw), [])
  })

  t.test('UTF-8 split at every byte and JSON escapes come out intact', async (t) => {
    const text = 'Grüße 👋🏽 日本語 \u0062ack'
    const events = [chatChunk(text.slice(0, 8)), `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\\ud83d"},"finish_reason":null}]}\n\n`, `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\\ude00 \\u0062"},"finish_reason":null}]}\n\n`, chatChunk(text.slice(8)), DONE]
    const bytes = Buffer.from(events.join(''))
    const pieces: Step[] = []
    for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1))
    body = pieces
    const res = await rawRequest(base, request(), 30_000)
    t.equal(parseChat(res.body).content, text.slice(0, 8) + '😀 b' + text.slice(8))
  })

  t.test('a 10 MB data line is bounded and refused', async (t) => {
    const line = 'data: ' + 'a'.repeat(10 * 1024 * 1024)
    body = [chatChunk('Hello'), line.slice(0, 5_000_000), line.slice(5_000_000), '\n\n', DONE]
    const res = await rawRequest(base, request(), 30_000).catch((e: Error) => e)
    if (res instanceof Error) return t.pass('the connection was cut')
    t.ok(res.raw.length < 2 * 1024 * 1024, `the client got ${res.raw.length} bytes, not the line`)
    t.notOk(parseChat(res.body).done, 'the response is not passed off as complete')
  })

  t.test('an upstream reset mid-stream cuts the client without releasing held text', async (t) => {
    body = [chatChunk('Hello xqzj'), { reset: true }]
    const res = await rawRequest(base, request()).catch((e: Error) => e)
    if (res instanceof Error) return t.pass('cut')
    t.same(leaks(res.raw), [])
    t.notOk(parseChat(res.body).done)
  })

  t.test('invalid JSON in data: ends cleanly and carries no term', async (t) => {
    body = [chatChunk('Hello'), `data: {"choices": [${TERM}\n\n`, chatChunk(' world'), DONE]
    const res = await rawRequest(base, request())
    t.same(leaks(res.raw), [])
  })

  t.test('a client that disconnects mid-stream aborts the upstream', async (t) => {
    const before = upstream.aborted()
    body = [chatChunk('Hello'), { pause: 5000 }, DONE]
    await rawRequest(base, request(), 300).catch(() => {})
    t.ok(await eventually(() => upstream.aborted() > before), 'the upstream request is cut')
  })
})
