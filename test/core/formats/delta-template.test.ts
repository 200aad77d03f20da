import t from 'tap'
import { DeltaTemplate, spliceDelta, TemplateCache } from '../../../src/core/formats/delta-template.js'
import { createStreamCodec } from '../../../src/core/formats/index.js'
import { extractDeltas } from '../../../src/core/formats/openai-chat.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { mulberry32 } from '../../helpers/prng.js'

const noop = () => {}
const chunk = (content: string, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 5,
  model: 'm',
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
  ...extra,
})
const TEXT_PATH = ['choices', 0, 'delta', 'content']

t.test('a template is built only from canonical JSON', async (t) => {
  const o = chunk('Hi')
  t.ok(DeltaTemplate.build(JSON.stringify(o), o, TEXT_PATH, [], 'c0:content', true, noop))
  t.equal(DeltaTemplate.build(JSON.stringify(o, null, 1), o, TEXT_PATH, [], 'c0:content', true, noop), undefined, 'spaced JSON')
  t.equal(DeltaTemplate.build(JSON.stringify(o).replace('"Hi"', '"H\\u0069"'), o, TEXT_PATH, [], 'c0:content', true, noop), undefined, 'an escape JSON.stringify would not write')
  t.equal(DeltaTemplate.build(JSON.stringify(o), o, ['choices', 3, 'delta', 'content'], [], 'c0:content', true, noop), undefined, 'a path that is not there')
  const marker = chunk('\u00010\u0001')
  t.equal(DeltaTemplate.build(JSON.stringify(marker), marker, ['model'], [], 'x', true, noop), undefined, 'a value that looks like a marker')
})

t.test('match: the same shape with another text, and nothing else', async (t) => {
  const o = chunk('Hi', { obfuscation: 'abc', n: 7 })
  const tpl = DeltaTemplate.build(JSON.stringify(o), o, TEXT_PATH, [{ path: ['obfuscation'], kind: 'string' }, { path: ['n'], kind: 'number' }], 'c0:content', true, noop)!
  const data = (content: string, ob = 'zz', n = 12) => JSON.stringify(chunk(content, { obfuscation: ob, n }))
  t.equal(tpl.match(data('there'))?.text, 'there')
  t.equal(tpl.match(data(''))?.text, '')
  t.equal(tpl.match(data('a "quoted" \\ back\nslash é 😀 \ud83d'))?.text, 'a "quoted" \\ back\nslash é 😀 \ud83d', 'escapes are decoded')
  t.equal(tpl.match(data('x').replace('"x"', '"\\u0078\\u00e9"'))?.text, 'xé', 'escapes another writer chose are decoded too')
  t.equal(tpl.match(data('x', 'other pad', 99999))?.seq, 99999)
  const miss = (d: string, why: string) => t.equal(tpl.match(d), undefined, why)
  miss(JSON.stringify(chunk('x', { obfuscation: 'z', n: 1, more: 1 })), 'an extra key')
  miss(JSON.stringify({ ...chunk('x', { obfuscation: 'z', n: 1 }), created: 6 }), 'another fixed value')
  miss(data('x').replace('"content":"x"', '"content":"x","role":"assistant"'), 'text followed by more fields')
  miss(data('x').replace('"content":"x"', '"content":"x\\"'), 'an escaped closing quote')
  miss(data('x').replace('"x"', '"a\u0001b"'), 'a raw control character')
  miss(data('x').replace('"x"', '"\\q"'), 'an invalid escape')
  miss(data('x', 'z', 1).replace('"n":1', '"n":-1'), 'a negative number')
  miss(data('x', 'z', 1).replace('"n":1', '"n":1.5'), 'a fraction')
  miss(data('x', 'z', 1).replace('"n":1', '"n":12345678901234567'), 'a number too long')
  miss(data('x', 'z', 1).replace('"n":1', '"n":"1"'), 'a string where the number was')
  miss(data('x') + ' ', 'trailing bytes')
  miss(data('x').slice(0, -1), 'truncated')
  miss('', 'empty')
})

t.test('splice writes text and number back, escaped', async (t) => {
  const o = { type: 'response.output_text.delta', sequence_number: 4, item_id: 'm', delta: 'Hi', logprobs: [] }
  const tpl = DeltaTemplate.build(JSON.stringify(o), o, ['delta'], [{ path: ['sequence_number'], kind: 'number' }], 'ch', true, noop)!
  const d = JSON.stringify({ ...o, sequence_number: 10, delta: 'there' })
  const m = tpl.match(d)!
  t.same(JSON.parse(spliceDelta(d, m, 'x"y\n\ud83d', 11)), { ...o, sequence_number: 11, delta: 'x"y\n\ud83d' })
  t.same(JSON.parse(spliceDelta(d, m, 'only text', undefined)), { ...o, sequence_number: 10, delta: 'only text' })
  t.same(JSON.parse(spliceDelta(d, m, undefined, 12)), { ...o, sequence_number: 12, delta: 'there' })
  t.equal(spliceDelta(d, m, undefined, undefined), d)
  const textFirst = { delta: 'a', sequence_number: 1 }
  const tpl2 = DeltaTemplate.build(JSON.stringify(textFirst), textFirst, ['delta'], [{ path: ['sequence_number'], kind: 'number' }], 'ch', true, noop)!
  const d2 = JSON.stringify({ delta: 'bb', sequence_number: 2 })
  t.same(JSON.parse(spliceDelta(d2, tpl2.match(d2)!, 'ccc', 300)), { delta: 'ccc', sequence_number: 300 }, 'either order of holes')
})

t.test('the cache keeps a few shapes and stops learning when nothing ever matches', async (t) => {
  const cache = new TemplateCache()
  let builds = 0
  for (let i = 0; i < 20; i++) {
    const o = chunk('x', { created: i })
    cache.learn(() => (builds++, DeltaTemplate.build(JSON.stringify(o), o, TEXT_PATH, [], 'c', true, noop)))
    t.equal(cache.match(JSON.stringify(chunk('y', { created: i + 100 }))), undefined)
  }
  t.equal(builds, 7, 'gives up after 8 deltas no template matched')
  t.equal(cache.learning, false)

  const c2 = new TemplateCache()
  const shapes = [0, 1, 2].map((i) => chunk('x', { created: i }))
  for (const o of shapes) c2.learn(() => DeltaTemplate.build(JSON.stringify(o), o, TEXT_PATH, [], `c${o.created}`, true, noop))
  for (const o of shapes) t.equal(c2.match(JSON.stringify({ ...o, choices: [{ ...o.choices[0], delta: { content: 'z' } }] }))?.template.channel, `c${o.created}`)
  t.ok(c2.learning, 'matches reset the count')
})

/**
 * Differential check: a codec that learns templates must give, for every event, the slots and
 * the rebuilt JSON that parsing gives. Streams mix deltas with odd texts, finish chunks,
 * perturbed chunks and hand-escaped data.
 */
t.test('the fast path agrees with parsing, event by event', async (t) => {
  const alphabet = ['a', ' ', '"', '\\', '\n', 'é', '😀', '\ud83d', '\u2028', '/', '<', '\t', '0']
  let fastSeen = 0
  let events = 0
  const failures: string[] = []
  const check = (ok: boolean, what: string) => {
    if (!ok && failures.length < 5) failures.push(what)
  }
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = mulberry32(seed)
    const word = () => Array.from({ length: Math.floor(rnd() * 6) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('')
    const codec = createStreamCodec()
    for (let i = 0; i < 40; i++) {
      events++
      const at = `seed ${seed} event ${i}`
      const r = rnd()
      let o: Record<string, unknown> = chunk(word())
      if (r < 0.05) o = chunk(word(), { created: 6 })
      else if (r < 0.1) o = { ...chunk(''), choices: [{ index: 0, delta: { content: word() }, logprobs: null, finish_reason: 'stop' }] }
      else if (r < 0.15) o = { ...chunk(''), choices: [{ index: 0, delta: { role: 'assistant', content: word() }, logprobs: null, finish_reason: null }] }
      let data = JSON.stringify(o)
      if (rnd() < 0.1) data = data.replace(/"content":"([^"\\]*)"/, (_m, s: string) => `"content":"${[...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`)
      const ev: SseEvent = { data }
      const slots = codec.extract(ev)
      if ((codec as unknown as { lastInspection: { fast?: unknown } }).lastInspection.fast) fastSeen++
      const expected = (extractDeltas({ data }) ?? []).map((d) => d.text)
      check(JSON.stringify(slots.filter((s) => s.text !== '').map((s) => s.text)) === JSON.stringify(expected), `${at}: slots`)
      codec.closes(ev)
      const texts = slots.map((s) => (rnd() < 0.5 ? s.text : word()))
      const out = codec.rebuild(ev, texts)
      const want = JSON.parse(data)
      slots.forEach((s, k) => {
        if (s.kind === 'delta' && s.channel === 'c0:content') want.choices[0].delta.content = texts[k]
      })
      if (out === null) {
        check(texts.every((x) => x === ''), `${at}: dropped only when all text is held`)
        continue
      }
      const got = JSON.parse(out.data)
      check(JSON.stringify(got.choices[0].delta.content ?? '') === JSON.stringify(want.choices[0].delta.content ?? ''), `${at}: rebuilt text`)
      check(JSON.stringify({ ...got, choices: undefined }) === JSON.stringify({ ...want, choices: undefined }), `${at}: other fields`)
      check(JSON.stringify({ ...got.choices[0], delta: undefined }) === JSON.stringify({ ...want.choices[0], delta: undefined }), `${at}: choice fields`)
    }
  }
  t.same(failures, [])
  t.equal(events, 8000)
  t.ok(fastSeen > 3000, `most deltas took the fast path (${fastSeen})`)
})
