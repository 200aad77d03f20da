import t from 'tap'
import { createBodyPipeline, bodyMode } from '../../../src/core/chain/body-pipeline.js'
import type { ResponseTransform, ResponseUnit } from '../../../src/core/chain/types.js'
import { ChaperoneError } from '../../../src/core/errors.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const sseHead = { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } }
const jsonHead = { status: 200, headers: { 'content-type': 'application/json' } }

const upper: ResponseTransform = {
  transform(u, emit) {
    if (u.kind === 'sse') emit({ kind: 'sse', event: { ...u.event, data: u.event.data.toUpperCase() } })
    else emit(u)
  },
  flush() {},
}

t.test('mode follows the content type', async (t) => {
  t.equal(bodyMode(sseHead), 'sse')
  t.equal(bodyMode(jsonHead), 'json')
  t.equal(bodyMode({ status: 200, headers: { 'content-type': 'text/plain' } }), 'raw')
  t.equal(bodyMode({ status: 204, headers: { 'content-type': 'application/json' } }), 'raw')
})

t.test('SSE: events are parsed once, transformed in order and re-serialized, across splits', async (t) => {
  const out: string[] = []
  // The second transform holds every event back until flush, proving emit order and flush.
  const held: ResponseUnit[] = []
  const holder: ResponseTransform = {
    transform(u) { held.push(u) },
    flush(emit) { for (const u of held) emit(u); emit({ kind: 'sse', event: { data: '[DONE]' } }) },
  }
  const p = createBodyPipeline(sseHead, [upper, holder], { maxEventBytes: 1024, maxJsonBodyBytes: 1024 }, (b) => out.push(dec.decode(b)))
  const wire = enc.encode('data: h€llo\n\ndata: wor\r\ndata: ld\r\n\r\n')
  for (let i = 0; i < wire.length; i += 3) await p.push(wire.slice(i, i + 3))
  t.same(out, [], 'nothing leaves before the holding transform releases it')
  await p.end()
  t.equal(out.join(''), 'data: H€LLO\n\ndata: WOR\ndata: LD\n\ndata: [DONE]\n\n')
})

t.test('SSE: an event over maxEventBytes fails the stream', async (t) => {
  const p = createBodyPipeline(sseHead, [upper], { maxEventBytes: 16, maxJsonBodyBytes: 1024 }, () => {})
  await t.rejects(p.push(enc.encode('data: ' + 'x'.repeat(64))))
})

t.test('JSON: the whole body is transformed once; oversize and non-JSON bodies are refused', async (t) => {
  const out: string[] = []
  const redact: ResponseTransform = {
    transform(u, emit) { emit(u.kind === 'json' ? { kind: 'json', body: { ...(u.body as object), secret: '***' } } : u) },
    flush() {},
  }
  const p = createBodyPipeline(jsonHead, [redact], { maxEventBytes: 16, maxJsonBodyBytes: 1024 }, (b) => out.push(dec.decode(b)))
  await p.push(enc.encode('{"a":1,"sec'))
  await p.push(enc.encode('ret":"hunter2"}'))
  t.same(out, [])
  await p.end()
  t.same(JSON.parse(out.join('')), { a: 1, secret: '***' })

  const big = createBodyPipeline(jsonHead, [redact], { maxEventBytes: 16, maxJsonBodyBytes: 8 }, () => {})
  const err = await big.push(enc.encode('{"a":"123456789"}')).catch((e: unknown) => e)
  t.ok(err instanceof ChaperoneError && err.code === 'upstream_error')

  const bad = createBodyPipeline(jsonHead, [redact], { maxEventBytes: 16, maxJsonBodyBytes: 64 }, () => {})
  await bad.push(enc.encode('not json'))
  await t.rejects(bad.end())
})

t.test('raw: bytes pass through untouched', async (t) => {
  const out: Uint8Array[] = []
  const p = createBodyPipeline({ status: 200, headers: { 'content-type': 'image/png' } }, [upper], { maxEventBytes: 4, maxJsonBodyBytes: 4 }, (b) => out.push(b))
  const bytes = Uint8Array.of(0, 255, 10, 13)
  await p.push(bytes)
  await p.end()
  t.same(Buffer.concat(out), Buffer.from(bytes))
})
