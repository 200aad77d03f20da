import t from 'tap'
import { hasDuplicateKeys } from '../../../src/core/formats/duplicate-keys.js'

/** mulberry32: a small deterministic generator, so a failure can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * n | 0
  }
}

t.test('duplicates in one object, at any depth', async (t) => {
  t.equal(hasDuplicateKeys('{"a":1,"a":2}'), true)
  t.equal(hasDuplicateKeys('{"a":1,"b":2}'), false)
  t.equal(hasDuplicateKeys('{"a":1,"b":2,"c":3,"b":4}'), true, 'past the second key')
  t.equal(hasDuplicateKeys('{"a":1,"b":2,"c":3,"d":4}'), false)
  t.equal(hasDuplicateKeys('{"x":{"y":{"b":1,"b":2}}}'), true, 'nested')
  t.equal(hasDuplicateKeys('{"model":"m","messages":[{"role":"user","content":"hi","role":"system"}]}'), true, 'inside an array element')
  t.equal(hasDuplicateKeys(' { "a" : 1 ,\n\t"a"\r\n: 2 } '), true, 'whitespace around the colon')
  t.equal(hasDuplicateKeys('{"a":{"x":1},"a":2}'), true, 'after a nested object closes, its parent still remembers its keys')
  t.equal(hasDuplicateKeys('{"":1,"":2}'), true, 'the empty key')
})

t.test('keys compare after unescaping', async (t) => {
  t.equal(hasDuplicateKeys('{"a":1,"\\u0061":2}'), true)
  t.equal(hasDuplicateKeys('{"\\u0041":1,"a":2}'), false, 'case matters (\\u0041 is A)')
  t.equal(hasDuplicateKeys('{"\\n":1,"\\u000a":2}'), true)
  t.equal(hasDuplicateKeys('{"\\/":1,"/":2}'), true)
  t.equal(hasDuplicateKeys('{"a\\"b":1,"a\\u0022b":2}'), true, 'an escaped quote does not end the key')
  t.equal(hasDuplicateKeys('{"a\\"":1,"a":2}'), false)
  t.equal(hasDuplicateKeys('{"\\\\":1,"\\u005C":2}'), true, 'backslash, upper-case hex')
  t.equal(hasDuplicateKeys('{"\\ud83d\\ude00":1,"\u{1F600}":2}'), true, 'a surrogate pair equals the raw character')
  t.equal(hasDuplicateKeys('{"x\\ty":1,"x\\u0009y":2,"z":3}'), true, 'escape in the middle')
  t.equal(hasDuplicateKeys('{"\\u00e9":1,"e\\u0301":2}'), false, 'no Unicode normalization: a parser does not do it either')
})

t.test('keys of different objects, and strings that are values, are not duplicates', async (t) => {
  t.equal(hasDuplicateKeys('{"a":{"a":1},"b":{"a":2}}'), false)
  t.equal(hasDuplicateKeys('[{"a":1},{"a":2},{"a":3}]'), false, 'arrays of objects')
  t.equal(hasDuplicateKeys('[{"a":1,"b":[{"a":1}]},{"a":2}]'), false)
  t.equal(hasDuplicateKeys('[{"a":1},{"a":2,"a":3}]'), true, 'but a duplicate in one element counts')
  t.equal(hasDuplicateKeys('{"a":"a","b":"a"}'), false, 'equal values')
  t.equal(hasDuplicateKeys('{"a":"b:c","b":["a","a"]}'), false, 'a value with a colon, array of equal strings')
  t.equal(hasDuplicateKeys('{"a":"{\\"b\\":1,\\"b\\":2}"}'), false, 'JSON inside a string is just text')
  t.equal(hasDuplicateKeys('["a","a"]'), false)
  t.equal(hasDuplicateKeys('"a"'), false)
})

t.test('agrees with a reference on generated documents', async (t) => {
  const rand = prng(42)
  const names = ['a', 'b', 'c', '\u00e9', '\u{1F600}', 'a"b', '\\']
  const escape = (s: string) =>
    [...s].map((ch) => {
      if (ch === '"' || ch === '\\') return `\\${ch}`
      if (rand(3) === 0) return [...ch].length === 1 && ch.length === 2 ? `\\u${ch.charCodeAt(0).toString(16)}\\u${ch.charCodeAt(1).toString(16)}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
      return ch
    }).join('')
  const gen = (depth: number): [string, boolean] => {
    const kind = depth > 3 ? 0 : rand(3)
    if (kind === 0) return [JSON.stringify(names[rand(names.length)]), false]
    if (kind === 1) {
      const parts = Array.from({ length: rand(4) }, () => gen(depth + 1))
      return [`[${parts.map((p) => p[0]).join(',')}]`, parts.some((p) => p[1])]
    }
    const keys = Array.from({ length: rand(4) }, () => names[rand(names.length)]!)
    const values = keys.map(() => gen(depth + 1))
    const dup = new Set(keys).size !== keys.length || values.some((v) => v[1])
    return [`{${keys.map((k, i) => `"${escape(k)}" :${values[i]![0]}`).join(',')}}`, dup]
  }
  let withDup = 0
  for (let i = 0; i < 2000; i++) {
    const [text, dup] = gen(0)
    JSON.parse(text) // the generator writes valid JSON
    if (hasDuplicateKeys(text) !== dup) t.fail(`wrong answer for ${text}`)
    if (dup) withDup++
  }
  t.ok(withDup > 200 && withDup < 1800, `both answers are exercised (${withDup} of 2000 have duplicates)`)
})

t.test('deep nesting: no recursion, no throw', async (t) => {
  const depth = 100_000
  t.equal(hasDuplicateKeys('['.repeat(depth) + '{"a":1,"a":2}' + ']'.repeat(depth)), true)
  t.equal(hasDuplicateKeys('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)), false, 'one key per level')
  t.equal(hasDuplicateKeys('{"a":'.repeat(depth) + '{"b":1,"b":2}' + '}'.repeat(depth)), true)
  t.equal(hasDuplicateKeys('{"a":'.repeat(depth) + '1' + '}'.repeat(depth - 1) + ',"a":2}'), true, 'the outermost object, after 100k levels closed')
})

t.test('text that is not JSON: an answer, never a throw or a hang', async (t) => {
  const bad = ['', '{', '}', ']]]}}}', '"', '{"a', '{"a\\', '{"a\\"', '{"a":1,"a"', '{"a\\u12":1}', '{"a\\u":1,"a\\u":2}', '{"\\uZZZZ":1}',
    '{"a"::::}', ':"a":"a":', '[["a":1,"a":2]]', '{"a":1}}}}"a":2', '\\', '"\\', '{"a":"\\', 'nul\u0000l', '\ud800{"\ud800":1,"\ud800":2}']
  for (const text of bad) t.type(hasDuplicateKeys(text), 'boolean', JSON.stringify(text))
  t.equal(hasDuplicateKeys('{"a":1,"a":'), true, 'the duplicate is seen before the text breaks')
  const rand = prng(7)
  const alphabet = ['{', '}', '[', ']', '"a"', '"\\u0061"', '"\\u00"', ':', ',', '1', '"', '\\', ' ']
  const answers = new Set<unknown>()
  for (let i = 0; i < 5000; i++) {
    let s = ''
    for (let j = 0; j < 40; j++) s += alphabet[rand(alphabet.length)]
    answers.add(hasDuplicateKeys(s)) // a throw fails the test
  }
  t.same([...answers].sort(), [false, true], 'random fragments: booleans, both seen')
})

t.test('many distinct keys and long escaped keys stay linear (completes)', async (t) => {
  const n = 200_000
  const keys = Array.from({ length: n }, (_, i) => `"k\\u0030${i}":0`)
  t.equal(hasDuplicateKeys(`{${keys.join(',')}}`), false)
  t.equal(hasDuplicateKeys(`{${keys.join(',')},"k0${n - 1}":1}`), true, 'the escaped and the plain spelling of the last key')
  const plain = Array.from({ length: n }, (_, i) => `"p${i}":"${'x'.repeat(5)}"`)
  t.equal(hasDuplicateKeys(`{${plain.join(',')}}` + '\\'), false, 'plain keys with a backslash far after them')
})
