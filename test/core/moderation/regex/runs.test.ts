import t from 'tap'
import { compileRegexes, type RegexRule } from '../../../../src/core/moderation/regex/index.js'
import { buildProgram } from '../../../../src/core/moderation/regex/compile.js'
import { MAX_GROUPS } from '../../../../src/core/moderation/regex/runs.js'
import { checkRegexRule } from '../../../../src/core/moderation/regex/validate.js'
import { mulberry32 } from '../../../helpers/prng.js'
import { fixedPieces, randomPieces, stream, StrictView, wholeText } from './stream-harness.js'

const CORP: RegexRule = { pattern: '[a-z0-9-]{1,40}\\.corp\\.example\\.com', maxMatchLength: 60 }

/** Pushes `pieces` one by one and returns the text still held after each push. */
function heldAfter(rules: readonly RegexRule[], pieces: readonly string[], trackRuns?: 'auto' | 'all' | 'none'): string[] {
  const scanner = compileRegexes(rules, trackRuns ? { trackRuns } : {}).scanner()
  const view = new StrictView()
  const out: string[] = []
  for (const p of pieces) {
    view.append(p)
    scanner.scan(view, false, [])
    out.push(view.slice(scanner.holdFrom()))
  }
  return out
}

t.test('only the run of the alphabet at the end is held: prose before the current word is released', async (t) => {
  t.same(heldAfter([CORP], ['see the build']), ['build'])
  t.same(heldAfter([CORP], ['see build-7.corp.exa']), ['build-7.corp.exa'])
  t.same(heldAfter([CORP], ['see ', 'the ', 'bu', 'ild', '-7', '.corp.exa', 'mple.com', ' ok']), ['', '', 'bu', 'build', 'build-7', 'build-7.corp.exa', 'build-7.corp.example.com', 'ok'])
  // Without runs the same rule holds everything that could still start a hostname.
  t.same(heldAfter([CORP], ['see the build'], 'none'), ['see the build'])
  t.same(heldAfter([CORP], ['see the build'], 'auto'), ['build'], "tracked by default: its starts are everywhere in prose")
  const { hits } = stream([CORP], fixedPieces('see build-7.corp.example.com now', 3))
  t.same(hits, [{ id: 0, start: 4, end: 28 }])
})

t.test('assertions after the match still see the unit that ends the run', async (t) => {
  const word: RegexRule[] = [{ pattern: '\\b[a-z]{3,5}\\b', maxMatchLength: 5 }]
  // "abcdef" is too long for a word of 3-5 letters: known only once the run ends.
  t.same(stream(word, ['ab', 'cdef', ' xyz', '!', 'abc']).hits, [
    { id: 0, start: 7, end: 10 },
    { id: 0, start: 11, end: 14 },
  ])
  t.same(heldAfter(word, ['ab', 'cd', ' x', 'yz.']), ['ab', 'abcd', 'x', ''])
  const end: RegexRule[] = [{ pattern: 'end$', maxMatchLength: 3 }]
  t.same(stream(end, ['the end', ' of the end']).hits, [{ id: 0, start: 15, end: 18 }])
})

t.test('rules with the same alphabet share a group; the groups worth it are tracked', async (t) => {
  const rules: RegexRule[] = [
    CORP,
    { pattern: '[a-z0-9-]+\\.lab\\.example\\.com', maxMatchLength: 64 },
    { pattern: 'ACME-[0-9]{6}', maxMatchLength: 11 },
    { pattern: '(?s).{1,3}x', maxMatchLength: 4 },
  ]
  const auto = buildProgram(rules)
  t.same(Array.from(auto.runs.groupOf), [0, 0, -1, -1], 'tickets start too rarely to be worth it; a dot is never broken by prose')
  t.equal(auto.runs.count, 1)
  t.same(Array.from(buildProgram(rules, undefined, 'none').runs.groupOf), [-1, -1, -1, -1])
  const all = buildProgram(rules, undefined, 'all')
  t.same(Array.from(all.runs.groupOf).map((g) => g >= 0), [true, true, true, false], 'every alphabet with a unit outside it, but the full one')
  const many: RegexRule[] = []
  for (let i = 0; i < 10; i++) many.push({ pattern: `${String.fromCharCode(0x61 + i)}[0-9]{2}`, maxMatchLength: 3 })
  t.equal(buildProgram(many, undefined, 'all').runs.count, MAX_GROUPS, 'at most MAX_GROUPS groups')
})

// Text made of runs of several alphabets and the units that break them.
const FRAGMENTS = [
  'see', 'the', 'build', '-7', '.corp', '.example', '.com', 'x.corp.example.com', ' ', ' ', ' ', '\n', '.', ',', '!',
  'project', 'Project', '  ', 'falcon', 'Eagle', 'end', 'abc', 'abcdef', 'ing', 'walking', 'ks', 'KKs', '\u212as', 'ſ',
  '😀', '😀a', 'é', 'éab', 'AB12', 'CD', '34', '555-1234', '12', '- item', 'x', 'ACME-', '123456',
]

const RULES: RegexRule[] = [
  { pattern: '[a-z0-9-]{1,12}\\.corp\\.example\\.com', maxMatchLength: 29 },
  { pattern: '(?i)project\\s{1,3}(falcon|eagle)', maxMatchLength: 20 },
  { pattern: '\\b[a-z]{3,5}\\b', maxMatchLength: 5 },
  { pattern: '[a-z]{1,6}ing', maxMatchLength: 9 },
  { pattern: 'end$', maxMatchLength: 3 },
  { pattern: 'k{1,3}s', caseInsensitive: true, maxMatchLength: 4 },
  { pattern: '😀[a-z]{1,3}', maxMatchLength: 5 },
  { pattern: '[^ \\n]{2,4}x', maxMatchLength: 5 },
  { pattern: '\\d{3}-\\d{4}', maxMatchLength: 8 },
  { pattern: 'é\\w{1,3}', maxMatchLength: 4 },
  { pattern: '(?m)^- item$', maxMatchLength: 6 },
  { pattern: '[A-Z]{2}\\d{2}', maxMatchLength: 4 },
  { pattern: 'ACME-[0-9]{6}', maxMatchLength: 11 },
  { pattern: '\\S{4}', maxMatchLength: 4 },
]

function randomText(rnd: () => number, pieces: number): string {
  let s = ''
  for (let i = 0; i < pieces; i++) s += FRAGMENTS[Math.floor(rnd() * FRAGMENTS.length)]
  return s
}

/** A random non-empty subset of RULES (at most `max`), so that every rule gets tracked in some rounds. */
function someRules(rnd: () => number, max: number): RegexRule[] {
  const out: RegexRule[] = []
  for (const r of RULES) if (rnd() < max / RULES.length) out.push(r)
  return out.length > 0 ? out.slice(0, max) : [RULES[Math.floor(rnd() * RULES.length)]!]
}

/** Where the run of the rule's alphabet at the end of `text` starts (a high surrogate never ends a run). */
function runStart(rule: RegexRule, text: string): number {
  const c = checkRegexRule(rule.pattern, { caseInsensitive: rule.caseInsensitive === true }, rule.maxMatchLength)
  if (!c.ok) throw new Error(c.message)
  let i = text.length
  while (i > 0) {
    const u = text.charCodeAt(i - 1)
    if (!c.facts.alphabet.has(u) && (u & 0xfc00) !== 0xd800) break
    i--
  }
  return i
}

t.test('with runs tracked, every split still gives the hits of the whole-text search', async (t) => {
  const rnd = mulberry32(424242)
  let compared = 0
  let hitsSeen = 0
  for (let round = 0; round < 300; round++) {
    const rules = someRules(rnd, 5)
    const matcher = compileRegexes(rules, { trackRuns: 'all' })
    const text = randomText(rnd, 10 + Math.floor(rnd() * 50))
    const expected = wholeText(rules, text)
    const fits = rules.map((r, id) => expected.every((h) => h.id !== id || h.end - h.start <= r.maxMatchLength))
    const want = expected.filter((h) => fits[h.id])
    for (const maxPiece of [1, 2, 5, 13, 100_000]) {
      // stream() also fails if the hold point moves back or a hit starts in text already released.
      const got = stream(matcher, randomPieces(text, rnd, maxPiece)).hits.filter((h) => fits[h.id])
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.same(got, want, `round ${round}, pieces ≤ ${maxPiece}, rules ${rules.map((r) => r.pattern).join(' ')}: ${JSON.stringify(text)}`)
        return
      }
      compared++
    }
    hitsSeen += want.length
  }
  t.equal(compared, 1500)
  t.ok(hitsSeen > 400, `the texts produce matches (${hitsSeen})`)
})

t.test('a tracked rule holds at most its run, and never more than without runs', async (t) => {
  const rnd = mulberry32(77)
  let shorter = 0
  for (let round = 0; round < 200; round++) {
    const rules = someRules(rnd, 3)
    const text = randomText(rnd, 30)
    const pieces = randomPieces(text, rnd, 6)
    const tracked = heldAfter(rules, pieces, 'all')
    const plain = heldAfter(rules, pieces, 'none')
    let sofar = ''
    for (let i = 0; i < pieces.length; i++) {
      sofar += pieces[i]
      const where = `round ${round}, rules ${rules.map((r) => r.pattern).join(' ')}, after ${JSON.stringify(sofar)}`
      if (tracked[i]!.length > plain[i]!.length) return t.fail(`holds more with runs (${JSON.stringify(tracked[i])} vs ${JSON.stringify(plain[i])}): ${where}`)
      if (tracked[i]!.length < plain[i]!.length) shorter++
      // With one rule, tracked: nothing before the run of its alphabet is held.
      if (rules.length === 1 && buildProgram(rules, undefined, 'all').runs.count === 1) {
        const run = sofar.length - runStart(rules[0]!, sofar)
        if (tracked[i]!.length > run) return t.fail(`holds ${JSON.stringify(tracked[i])} beyond the run of ${run} units: ${where}`)
      }
    }
  }
  t.ok(shorter > 100, `runs shortened the hold in ${shorter} pushes`)
})
