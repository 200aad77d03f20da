import t from 'tap'
import { MAX_SEGMENT, createNormalizer, foldText, literalText } from '../../../../src/core/moderation/normalize/index.js'
import type { IncrementalNormalizer, TextView } from '../../../../src/core/moderation/types.js'

function pushAll(parts: string[], decodeBase64 = false): IncrementalNormalizer {
  const n = createNormalizer({ decodeBase64, composeAcrossPushes: true })
  for (const p of parts) n.push(p)
  n.end()
  return n
}

const spans = (v: TextView): [number, number][] => {
  const out: [number, number][] = []
  for (let i = v.base; i < v.length; i++) out.push([v.origStart(i), v.origEnd(i)])
  return out
}

t.test('literal view: NFKC, default-ignorables removed, case and digits kept', async (t) => {
  t.equal(literalText('Ｈｅｌｌｏ １２３ ﬁne ①'), 'Hello 123 fine 1')
  t.equal(literalText('ca\u200Bfe\u0301 \u202Eok\u202C\u00AD!\uFEFF'), 'café ok!')
  t.equal(literalText('Card 4111\u00A01111'), 'Card 4111 1111')
  t.equal(literalText('line\nbreak\tand  spaces'), 'line\nbreak\tand  spaces')
  t.equal(literalText('\u1100\u1161 \uFF76\uFF9E'), '가 ガ')
  t.equal(literalText(''), '')
})

t.test('folded view: the documented rules end to end', async (t) => {
  const cases: [string, string][] = [
    ['Hello, World!', 'hello, world!'],
    ['I really h a t e this', 'i really hate this'],
    ['a cat', 'a cat'],
    ['I am ok', 'i am ok'],
    ['I a m', 'iam'],
    ['h.a.t.e', 'hate'],
    ['h-a-t-e', 'hate'],
    ['h_a_t_e', 'hate'],
    ['h  a  t  e', 'hate'],
    ['h . a . t . e', 'hate'],
    ['h·a·t·e h•a•t•e', 'hatehate'],
    ['say "h a t e!" (h a t e) h a t e?', 'say "hate!" (hate) hate?'],
    ["I'm a cat", "i'm a cat"],
    ['h -- a', 'h -- a'],
    ['h . . a', 'h . . a'],
    ['h' + ' '.repeat(40) + 'a', 'h a'], // kept: longer than MAX_SEPARATOR_CHARS (refolding would join it)
    ['page 1 of 3', 'page 1 of 3'],
    ['h4t3 $h1t k1ll 5h17', 'hate shit kill shit'],
    ['kill! c++ wow!!a sh!t', 'kill! c++ wow!!a shit'],
    ['ab1234', 'abi234'],
    ['ab013457801x', 'ab013457801x'],
    ['another   phrase\n\nnext', 'another phrase next'],
    ['  lead and trail  ', ' lead and trail '],
    ['ΗΑΤΕ 𝐡𝐚𝐭𝐞 ｈａｔｅ ḣåţë h\u200Bate', 'hate hate hate hate hate'],
    ['“Straße”', '"strasse"'],
    ['kill—now, h—a—t—e', 'kill—now, hate'],
    ['€5 or 3×4', '€5 or 3×4'],
  ]
  for (const [from, to] of cases) t.equal(foldText(from), to, JSON.stringify(from))
})

t.test('each normalized unit maps to the original span that produced it', async (t) => {
  let n = pushAll(['h\u200Bate'])
  t.same(spans(n.folded), [[0, 1], [2, 3], [3, 4], [4, 5]])
  t.same(spans(n.literal), [[0, 1], [2, 3], [3, 4], [4, 5]])

  n = pushAll(['h a t e!'])
  t.equal(n.folded.slice(0), 'hate!', 'the removed separators belong to no unit')
  t.same(spans(n.folded), [[0, 1], [2, 3], [4, 5], [6, 7], [7, 8]])

  n = pushAll(['another   phrase'])
  t.equal(n.folded.slice(7, 8), ' ')
  t.same(spans(n.folded)[7], [7, 8], 'a collapsed whitespace run maps to its first character')

  n = pushAll(['e\u0301x'])
  t.equal(n.literal.slice(0), '\u00E9x')
  t.same(spans(n.literal), [[0, 2], [2, 3]])
  t.same(spans(n.folded), [[0, 2], [2, 3]], 'the stripped mark goes with its letter')

  n = pushAll(['ßﬁ'])
  t.equal(n.folded.slice(0), 'ssfi')
  t.same(spans(n.folded), [[0, 1], [0, 1], [1, 2], [1, 2]])

  n = pushAll(['x𝐡y'])
  t.equal(n.folded.slice(0), 'xhy')
  t.same(spans(n.folded), [[0, 1], [1, 3], [3, 4]])
})

t.test('a surrogate pair or a combining sequence split across pushes', async (t) => {
  const n = createNormalizer({ composeAcrossPushes: true })
  n.push('I \uD835')
  t.equal(n.pending, 1, 'the space may still get a mark, then half a surrogate pair')
  n.push('\uDC21ate cafe')
  t.equal(n.pending, 11, 'the last letter may still get a mark')
  n.push('\u0301')
  n.push('\u0327 ok')
  n.end()
  t.equal(n.folded.slice(0), 'i hate cafe ok')
  t.equal(n.literal.slice(0), 'I hate caf\u0229\u0301 ok')
  t.equal(n.pending, 17)

  const h = createNormalizer({ composeAcrossPushes: true })
  h.push('\u1100')
  h.push('\u1161')
  h.push('\u11A8!')
  h.end()
  t.equal(h.literal.slice(0), '각!')

  const lone = createNormalizer({ composeAcrossPushes: true })
  lone.push('a\uD800')
  lone.push('b\uDC00')
  lone.push('\uD83D')
  lone.end()
  t.equal(lone.literal.slice(0), 'a\uD800b\uDC00\uD83D', 'lone surrogates pass through')
  t.equal(lone.pending, 5)
})

t.test('pending trails the end by what may still change', async (t) => {
  const n = createNormalizer({ composeAcrossPushes: true })
  n.push('hello world')
  t.equal(n.pending, 10, 'the last character may still get a mark')
  n.push(' a')
  t.equal(n.pending, 12)
  n.push(' b')
  t.equal(n.pending, 13, 'the space after a single letter waits for what follows the next one')
  t.equal(n.folded.slice(0), 'hello world a')
  n.push(' ')
  t.equal(n.pending, 15, 'b is single: the space before it goes, the one after it waits')
  t.equal(n.folded.slice(0), 'hello world ab')
  n.push('cd')
  t.equal(n.pending, 15)
  t.equal(n.folded.slice(0), 'hello world ab')
  n.end()
  t.equal(n.folded.slice(0), 'hello world ab cd')
  t.equal(n.pending, 18)

  const plain = createNormalizer({ composeAcrossPushes: true })
  plain.push('Hello, world. Q')
  t.equal(plain.pending, 15, 'nothing a mark could compose with, nothing held')
  plain.push('=')
  t.equal(plain.pending, 15, '= may still become ≠')
  plain.push('\u0338')
  plain.end()
  t.equal(plain.literal.slice(0), 'Hello, world. Q≠')

  const leet = createNormalizer({ composeAcrossPushes: true })
  leet.push('wow h4')
  t.equal(leet.pending, 5, 'a leet run waits for its end')
  leet.push('te')
  t.equal(leet.folded.slice(0), 'wow hat')
})

t.test('a long combining sequence cannot hold text back', async (t) => {
  const zalgo = 'a' + '\u0301'.repeat(200) + 'b'
  const n = createNormalizer({ composeAcrossPushes: true })
  let pushed = 0
  let maxLag = 0
  for (const ch of zalgo) {
    n.push(ch)
    pushed += ch.length
    maxLag = Math.max(maxLag, pushed - n.pending)
  }
  t.ok(maxLag <= MAX_SEGMENT, `held at most ${maxLag} code units`)
  n.end()
  t.equal(n.folded.slice(0), 'ab')
  t.equal(n.literal.slice(0), literalText(zalgo), 'the same cut whole or char by char')
  t.equal(n.literal.slice(0, 1), '\u00E1', 'the first mark still composes')
})

t.test('end() is final', async (t) => {
  const n = createNormalizer({ composeAcrossPushes: true })
  n.push('abc')
  n.end()
  n.end()
  t.equal(n.literal.slice(0), 'abc')
  t.throws(() => n.push('x'))
})

t.test('views can be trimmed by their consumer while the stream goes on', async (t) => {
  const n = createNormalizer({ composeAcrossPushes: true })
  let text = ''
  for (let i = 0; i < 2000; i++) {
    const piece = `word${i} h a t e `
    text += piece
    n.push(piece)
    n.folded.trim(n.folded.length - 10)
    n.literal.trim(n.literal.length - 10)
  }
  n.end()
  t.ok(n.folded.base > 0)
  t.equal(n.folded.slice(n.folded.length - 5), 'hate ')
  t.equal(n.pending, text.length)
})

t.test('by default a letter that ends a push is final: no token waits for the next one', async (t) => {
  const make = createNormalizer
  const n = make()
  n.push('Hello')
  t.equal(n.pending, 5, 'nothing of "Hello" is pending')
  t.equal(n.folded.slice(0), 'hello')
  n.push('\u0301 world')
  n.end()
  t.equal(n.folded.slice(0), 'hello world', 'a mark that arrives later is still stripped from the folded view')
  const strict = make({ composeAcrossPushes: true })
  strict.push('Hello')
  t.equal(strict.pending, 4, 'with composeAcrossPushes the last letter waits for a possible mark')
})
