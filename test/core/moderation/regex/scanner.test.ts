import t from 'tap'
import { compileRegexes, regexStats, resetRegexStats, type RegexRule } from '../../../../src/core/moderation/regex/index.js'
import { mulberry32 } from '../../../helpers/prng.js'
import { fixedPieces, randomPieces, stream, wholeText } from './stream-harness.js'

const FRAGMENTS = [
  'ACME-', 'ACME-1', '123456', '7', '0', '42', 'INV-', '2024', ' ', ' ', ' ', ' ', '\n', 'the ', 'a ',
  'project ', 'Project', 'PROJECT', '  ', 'falcon', 'Eagle', 'db-01', '.corp.example.com', '.corp', 'x',
  'é', '😀', '\u212a', 'ſ', 'S', 'k', 'Hello', 'end', '- item', '.', ',', 'foo', 'food', 'A', 'C', '-',
  '日本', '\u0301', 'ACME-12', 'Hello end',
]

/** Bounded rules, so that RE2's whole-text matches fit maxMatchLength and the results must agree. */
const RULES: RegexRule[] = [
  { pattern: 'ACME-[0-9]{6}', maxMatchLength: 11 },
  { pattern: 'INV-\\d{4,8}', maxMatchLength: 12 },
  { pattern: '\\b\\d{4}\\b', maxMatchLength: 4 },
  { pattern: '(?i)project\\s{1,3}(falcon|eagle)', maxMatchLength: 20 },
  { pattern: '[a-z0-9-]{1,20}\\.corp\\.example\\.com', maxMatchLength: 37 },
  { pattern: '^Hello', maxMatchLength: 5 },
  { pattern: 'end$', maxMatchLength: 3 },
  { pattern: '(?m)^- item', maxMatchLength: 6 },
  { pattern: '\\bfoo\\b', maxMatchLength: 3 },
  { pattern: 'k{1,3}s', caseInsensitive: true, maxMatchLength: 4 },
  { pattern: '😀{2}', maxMatchLength: 4 },
  { pattern: 'é\\w', maxMatchLength: 2 },
  { pattern: '[^ \\n]{3}😀', maxMatchLength: 5 },
  { pattern: '日本', maxMatchLength: 2 },
  { pattern: 'ACME-1|ACME-12', maxMatchLength: 7 },
  { pattern: '\\d+', maxMatchLength: 64 },
  { pattern: '(?s).x', maxMatchLength: 3 },
  // No literal and no small set of first units: searched wherever the window passes.
  { pattern: '\\S{4}', maxMatchLength: 4 },
]

function randomText(rnd: () => number, pieces: number): string {
  let s = ''
  for (let i = 0; i < pieces; i++) s += FRAGMENTS[Math.floor(rnd() * FRAGMENTS.length)]
  return s
}

t.test('streamed hits equal the whole-text search for any split of the input', async (t) => {
  const matcher = compileRegexes(RULES)
  const rnd = mulberry32(20240611)
  let compared = 0
  let hitsSeen = 0
  for (let round = 0; round < 250; round++) {
    const text = randomText(rnd, 20 + Math.floor(rnd() * 80))
    const expected = wholeText(RULES, text)
    // A rule is compared when every whole-text match of it fits its maxMatchLength.
    const fits = RULES.map((r, id) => expected.every((h) => h.id !== id || h.end - h.start <= r.maxMatchLength))
    const want = expected.filter((h) => fits[h.id])
    for (const maxPiece of [1, 3, 9, 40, 100_000]) {
      const got = stream(matcher, randomPieces(text, rnd, maxPiece)).hits.filter((h) => fits[h.id])
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.same(got, want, `round ${round}, pieces ≤ ${maxPiece}: ${JSON.stringify(text)}`)
        return
      }
      compared++
    }
    hitsSeen += want.length
  }
  t.equal(compared, 1250)
  t.ok(hitsSeen > 500, `the texts produce matches (${hitsSeen})`)
})

t.test("a rule's hold-back never exceeds maxMatchLength - 1, plus one unit for a trailing assertion", async (t) => {
  const rnd = mulberry32(7)
  for (const rule of RULES) {
    const matcher = compileRegexes([rule])
    const look = /\\b|\$/.test(rule.pattern) ? 1 : 0
    let worst = 0
    let over = ''
    for (let round = 0; round < 40 && over === ''; round++) {
      const pieces = randomPieces(randomText(rnd, 40), rnd, 6)
      const { holds } = stream(matcher, pieces)
      let sofar = ''
      holds.forEach((h, i) => {
        sofar += pieces[i]
        // Half a surrogate pair at the end of the view cannot be matched yet: it waits on top.
        const dangling = /[\ud800-\udbff]$/.test(sofar) ? 1 : 0
        if (h > rule.maxMatchLength - 1 + look + dangling) over ||= `hold ${h} after ${JSON.stringify(sofar.slice(-20))}`
        if (!dangling) worst = Math.max(worst, h)
      })
    }
    t.equal(over, '', rule.pattern)
    t.ok(worst <= rule.maxMatchLength - 1 + look, `${rule.pattern}: worst hold ${worst}, maxMatchLength ${rule.maxMatchLength}`)
  }
})

t.test('nothing is held where no match can start', async (t) => {
  const ticket: RegexRule[] = [{ pattern: 'ACME-[0-9]{6}', maxMatchLength: 11 }]
  t.same(stream(ticket, fixedPieces('hello world 12345 and more', 3)).holds, [0, 0, 0, 0, 0, 0, 0, 0, 0])
  // "A" could start a ticket until the next unit shows it cannot ("Ab"): held one push, then released.
  t.same(stream(ticket, ['so A', 'b is', ' AC', 'ME-1', '2']).holds, [1, 0, 2, 6, 7])
  t.same(stream(ticket, ['ACME-123456', ' ok']).holds, [0, 0], 'a whole ticket is final at once')
  const host: RegexRule[] = [{ pattern: '[a-z0-9-]+\\.corp\\.example\\.com', maxMatchLength: 64 }]
  t.same(stream(host, ['HELLO. ', 'WORLD! ']).holds, [0, 0])
})

t.test('case-insensitive rules, by flag or inline, fold as RE2 does', async (t) => {
  const rules: RegexRule[] = [
    { pattern: 'project\\s+(falcon|eagle)', caseInsensitive: true, maxMatchLength: 30 },
    { pattern: '(?i)secret', maxMatchLength: 6 },
    { pattern: '(?i:KEY)-\\d', maxMatchLength: 5 },
    { pattern: 'Case', maxMatchLength: 4 },
  ]
  // U+212A KELVIN SIGN and U+017F LONG S are in the case orbits of k and s.
  const text = 'PROJECT   Eagle, pRoJeCt falcon; SECRET ſecret; \u212aey-1 key-2 KEY-3; case CASE Case'
  const expected = wholeText(rules, text)
  t.same(
    expected.map((h) => [h.id, text.slice(h.start, h.end)]),
    [
      [0, 'PROJECT   Eagle'],
      [0, 'pRoJeCt falcon'],
      [1, 'SECRET'],
      [1, 'ſecret'],
      [2, '\u212aey-1'],
      [2, 'key-2'],
      [2, 'KEY-3'],
      [3, 'Case'],
    ],
  )
  for (const size of [1, 2, 5]) t.same(stream(rules, fixedPieces(text, size)).hits, expected, `pieces of ${size}`)
})

t.test('Unicode around and inside matches: offsets are UTF-16 code units of the view', async (t) => {
  const rules: RegexRule[] = [
    { pattern: 'ACME-[0-9]{6}', maxMatchLength: 11 },
    { pattern: '😀{2}', maxMatchLength: 4 },
    { pattern: 'naïve \\w+', maxMatchLength: 20 },
  ]
  const text = '😀ACME-123456😀 日本語 ACME-654321é 😀😀😀 naïve code𝕏'
  const expected = wholeText(rules, text)
  t.same(
    expected.map((h) => [h.id, h.start, text.slice(h.start, h.end)]),
    [
      [0, 2, 'ACME-123456'],
      [0, 20, 'ACME-654321'],
      [1, 33, '😀😀'],
      [2, 40, 'naïve code'],
    ],
  )
  // Pieces of one unit split every surrogate pair in two.
  for (const size of [1, 2, 3, 7]) t.same(stream(rules, fixedPieces(text, size)).hits, expected, `pieces of ${size}`)
})

t.test('assertions see the real neighbours across pushes and trims', async (t) => {
  const word: RegexRule[] = [{ pattern: '\\bfoo\\b', maxMatchLength: 3 }]
  // "a food foo xfoo foo": the first "foo" is part of "food", known only from the next push.
  t.same(stream(word, ['a foo', 'd foo', ' xfoo foo']).hits, [
    { id: 0, start: 7, end: 10 },
    { id: 0, start: 16, end: 19 },
  ])
  t.same(stream(word, ['foo']).hits, [{ id: 0, start: 0, end: 3 }], 'the end of the stream is a boundary')
  const start: RegexRule[] = [{ pattern: '^Hello', maxMatchLength: 5 }]
  t.same(stream(start, ['Hello', ' Hello']).hits, [{ id: 0, start: 0, end: 5 }])
  t.same(stream(start, [' ', 'Hello']).hits, [], '^ is the start of the stream, not of a push')
  const line: RegexRule[] = [{ pattern: '(?m)^- item', maxMatchLength: 6 }]
  t.same(stream(line, ['x - item\n', '- item', ' - item\n- it', 'em']).hits, [
    { id: 0, start: 9, end: 15 },
    { id: 0, start: 23, end: 29 },
  ])
  const end: RegexRule[] = [{ pattern: 'end$', maxMatchLength: 3 }]
  t.same(stream(end, ['the end', ' of the end']).hits, [{ id: 0, start: 15, end: 18 }], '$ waits for the end of the stream')
})

t.test('a match longer than maxMatchLength is cut there, the same way for every split', async (t) => {
  const digits: RegexRule[] = [{ pattern: '\\d+', maxMatchLength: 4 }]
  const want = [
    { id: 0, start: 3, end: 7 },
    { id: 0, start: 7, end: 11 },
    { id: 0, start: 11, end: 13 },
    { id: 0, start: 14, end: 16 },
  ]
  for (const size of [1, 2, 3, 5, 20]) t.same(stream(digits, fixedPieces('id 1234567890 42', size)).hits, want, `pieces of ${size}`)
})

t.test('many rules due at once go through RE2.Set and agree with exec alone', async (t) => {
  // Twelve rules woken by the same digits: each scan has them all due together.
  const rules: RegexRule[] = []
  for (let n = 2; n < 14; n++) rules.push({ pattern: `\\b\\d{${n}}\\b`, maxMatchLength: n })
  const rnd = mulberry32(99)
  const matcher = compileRegexes(rules)
  let agreed = 0
  for (let round = 0; round < 40; round++) {
    let text = ''
    while (text.length < 300) text += rnd() < 0.5 ? String(Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 13)))) : ' words and ' + (rnd() < 0.2 ? '\n' : '')
    resetRegexStats()
    const got = stream(matcher, randomPieces(text, rnd, 8)).hits
    t.ok(regexStats.setCalls > 0, 'the set was used')
    const want = wholeText(rules, text)
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.same(got, want, JSON.stringify(text))
      return
    }
    agreed++
  }
  t.equal(agreed, 40)
})

t.test('RE2 sees little more than the stream: rescan amplification on prose', async (t) => {
  const rules = benchRules()
  const rnd = mulberry32(3)
  let text = ''
  const words = ['the', 'quick', 'report', 'about', 'the', 'ticket', 'was', 'filed', 'and', 'reviewed', 'by', 'our', 'team', 'on', 'Monday', 'morning']
  while (text.length < 200_000) {
    const r = rnd()
    text += r < 0.002 ? ` ACME-${100000 + Math.floor(rnd() * 899999)}` : r < 0.004 ? ` build-${Math.floor(rnd() * 99)}.corp.example.com` : r < 0.006 ? ' Project Falcon' : ' ' + words[Math.floor(rnd() * words.length)]
    if (rnd() < 0.05) text += '.'
  }
  resetRegexStats()
  const { hits } = stream(rules, fixedPieces(text, 4), false)
  const amplification = regexStats.re2Units / regexStats.streamed
  t.equal(regexStats.streamed, text.length)
  t.ok(hits.length > 150, `matches found (${hits.length})`)
  t.same(hits, wholeText(rules, text))
  t.ok(amplification <= 1.5, `amplification ${amplification.toFixed(3)}`)
})

/** Fifty rules of the kinds operators write: ticket and invoice ids, hosts, code names, accounts. */
function benchRules(): RegexRule[] {
  const rules: RegexRule[] = []
  const teams = ['ACME', 'OPS', 'SEC', 'FIN', 'HR', 'ENG', 'LEG', 'MKT', 'SUP', 'DATA']
  for (const team of teams) rules.push({ pattern: `${team}-[0-9]{6}`, maxMatchLength: team.length + 7 })
  for (const p of ['INV', 'PO', 'ORD', 'CR', 'RMA']) rules.push({ pattern: `${p}-\\d{4,8}`, maxMatchLength: p.length + 9 })
  for (const zone of ['corp', 'internal', 'lab', 'staging', 'prod']) {
    rules.push({ pattern: `[a-z0-9-]+\\.${zone}\\.example\\.com`, maxMatchLength: 64 })
  }
  for (const name of ['falcon|eagle', 'hydra|kraken', 'atlas', 'orion|vega', 'nimbus']) {
    rules.push({ pattern: `(?i)project\\s+(${name})`, maxMatchLength: 40 })
  }
  rules.push({ pattern: '\\bACCT-\\d{10}\\b', maxMatchLength: 15 })
  rules.push({ pattern: '\\b[A-Z]{2}\\d{2}-\\d{4}-\\d{4}\\b', maxMatchLength: 16 })
  rules.push({ pattern: '(?i)\\bemployee\\s+id\\s*:?\\s*\\d{5,7}\\b', maxMatchLength: 40 })
  rules.push({ pattern: '\\b10\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\b', maxMatchLength: 15 })
  rules.push({ pattern: '(?i)\\bconfidential\\b', maxMatchLength: 12 })
  rules.push({ pattern: '(?i)internal use only', maxMatchLength: 17 })
  rules.push({ pattern: 'sk_live_[0-9a-zA-Z]{24}', maxMatchLength: 32 })
  rules.push({ pattern: 'AKIA[0-9A-Z]{16}', maxMatchLength: 20 })
  rules.push({ pattern: 'ghp_[0-9A-Za-z]{36}', maxMatchLength: 40 })
  rules.push({ pattern: '\\bBUG-\\d{3,6}\\b', maxMatchLength: 11 })
  for (let i = 0; rules.length < 50; i++) rules.push({ pattern: `\\bREQ${i}-\\d{5}\\b`, maxMatchLength: 12 })
  return rules
}
