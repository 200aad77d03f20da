import t from 'tap'
import { createStreamCodec, responseBodyCodec } from '../../../src/core/formats/index.js'
import type { FormatName } from '../../../src/core/formats/index.js'
import { mulberry32 } from '../../helpers/prng.js'
import { ANSWER_CHANNEL, bodyOf, clientText, fixture, FORMATS, openaiClientFor, splitText, streamOf } from '../../helpers/parity.js'

/** The helpers moderation tests rely on: a stream and a body of one text carry the same text. */

const SAMPLES = ['', 'a', 'Hello, world.', 'Call 555-0100 or mail jane@example.com', 'Grüße aus 東京 😀 — ok?', 'line one\nline two\r\n\ttab', '"quotes" and \\backslashes\\']

function randomText(seed: number): string {
  const rnd = mulberry32(seed)
  const alphabet = ['a', 'b', ' ', '.', '4', '@', 'é', '東', '😀', '\n', '"', '\\', '\u200b']
  return Array.from({ length: Math.floor(rnd() * 60) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('')
}

function streamed(format: FormatName, text: string, seed: number): string {
  const codec = createStreamCodec()
  return streamOf(format, text, { seed })
    .flatMap((e) => codec.extract(e))
    .filter((s) => s.kind === 'delta' && s.channel === ANSWER_CHANNEL[format])
    .map((s) => s.text)
    .join('')
}

t.test('splitText keeps code points whole unless asked, and loses nothing', async (t) => {
  const text = '😀a😀bc😀'
  for (let seed = 1; seed <= 30; seed++) {
    const pieces = splitText(text, { seed, maxPiece: 2 })
    t.equal(pieces.join(''), text)
    t.ok(pieces.every((p) => !/[\ud800-\udbff]$/.test(p)), 'no piece ends in a high surrogate')
  }
  const split = Array.from({ length: 30 }, (_, i) => splitText(text, { seed: i + 1, maxPiece: 1, splitPairs: true }))
  t.ok(split.some((pieces) => pieces.some((p) => /^[\udc00-\udfff]/.test(p))), 'with splitPairs, halves are separate pieces')
})

t.test('streamed and non-streamed carry the same text, in every format', async (t) => {
  const texts = [...SAMPLES, ...Array.from({ length: 40 }, (_, i) => randomText(i + 1))]
  for (const format of FORMATS) {
    texts.forEach((text, i) => {
      const events = streamOf(format, text, { seed: i + 1 })
      t.equal(clientText(format, events), text, `${format} #${i}: client text`)
      t.equal(streamed(format, text, i + 1), text, `${format} #${i}: streamed slots`)
      if (format === 'plain') return
      const body = bodyOf(format, text)
      const slots = responseBodyCodec(body)!.extract(body)
      t.same(slots.map((s) => s.text).join(''), text, `${format} #${i}: body slots`)
    })
  }
})

t.test('whole texts of done events equal their deltas (fixtures and helpers)', async (t) => {
  for (const events of [fixture('openai-responses.sse'), fixture('openai-responses-tools.sse'), streamOf('openai-responses', 'Same text twice', { seed: 2 })]) {
    const codec = createStreamCodec()
    const deltas = new Map<string, string>()
    for (const e of events) {
      for (const s of codec.extract(e)) {
        if (s.kind === 'delta') deltas.set(s.channel, (deltas.get(s.channel) ?? '') + s.text)
        else if (deltas.has(s.channel)) t.equal(s.text, deltas.get(s.channel), `${s.channel}: whole = deltas`)
      }
    }
  }
})

t.test('the SDK reads the helper stream and body as the same answer', async (t) => {
  const text = 'Grüße aus 東京 😀 — call 555-0100'
  const stream = await openaiClientFor(streamOf('openai-chat', text, { seed: 5 })).chat.completions.stream({ model: 'm', messages: [] }).finalChatCompletion()
  t.equal(stream.choices[0]!.message.content, text)
  const r = await openaiClientFor(streamOf('openai-responses', text, { seed: 5 })).responses.stream({ model: 'm', input: 'x' }).finalResponse()
  t.equal(r.output_text, text)
})
