/**
 * Spans of what a filter calls: Redis commands (through ioredis' own trace channel) against a real
 * redis-server, and classifier calls published through the classifier channel helper.
 */
import t from 'tap'
import { startStack } from '../helpers/chaperone.js'
import { startLlmUpstream } from '../helpers/llm-upstream.js'
import { chatChunk, DONE } from '../helpers/scripted-upstream.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { SPAN_KIND, startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { tracesConfigSchema } from '../../src/core/telemetry/config-schema.js'
import { classifierTraces, traceClassifierCall } from '../../src/core/telemetry/channels.js'
import type { Classifier, ClassifierScores } from '../../src/core/ports.js'

const PROMPT = 'what is the capital of the moon-colony-8812'
const ANSWER = 'Tranquility base, mostly.'

const ask = (proxyUrl: string, content = PROMPT) =>
  fetch(`${proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', stream: true, temperature: 0, messages: [{ role: 'user', content }] }),
  }).then(async (r) => ({ status: r.status, text: await r.text() }))

const parentOf = (spans: ReceivedSpan[], s: ReceivedSpan) => spans.find((p) => p.spanId === s.parentSpanId && p.traceId === s.traceId)

t.test('Redis commands of a request are spans under the filter that sent them', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const upstream = await startLlmUpstream(() => ({ chunks: [chatChunk(ANSWER, { role: 'assistant' }), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => upstream.close())
  const stack = await startStack({
    files: {
      'policy.yaml': `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: redis-traced }
spec:
  rateLimits:
    - name: per-ip
      key: [ip]
      rate: 100/minute
  cache:
    routes:
      - name: chat
        match: { paths: [/v1/chat/completions] }
        scope: shared
        ttl: 10m
`,
    },
    upstream: upstream.url,
    adjust: (c) => ({
      ...c,
      redis: { ...c.redis, url: redis.url },
      rateLimits: { ...c.rateLimits, commandTimeoutMs: 1000 },
      cache: { ...c.cache, commandTimeoutMs: 1000 },
      telemetry: { ...c.telemetry, traces: tracesConfigSchema.parse({ endpoint: receiver.url }) },
    }),
  })
  const first = await ask(stack.chaperone.proxyUrl)
  t.equal(first.status, 200)
  t.match(first.text, ANSWER)
  await stack.close()

  const spans = receiver.spans
  const request = spans.find((s) => s.kind === SPAN_KIND.server)!
  t.ok(request, 'a request span')
  const redisSpans = spans.filter((s) => s.attributes['db.system.name'] === 'redis')
  t.ok(redisSpans.length > 0, 'Redis commands were traced')
  for (const s of redisSpans) {
    t.equal(s.kind, SPAN_KIND.client)
    t.equal(s.traceId, request.traceId, `${s.name} belongs to the request's trace`)
    t.equal(s.name, s.attributes['db.operation.name'])
    t.equal(s.attributes['server.port'], redis.port)
    t.same(Object.keys(s.attributes).sort(), ['chaperone.redis.connection', 'db.namespace', 'db.operation.name', 'db.system.name', 'server.address', 'server.port'], 'the command name and where it went: never keys or arguments')
  }
  const under = (filter: string) => redisSpans.filter((s) => parentOf(spans, s)?.name === filter)
  t.ok(under('rateLimits onRequest').length > 0, 'the rate limit check is under the rateLimits filter span')
  t.ok(under('rateLimits onRequest').every((s) => s.attributes['chaperone.redis.connection'] === 'chaperone-ratelimit'), 'on the rate limiter connection')
  t.ok(under('cache onRequest').some((s) => s.name === 'HGET' && s.attributes['chaperone.redis.connection'] === 'chaperone-cache'), 'the cache lookup is under the cache filter span')
  t.ok(redisSpans.every((s) => parentOf(spans, s) !== undefined), 'every Redis span has a parent in the trace')

  const values = spans.flatMap((s) => [s.name, ...Object.values(s.attributes).map(String)])
  for (const f of [PROMPT, ANSWER, '{chaperone}']) t.notOk(values.some((v) => v.includes(f)), `no attribute contains ${f}`)

  // Background Redis work (revocation polling, heartbeats) starts no traces of its own.
  t.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace: the request')
})

t.test('classifier calls are spans under the hook that waited for them', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const upstream = await startLlmUpstream(() => ({ chunks: [chatChunk('A calm answer. ', { role: 'assistant' }), chatChunk('Nothing awful.'), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => upstream.close())
  // A stand-in for the ONNX adapter, publishing its batch runs the way the real ones do.
  let calls = 0
  const run = async (texts: readonly string[]): Promise<readonly ClassifierScores[]> => {
    calls++
    await new Promise((r) => setTimeout(r, 2))
    return texts.map((x) => ({ hate: x.includes('awful') ? 0.9 : 0.01 }))
  }
  const tox: Classifier = {
    name: 'tox',
    classify: (texts) => (classifierTraces.hasSubscribers ? traceClassifierCall({ classifier: 'tox', mode: 'local', batchSize: texts.length }, () => run(texts)) : run(texts)),
  }
  const stack = await startStack({
    files: {
      'policy.yaml': `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: classifier-traced }
spec:
  moderation:
    rules:
      - name: tox
        direction: both
        classifier: { name: tox, thresholds: { hate: 0.8 }, mode: inline }
        action: block
`,
    },
    upstream: upstream.url,
    classifiers: new Map([['tox', tox]]),
    adjust: (c) => ({ ...c, telemetry: { ...c.telemetry, traces: tracesConfigSchema.parse({ endpoint: receiver.url }) } }),
  })
  const r = await ask(stack.chaperone.proxyUrl)
  t.equal(r.status, 200)
  t.match(r.text, 'A calm answer.')
  t.notMatch(r.text, 'awful', 'the classifier verdict applied')
  await stack.close()
  t.ok(calls >= 2, 'the classifier ran on the prompt and on the answer')

  const spans = receiver.spans
  const cls = spans.filter((s) => s.name === 'classifier tox')
  t.equal(cls.length, calls, 'one span per classifier call')
  for (const s of cls) {
    t.equal(s.kind, SPAN_KIND.internal, 'a local model run')
    t.equal(s.attributes['chaperone.classifier.mode'], 'local')
    t.ok(Number(s.attributes['chaperone.classifier.batch_size']) >= 1)
  }
  const parents = cls.map((s) => parentOf(spans, s)?.name)
  t.ok(parents.includes('moderation onRequest'), 'the prompt check is under the request hook')
  t.ok(parents.includes('moderation responseTransform'), 'the answer check is under the response transform')
  const values = spans.flatMap((s) => [s.name, ...Object.values(s.attributes).map(String)])
  for (const f of [PROMPT, 'calm answer', 'awful']) t.notOk(values.some((v) => v.includes(f)), `no attribute contains ${f}`)
})
