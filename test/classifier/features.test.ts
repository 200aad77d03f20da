import t, { type Test } from 'tap'
import { FEATURE_CONTRACT, featurize, type FeatureSpec, type Features } from '../../src/core/classifier/features.js'
import { foldText } from '../../src/core/moderation/normalize/index.js'
import { mulberry32 } from '../helpers/prng.js'

const spec: FeatureSpec = { buckets: 1 << 18, wordNgrams: 2, charNgramMin: 3, charNgramMax: 5, maxFeatures: 4096 }

function checkShape(t: Test, f: Features, s: FeatureSpec): void {
  t.equal(f.ids.length, f.weights.length, 'ids and weights align')
  t.ok(f.ids.length <= s.maxFeatures, 'at most maxFeatures')
  t.ok(f.ids.every((id) => Number.isInteger(id) && id >= 0 && id < s.buckets), 'ids within [0, buckets)')
  t.equal(new Set(f.ids).size, f.ids.length, 'ids distinct')
  t.ok(f.weights.every((w) => w > 0 && w <= 1), 'weights in (0, 1]')
  if (f.ids.length > 0) {
    const norm = f.weights.reduce((a, w) => a + w * w, 0)
    t.ok(Math.abs(norm - 1) < 1e-5, `unit L2 norm (${norm})`)
  }
}

/** The contract's hash of one feature string (its kind prefix included), for spot checks. */
function idOf(feature: string, buckets: number): number {
  let h = 0x811c9dc5 | 0
  for (let i = 0; i < feature.length; i++) h = Math.imul(h ^ feature.charCodeAt(i), 16777619)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) % buckets
}

t.equal(FEATURE_CONTRACT, 'hashed-ngrams-v1')

t.test('deterministic: the same text gives the same vector, call after call', (t) => {
  const text = foldText('You are such an idiot!! Visit https://example.com/x?y=1 now, 2024.')
  const a = featurize(text, spec)
  featurize('something else entirely to dirty the scratch buffers', spec)
  const b = featurize(text, spec)
  t.same(Array.from(b.ids), Array.from(a.ids))
  t.same(Array.from(b.weights), Array.from(a.weights))
  checkShape(t, a, spec)
  t.end()
})

t.test('the documented features, hashed as documented', (t) => {
  const s: FeatureSpec = { buckets: 1 << 20, wordNgrams: 2, charNgramMin: 3, charNgramMax: 3, maxFeatures: 4096 }
  const f = featurize('hi bob', s)
  const expected = ['Whi', 'Whi bob', 'C<hi', 'Chi>', 'Wbob', 'C<bo', 'Cbob', 'Cob>'].map((x) => idOf(x, s.buckets))
  t.same(Array.from(f.ids), expected, 'per token: its word n-grams, then the char 3-grams of <token>')
  t.ok(f.weights.every((w) => Math.abs(w - Math.sqrt(1 / 8)) < 1e-7), 'each counted once: weight sqrt(1/8)')

  const counted = featurize('aaaa', { buckets: 1 << 20, wordNgrams: 1, charNgramMin: 2, charNgramMax: 2, maxFeatures: 64 })
  // <a aa aa aa a> : 'aa' three times, '<a' and 'a>' once, the word once: total 6.
  const aa = Array.from(counted.ids).indexOf(idOf('Caa', 1 << 20))
  t.ok(Math.abs(counted.weights[aa]! - Math.sqrt(3 / 6)) < 1e-7, 'a repeated n-gram weighs sqrt(count / total)')
  t.end()
})

t.test('placeholders: digits, URLs, repeated symbols', (t) => {
  const s: FeatureSpec = { ...spec, charNgramMax: 0, wordNgrams: 1 }
  t.same(featurize('call 555 1234', s), featurize('call 000 0000', s), 'digits are 0')
  t.same(featurize('see https://a.example/x', s), featurize('see www.other.example', s), 'any URL is <url>')
  t.same(featurize('wow!!!', s), featurize('wow !', s), 'a run of one symbol counts once')
  t.same(featurize("don't", s), featurize('don’t', s), 'both apostrophes join a word')
  t.notSame(featurize('<url>', s), featurize('https://x', s), 'text cannot spell the URL token')
  t.end()
})

t.test('empty and whitespace-only text give no features', (t) => {
  for (const text of ['', ' ', '\n\t  \r\n', '\u3000\u00a0']) {
    const f = featurize(text, spec)
    t.equal(f.ids.length, 0, JSON.stringify(text))
    t.equal(f.weights.length, 0)
  }
  t.end()
})

t.test('non-Latin text', (t) => {
  for (const text of ['привет мир', 'こんにちは世界', 'مرحبا بالعالم', '😂🔥 ok 🙂', '𝐛𝐨𝐥𝐝 𐐷𐐷']) {
    const f = featurize(foldText(text), spec)
    t.ok(f.ids.length > 0, `${text} has features`)
    checkShape(t, f, spec)
  }
  t.notSame(featurize('привет', spec).ids, featurize('пока', spec).ids, 'different words differ')
  t.end()
})

t.test('lone surrogates and odd code units do not throw', (t) => {
  const odd = ['\ud800', 'a\udc00b', '\udbff\udbff\udfff', 'x\ud83d', '\ud83dz', '\u0000\uffff\ufffe', "'''", "a'", "'a"]
  for (const text of odd) {
    const f = featurize(text, spec)
    checkShape(t, f, spec)
  }
  const random = mulberry32(7)
  for (let k = 0; k < 200; k++) {
    let s = ''
    for (let i = 0; i < 64; i++) s += String.fromCharCode(Math.floor(random() * 0x10000))
    checkShape(t, featurize(s, spec), spec)
  }
  t.end()
})

t.test('very long text stays within maxFeatures, keeping the most frequent', (t) => {
  const random = mulberry32(3)
  const words: string[] = []
  for (let i = 0; i < 40000; i++) words.push(Math.floor(random() * 1e9).toString(36))
  const long = words.join(' ') + ' common'.repeat(500)
  const small: FeatureSpec = { ...spec, maxFeatures: 512 }
  const f = featurize(long, small)
  t.equal(f.ids.length, 512)
  checkShape(t, f, small)
  t.ok(Array.from(f.ids).includes(idOf('Wcommon', small.buckets)), 'the word seen 500 times is kept')
  t.same(featurize(long, small), f, 'deterministic under truncation')
  t.end()
})

t.test('a spec outside the contract is a RangeError', (t) => {
  t.throws(() => featurize('x', { ...spec, buckets: 0 }), RangeError)
  t.throws(() => featurize('x', { ...spec, buckets: 1.5 }), RangeError)
  t.throws(() => featurize('x', { ...spec, charNgramMin: 6, charNgramMax: 5 }), RangeError)
  t.throws(() => featurize('x', { ...spec, maxFeatures: 0 }), RangeError)
  t.throws(() => featurize('x', { ...spec, wordNgrams: 0, charNgramMax: 0 }), RangeError)
  t.ok(featurize('x y', { ...spec, buckets: 1000 }).ids.every((id) => id < 1000), 'buckets need not be a power of two')
  t.end()
})
