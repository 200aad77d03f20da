/**
 * Traces end to end: a real client through a real Chaperone whose spans go to an in-process
 * OTLP/HTTP receiver; the chatbot stand-in records the trace context it was sent.
 */
import t, { type Test } from 'tap'
import OpenAI from 'openai'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { startLlmUpstream, type LlmUpstream } from '../helpers/llm-upstream.js'
import { chatChunk, DONE } from '../helpers/scripted-upstream.js'
import { hmacToken } from '../helpers/jwt.js'
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { tracesConfigSchema } from '../../src/core/telemetry/config-schema.js'
import { classifierTraces, filterTraces, requestTraces, upstreamTraces } from '../../src/core/telemetry/channels.js'
import type { ProcessConfig } from '../../src/core/config/process-schema.js'

const SECRET = 'telemetry-test-hmac-secret-0123456789'
const ISSUER = 'https://issuer.test/'
const USER_ID = 'user-7f3a9c2e41'
const PROMPT = 'Tell me about the quokka-lighthouse-4471 please'
const ANSWER = 'Quokkas are marsupials of Rottnest. '

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: traced }
spec:
  identity:
    jwt:
      issuers:
        - { issuer: '${ISSUER}', audiences: [chatbot], algorithms: [HS256], hmacSecretFile: hmac.secret }
    anonymous: { role: guest }
  roles: { guest: {} }
  access:
    - name: everyone
      allow: { roles: [guest] }
  rateLimits:
    - name: per-user
      key: [subject]
      rate: 100/minute
  moderation:
    rules:
      - name: no-zorglub
        keywords: [zorglub]
        action: block
`

const withTraces = (endpoint: string | null) => (c: ProcessConfig): ProcessConfig => ({ ...c, telemetry: { ...c.telemetry, traces: tracesConfigSchema.parse({ endpoint }) } })

const anyTraceChannelSubscribed = () => [requestTraces, filterTraces, upstreamTraces, classifierTraces].some((c) => c.hasSubscribers)

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const CLIENT_TRACEPARENT = `00-${TRACE_ID}-${CLIENT_SPAN}-01`

async function startUpstream(): Promise<LlmUpstream> {
  return startLlmUpstream(() => ({ chunks: [chatChunk(ANSWER, { role: 'assistant' }), chatChunk('Bye.'), chatChunk(null, { finish: 'stop' }), DONE] }))
}

async function tracedStack(t: Test, upstream: LlmUpstream, endpoint: string | null): Promise<Stack> {
  const stack = await startStack({ files: { 'policy.yaml': POLICY, 'hmac.secret': SECRET }, upstream: upstream.url, adjust: withTraces(endpoint) })
  let closed = false
  t.teardown(() => (closed ? undefined : stack.close()))
  return {
    ...stack,
    async close() {
      closed = true
      await stack.close()
    },
  }
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId)

t.test('traces: span tree, W3C propagation to the chatbot, no PII', async (t) => {
  const receiver: OtlpReceiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const stack = await tracedStack(t, upstream, receiver.url)
  t.ok(anyTraceChannelSubscribed(), 'the adapter subscribed')

  const token = await hmacToken(SECRET, ISSUER, USER_ID, { roles: ['guest'] })
  const client = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: token, maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'demo', stream: true, messages: [{ role: 'user', content: PROMPT }] })
  let text = ''
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
  t.equal(text, `${ANSWER}Bye.`, 'the answer streams through')

  // A client that is itself traced: its span becomes the request span's parent.
  const res = await fetch(`${stack.chaperone.proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=opaque-1' },
    body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: PROMPT }] }),
  })
  await res.text()
  t.equal(res.status, 200)

  // A refusal is a request too: its span says which filter answered.
  const refused = await fetch(`${stack.chaperone.proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'say zorglub' }] }),
  })
  await refused.text()
  t.equal(refused.status, 400)

  // Stopping exports what the batch processor holds.
  await stack.close()
  t.notOk(anyTraceChannelSubscribed(), 'stopping unsubscribes')
  const spans = receiver.spans
  t.ok(receiver.contentTypes.every((c) => c.startsWith('application/json')), 'OTLP/HTTP JSON')

  const requests = spans.filter((s) => s.kind === SPAN_KIND.server)
  t.equal(requests.length, 3, 'one server span per request')
  for (const r of requests) {
    t.equal(r.name, 'POST /v1/chat/completions')
    t.equal(r.attributes['http.request.method'], 'POST')
    t.equal(r.attributes['http.route'], '/v1/chat/completions')
    t.equal(r.attributes['chaperone.policy.version'], stack.chaperone.store.current()?.version)
    t.match(r.attributes['chaperone.request.id'], /^[0-9a-f-]{36}$/)
    t.equal(r.resource['service.name'], 'chaperone')
  }

  const [first, second, third] = requests.sort((a, b) => Number(a.attributes['http.response.status_code']) - Number(b.attributes['http.response.status_code']) || (a.parentSpanId ? 1 : -1))
  t.equal(first!.parentSpanId, undefined, 'without a client traceparent the request span is a root')
  t.equal(first!.attributes['http.response.status_code'], 200)

  t.test('the request span has filter spans and an upstream span under it', async (t) => {
    const kids = childrenOf(spans, first!)
    const names = kids.map((s) => s.name)
    for (const n of ['authz onRequest', 'rateLimits onRequest', 'moderation onRequest', 'moderation responseTransform']) t.ok(names.includes(n), `${n} span`)
    for (const k of kids.filter((s) => s.name.endsWith(' onRequest'))) {
      t.equal(k.kind, SPAN_KIND.internal)
      t.equal(k.attributes['chaperone.filter.verdict'], 'continue')
    }
    const transform = kids.find((s) => s.name === 'moderation responseTransform')!
    t.equal(transform.attributes['chaperone.filter.finished'], true)
    t.ok(Number(transform.attributes['chaperone.filter.units']) >= 3, 'it saw the SSE events')
    const up = kids.filter((s) => s.kind === SPAN_KIND.client)
    t.equal(up.length, 1, 'one upstream span')
    t.equal(up[0]!.name, 'POST')
    t.equal(up[0]!.attributes['http.response.status_code'], 200)
    t.equal(up[0]!.attributes['server.address'], '127.0.0.1')
    t.ok(kids.some((s) => s.name === 'rateLimits onResponseHead'), 'response head hooks are traced')

    const sent = upstream.requests[0]!.headers.traceparent
    t.equal(sent, `00-${first!.traceId}-${up[0]!.spanId}-01`, "the chatbot's traceparent: this trace, parented by the upstream span")
  })

  t.test("a client's traceparent parents the request span, and the chatbot gets the proxy's", async (t) => {
    t.equal(second!.traceId, TRACE_ID)
    t.equal(second!.parentSpanId, CLIENT_SPAN)
    const up = childrenOf(spans, second!).find((s) => s.kind === SPAN_KIND.client)!
    t.ok(up, 'upstream span in the same trace')
    const received = upstream.requests[1]!.headers
    t.equal(received.traceparent, `00-${TRACE_ID}-${up.spanId}-01`, 'same trace, the upstream span as parent')
    t.equal(received.tracestate, 'vendor=opaque-1', 'tracestate carried along')
  })

  t.test('a refusal: the filter that answered says so, and nothing went upstream', async (t) => {
    t.equal(third!.attributes['http.response.status_code'], 400)
    t.equal(third!.attributes['chaperone.outcome'], 'refused')
    const kids = childrenOf(spans, third!)
    const mod = kids.find((s) => s.name === 'moderation onRequest')!
    t.equal(mod.attributes['chaperone.filter.verdict'], 'error')
    t.equal(mod.attributes['chaperone.filter.code'], third!.attributes['chaperone.outcome.code'])
    t.notOk(kids.some((s) => s.kind === SPAN_KIND.client), 'no upstream span')
    t.equal(upstream.requests.length, 2)
  })

  t.test('no exported attribute holds the prompt, the answer, the token or the user id', async (t) => {
    const forbidden = [PROMPT, 'quokka-lighthouse', ANSWER.trim(), 'zorglub', token, token.split('.')[1]!, USER_ID]
    const values = spans.flatMap((s) => [s.name, ...Object.values(s.attributes).map(String), s.status.message ?? ''])
    t.ok(values.length > 50, 'there are attributes to scan')
    for (const f of forbidden) t.notOk(values.some((v) => v.includes(f)), `no attribute contains ${f.slice(0, 24)}…`)
    // Whatever else the exporter sends (resource, scope, events) is clean too.
    for (const f of forbidden) t.notOk(receiver.bodies.some((b) => b.includes(f)), `no export body contains ${f.slice(0, 24)}…`)
  })
})

t.test('traces off: nothing subscribes, and the client trace context reaches the chatbot untouched', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const stack = await tracedStack(t, upstream, null)
  t.notOk(anyTraceChannelSubscribed(), 'no subscriber on any trace channel: no span objects, no trace messages')
  const res = await fetch(`${stack.chaperone.proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=opaque-1' },
    body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: PROMPT }] }),
  })
  await res.text()
  t.equal(res.status, 200)
  t.equal(upstream.requests[0]!.headers.traceparent, CLIENT_TRACEPARENT)
  t.equal(upstream.requests[0]!.headers.tracestate, 'vendor=opaque-1')
})

t.test('a collector that is away: the request is served, and the failed export is logged once', async (t) => {
  const gone = await startOtlpReceiver()
  await gone.close()
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const stack = await tracedStack(t, upstream, gone.url)
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${stack.chaperone.proxyUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: PROMPT }] }) })
    await res.text()
    t.equal(res.status, 200)
  }
  await stack.close()
  const failures = stack.logs.lines.filter((l) => l.msg === 'trace export failed; spans dropped until the collector answers')
  t.equal(failures.length, 1, 'one warning, however many exports fail')
  t.equal(failures[0]?.endpoint, gone.url)
  t.notMatch(stack.logs.text(), PROMPT)
})

