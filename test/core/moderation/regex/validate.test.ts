import t from 'tap'
import { validateRegexRule } from '../../../../src/core/moderation/regex/index.js'

const refused = (pattern: string, maxMatchLength = 32, caseInsensitive = false): string => {
  const v = validateRegexRule(pattern, { caseInsensitive }, maxMatchLength)
  if (v.ok) throw new Error(`expected ${JSON.stringify(pattern)} to be refused`)
  return v.message
}

t.test('each unsupported construct is named, with its offset', async (t) => {
  t.match(refused('(cat|dog)\\1'), /^backreference \\1 at offset 9 is not supported/)
  t.match(refused('(?<pet>cat)\\k<pet>'), /^named backreference \\k<pet> at offset 11 is not supported/)
  t.match(refused('(?P<pet>cat)(?P=pet)'), /^named backreference \(\?P=…\) at offset 12/)
  t.match(refused('abc(?=def)'), /^lookahead \(\?=…\) at offset 3 is not supported: RE2 has no lookaround/)
  t.match(refused('abc(?!def)'), /^negative lookahead \(\?!…\) at offset 3/)
  t.match(refused('(?<=\\$)\\d+'), /^lookbehind \(\?<=…\) at offset 0/)
  t.match(refused('(?<!x)y'), /^negative lookbehind \(\?<!…\) at offset 0/)
  t.match(refused('(?>a+)b'), /^atomic group \(\?>…\) at offset 0 is not supported by RE2/)
  t.match(refused('a++b'), /^possessive quantifier \+\+ at offset 1/)
  t.match(refused('x*+'), /^possessive quantifier \*\+ at offset 1/)
  t.match(refused('x?+'), /^possessive quantifier \?\+ at offset 1/)
  t.match(refused('\\d{2,5}+'), /^possessive quantifier \{2,5\}\+ at offset 2/)
  t.match(refused('a\\Cb'), /^\\C at offset 1 \(any single byte\)/)
  t.match(refused('ab(?i)cd'), /^inline flags \(\?i\) at offset 2 must start the pattern, a group or an alternative; .*\(\?i:…\)/)
})

t.test('a construct inside a character class or escaped is not mistaken for one', async (t) => {
  t.ok(validateRegexRule('[(?=]x', {}, 4).ok)
  t.ok(validateRegexRule('\\(\\?=x', {}, 4).ok)
  t.ok(validateRegexRule('a+?b', {}, 8).ok, 'a lazy quantifier is fine')
  t.ok(validateRegexRule('[+*]+', {}, 8).ok)
})

t.test('what RE2 itself refuses comes back with its message', async (t) => {
  t.match(refused('a{1001}'), /^RE2 cannot compile the pattern: invalid repetition size/)
  t.match(refused('(unclosed'), /^RE2 cannot compile the pattern: missing \)/)
  t.match(refused('[z-a]'), /^RE2 cannot compile the pattern: invalid character class range/)
  t.match(refused('\\p{NoSuchScript}x'), /^RE2 cannot compile the pattern: invalid character class range/)
})

t.test('oversized patterns', async (t) => {
  t.match(refused('a'.repeat(2001)), /^the pattern is 2001 characters long; the limit is 2000/)
  t.ok(validateRegexRule('a'.repeat(2000), {}, 4096).ok, '2,000 characters is allowed')
  // RE2's compiled program (each \pL is hundreds of instructions) outgrows its memory budget.
  t.match(refused('\\pL{1000}', 1000), /^the pattern is too large for RE2: its compiled program exceeds/)
})

t.test('maxMatchLength must be an integer from 1 to 4096', async (t) => {
  for (const bad of [0, -1, 4097, 1.5, Number.NaN, Infinity]) {
    t.match(refused('abc', bad), /^maxMatchLength must be a whole number from 1 to 4096/, String(bad))
  }
  t.ok(validateRegexRule('abc', {}, 1).ok)
  t.ok(validateRegexRule('abc', {}, 4096).ok)
})

t.test('a pattern that can match empty text is refused', async (t) => {
  for (const p of ['x*', '(a|)', '\\b', '(?:ab)?', '^$']) t.match(refused(p), /can match empty text/, p)
  t.match(refused(''), /the pattern is empty/)
})

t.test('RE2 syntax that JavaScript lacks is accepted', async (t) => {
  for (const p of [
    '(?i)project\\s+(falcon|eagle)',
    '(?P<id>ACME)-\\d+',
    '\\pL+',
    '\\p{Greek}+',
    '\\p{^Greek}x',
    '\\x{1F600}',
    '\\Qa.b*c\\E',
    '\\Ahead',
    'tail\\z',
    '[[:alpha:]]+',
    '[[:^digit:]x]',
    'a{,3}',
    'x}',
    ']',
    '\\-\\_\\#',
    '[\\d-z]',
    '(?s:a.b)',
    '(?-i:A)b',
    '(?U)a+b',
    '(a|(?i)b|c)',
    'x|(?i)y',
  ]) {
    const v = validateRegexRule(p, {}, 64)
    t.ok(v.ok, `${p}: ${v.ok ? '' : v.message}`)
  }
})

t.test('longestMatch is proven from the parse, in UTF-16 code units', async (t) => {
  const longest = (p: string, ci = false): number | null => {
    const v = validateRegexRule(p, { caseInsensitive: ci }, 100)
    if (!v.ok) throw new Error(v.message)
    return v.longestMatch
  }
  t.equal(longest('ACME-[0-9]{6}'), 11)
  t.equal(longest('INV-\\d{4,8}'), 12)
  t.equal(longest('(?i)project\\s+(falcon|eagle)'), null)
  t.equal(longest('colou?r'), 6)
  t.equal(longest('😀'), 2, 'an astral character is two code units')
  t.equal(longest('.'), 2, 'a dot may match an astral character')
  t.equal(longest('[a-z]'), 1)
  t.equal(longest('[^a-z]'), 2)
  t.equal(longest('\\bword\\b'), 4, 'assertions take no room')
  t.equal(longest('(?:ab|c){2,3}'), 6)
  t.equal(longest('x{0,1000}y'), 1001)
})

t.test('accepting a pattern that can outgrow maxMatchLength (it is searched within it)', async (t) => {
  const v = validateRegexRule('[a-z0-9-]+\\.corp\\.example\\.com', {}, 64)
  t.same(v, { ok: true, longestMatch: null })
})
