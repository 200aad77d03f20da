import t from 'tap'
import { canonicalJson } from '../../../src/core/formats/canonical-json.js'

t.test('RFC 8785 3.2.3: keys sorted by UTF-16 code units, not code points or locale', async (t) => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  }
  const out = canonicalJson(input)
  const keys = Object.keys(JSON.parse(out) as object)
  // JSON.parse puts the integer key '1' first, so read the order off the text instead.
  const order = [...out.matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string)
  t.same(order, ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'], 'the emoji (surrogate D83D) sorts before U+FB33')
  t.equal(keys.length, 7)
  t.equal(out.startsWith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"'), true, 'no whitespace, strings as JSON.stringify prints them')
})

t.test('RFC 8785 3.2.4: the sample document', async (t) => {
  const text = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`
  const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
  t.equal(canonicalJson(JSON.parse(text)), expected)
})

t.test('numbers print as ECMAScript does', async (t) => {
  const cases: [number, string][] = [
    [0, '0'],
    [-0, '0'],
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [0.1 + 0.2, '0.30000000000000004'],
    [1e-7, '1e-7'],
    [0.000001, '0.000001'],
    [5e-324, '5e-324'],
    [-5e-324, '-5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [9007199254740992, '9007199254740992'],
    [295147905179352830000, '295147905179352830000'],
    [9.999999999999997e22, '9.999999999999997e+22'],
    [1e23, '1e+23'],
    [-1.5, '-1.5'],
  ]
  for (const [n, s] of cases) t.equal(canonicalJson(n), s, `${s}`)
  t.equal(canonicalJson({ a: -0 }), '{"a":0}')
})

t.test('nesting, order at every depth, arrays keep their order', async (t) => {
  const a = { b: [3, { z: 1, y: [{ q: true, p: null }] }, 'x'], a: { d: 'e', c: 'f' } }
  t.equal(canonicalJson(a), '{"a":{"c":"f","d":"e"},"b":[3,{"y":[{"p":null,"q":true}],"z":1},"x"]}')
  const reordered = { a: { c: 'f', d: 'e' }, b: [3, { y: [{ p: null, q: true }], z: 1 }, 'x'] }
  t.equal(canonicalJson(reordered), canonicalJson(a))
  t.equal(canonicalJson([]), '[]')
  t.equal(canonicalJson({}), '{}')
  t.equal(canonicalJson([[], {}, [[]]]), '[[],{},[[]]]')
  t.equal(canonicalJson('a"\\\u2028\ud800'), JSON.stringify('a"\\\u2028\ud800'), 'strings exactly as JSON.stringify (lone surrogates escaped)')
  t.equal(canonicalJson(JSON.parse('{"__proto__":1,"a":2}')), '{"__proto__":1,"a":2}', 'an own __proto__ key is a key')
})

t.test('what JSON cannot hold throws a TypeError instead of vanishing', async (t) => {
  const bad: [string, unknown][] = [
    ['NaN', { a: NaN }],
    ['Infinity', [Infinity]],
    ['-Infinity', -Infinity],
    ['undefined in an object', { a: undefined }],
    ['undefined in an array', [1, undefined]],
    ['an array hole', [1, , 2]], // eslint-disable-line no-sparse-arrays
    ['a function', { f: () => 1 }],
    ['a bigint', { n: 10n }],
    ['a symbol', [Symbol('s')]],
    ['undefined', undefined],
  ]
  for (const [name, v] of bad) t.throws(() => canonicalJson(v), TypeError, name)
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = { back: cyclic }
  t.throws(() => canonicalJson(cyclic), TypeError, 'a cycle')
  const shared = { x: 1 }
  t.equal(canonicalJson([shared, shared]), '[{"x":1},{"x":1}]', 'a shared (not cyclic) value is fine')
})

t.test('toJSON and boxed primitives as JSON.stringify treats them', async (t) => {
  t.equal(canonicalJson({ d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z"}')
  t.equal(canonicalJson([Object(1), Object('s'), Object(false)]), '[1,"s",false]')
})

t.test('deep nesting does not overflow the call stack', async (t) => {
  const depth = 100_000
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v }
  const out = canonicalJson(v)
  t.equal(out, '[{"k":'.repeat(depth / 2) + '1' + '}]'.repeat(depth / 2))
})
