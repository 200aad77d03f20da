import t from 'tap'
import RE2 from 're2'
import type { PatternFacts } from '../../../../src/core/moderation/regex/analyze.js'
import { foldUnit, KELVIN, LONG_S } from '../../../../src/core/moderation/regex/fold.js'
import { chooseTrigger } from '../../../../src/core/moderation/regex/trigger.js'
import { checkRegexRule } from '../../../../src/core/moderation/regex/validate.js'
import { mulberry32 } from '../../../helpers/prng.js'

function facts(pattern: string, caseInsensitive = false): PatternFacts {
  const c = checkRegexRule(pattern, { caseInsensitive }, 4096)
  if (!c.ok) throw new Error(`${pattern}: ${c.message}`)
  return c.facts
}

const units = (s: string): number[] => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i))

t.test("RE2's (?i) maps exactly U+017F and U+212A onto ASCII letters (the fold the triggers rely on)", async (t) => {
  const letters = new RE2('^[a-zA-Z]$', 'iu')
  const others = new RE2('^[\\x00-\\x40\\x5b-\\x60\\x7b-\\x7f]$', 'iu')
  const onLetters: number[] = []
  const onOthers: number[] = []
  for (let u = 0x80; u <= 0xffff; u++) {
    if (u >= 0xd800 && u <= 0xdfff) continue
    const ch = String.fromCharCode(u)
    if (letters.test(ch)) onLetters.push(u)
    if (others.test(ch)) onOthers.push(u)
  }
  t.same(onLetters, [LONG_S, KELVIN])
  t.same(onOthers, [])
  t.equal(foldUnit(KELVIN), 0x6b)
  t.equal(foldUnit(LONG_S), 0x73)
  t.equal(foldUnit(0x41), 0x61)
  t.equal(foldUnit(0xc9), 0xc9, 'other letters are left alone')
})

t.test('first and second code units', async (t) => {
  const ticket = facts('ACME-[0-9]{6}')
  t.same([ticket.first.size, ticket.first.has(0x41)], [1, true])
  t.same([ticket.second.size, ticket.second.has(0x43)], [1, true])
  t.notOk(ticket.one)
  const ci = facts('(?i)k')
  t.ok(ci.first.has(0x6b) && ci.first.has(0x4b) && ci.first.has(KELVIN), 'k, K and the Kelvin sign')
  t.ok(ci.one)
  const viaFlag = facts('s', true)
  t.ok(viaFlag.first.has(0x53) && viaFlag.first.has(LONG_S))
  t.notOk(facts('.x').first.has(0x0a), 'dot skips \\n')
  t.ok(facts('(?s).x').first.has(0x0a), 'unless (?s)')
  const emoji = facts('😀x')
  t.same([emoji.first.size, emoji.first.has(0xd83d)], [1, true], 'an astral character starts with its high surrogate')
  t.ok(emoji.second.has(0xde00))
  const alt = facts('(?:ab|c)d')
  t.same([alt.first.has(0x61), alt.first.has(0x63), alt.second.has(0x62), alt.second.has(0x64)], [true, true, true, true])
  const optional = facts('x?y')
  t.ok(optional.first.has(0x78) && optional.first.has(0x79), 'an optional start lets the next item start too')
  t.ok(optional.one, 'y alone is one unit')
})

t.test('trailing assertions are noticed', async (t) => {
  t.ok(facts('foo\\b').look)
  t.ok(facts('foo$').look)
  t.ok(facts('foo\\z').look)
  t.notOk(facts('^foo').look)
  t.notOk(facts('ACME-[0-9]{6}').look)
})

t.test('the alphabet: every code unit a match can contain', async (t) => {
  const members = (p: string, probe: string): string => [...probe].filter((ch) => [...ch].every((_, i) => facts(p).alphabet.has(ch.charCodeAt(i)))).join('')
  const probe = 'azAZ09-. _\n\u212aſé😀'
  t.equal(members('[a-z0-9-]{1,40}\\.corp\\.example\\.com', probe), 'az09-.', 'the literals join the class')
  t.equal(members('(?i)ask', probe), 'aA\u212aſ', 'both cases, and the Kelvin sign and long s with k and s')
  t.ok(['K', 'k', 'S', 's'].every((ch) => facts('(?i)ask').alphabet.has(ch.charCodeAt(0))))
  t.equal(members('x😀', probe), '😀', 'an astral character brings its surrogates')
  t.equal(members('ab\\b$', 'ab '), 'ab', 'assertions bring nothing')
  t.equal(members('a(?:zz){0}', probe), 'a', 'nor does a repetition of zero')
  t.equal(facts('.').alphabet.size, 0xffff, 'a dot: everything but \\n')
  t.equal(facts('\\S').alphabet.size, 0x10000 - 5, '\\S: everything but RE2\'s five spaces')
  t.equal(facts('[^a]').alphabet.size, 0x10000 - 1)
})

t.test('trigger literals', async (t) => {
  const trig = (p: string, window = 64) => {
    const f = facts(p)
    const tr = chooseTrigger(f, Math.min(window, f.max))
    return tr && { atoms: [...tr.atoms].sort(), pre: [tr.preMin, tr.preMax], post: tr.post }
  }
  t.same(trig('ACME-[0-9]{6}'), { atoms: ['acme-'], pre: [0, 0], post: 6 })
  t.same(trig('[a-z0-9-]+\\.corp\\.example\\.com'), { atoms: ['.corp.example.com'], pre: [1, 47], post: 0 })
  t.same(trig('colou?r'), { atoms: ['color', 'colour'], pre: [0, 0], post: 0 })
  t.same(trig('(?i)project\\s+(falcon|eagle)', 40), { atoms: ['project'], pre: [0, 0], post: 33 })
  t.same(trig('(?:cat|dog)\\d+'), { atoms: ['cat', 'dog'], pre: [0, 0], post: 61 })
  t.same(trig('[a-z]{2}\\d-\\d{4}'), { atoms: ['0-', '1-', '2-', '3-', '4-', '5-', '6-', '7-', '8-', '9-'], pre: [2, 2], post: 4 })
  const digits = trig('\\d{3}-\\d{4}')
  t.same([digits?.atoms.length, digits?.atoms[0], digits?.pre], [100, '00', [0, 0]], 'digit pairs beat a lone "-"')
  t.equal(trig('(?s).{3}'), null, 'nothing selective: searched everywhere')
  t.equal(trig('\\S{4}'), null)
})

// Pieces of random patterns, and text drawn from what they mention.
const PIECES = ['a', 'b', 'k', 'S', 'ACME-', 'é', '😀', '\\d', '\\w', '\\s', '.', '[a-c]', '[^a ]', '[[:upper:]]', '[[:^alpha:]]', '\\pL', '\\PL', '\\p{Greek}', '\\Q-.\\E', '\\x{e9}', '(?i:k)', '(?-i:S)', '-', ' ', '\\b', '\\B', '^', '$', '\\z', 'x']
const QUANT = ['', '', '', '?', '*', '+', '{2}', '{1,3}']
const ALPHABET = ['a', 'b', 'c', 'k', 'K', '\u212a', 's', 'S', 'ſ', 'ACME-', 'é', 'É', '😀', '1', '42', ' ', '-', '\n', 'x', 'X', 'Ω']

function randomPattern(rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const term = (): string => {
    const base = rnd() < 0.15 ? `(?:${pick(PIECES)}${pick(PIECES)}|${pick(PIECES)})` : pick(PIECES)
    return /^(\\[bBz]|\^|\$)$/.test(base) ? base : base + pick(QUANT)
  }
  let p = ''
  const n = 1 + Math.floor(rnd() * 4)
  for (let i = 0; i < n; i++) p += term()
  return (rnd() < 0.25 ? '(?i)' : '') + p
}

t.test('every match RE2 finds passes the prefilters built from the parse', async (t) => {
  const rnd = mulberry32(5)
  let patterns = 0
  let matches = 0
  for (let round = 0; round < 400; round++) {
    const pattern = randomPattern(rnd)
    const c = checkRegexRule(pattern, {}, 4096)
    if (!c.ok) continue
    patterns++
    const f = c.facts
    const window = Math.min(64, f.max)
    const trigger = chooseTrigger(f, window)
    const re = new RE2(pattern, 'gu')
    for (let k = 0; k < 5; k++) {
      let text = ''
      while (text.length < 60) text += ALPHABET[Math.floor(rnd() * ALPHABET.length)]
      const folded = String.fromCharCode(...units(text).map(foldUnit))
      re.lastIndex = 0
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const s = m.index
        const e = s + m[0].length
        if (e === s) {
          re.lastIndex++
          continue
        }
        matches++
        const where = `${pattern} on ${JSON.stringify(text)} at ${s}: ${JSON.stringify(m[0])}`
        if (!f.first.has(text.charCodeAt(s))) return t.fail(`first unit: ${where}`)
        if (!f.one && (e - s < 2 || !f.second.has(text.charCodeAt(s + 1)))) return t.fail(`second unit: ${where}`)
        if (e - s < f.min || e - s > f.max) return t.fail(`length ${e - s} outside [${f.min}, ${f.max}]: ${where}`)
        for (let i = s; i < e; i++) if (!f.alphabet.has(text.charCodeAt(i))) return t.fail(`unit ${i - s} outside the alphabet: ${where}`)
        if (trigger && e - s <= window) {
          const found = trigger.atoms.some((a) => {
            for (let at = s + trigger.preMin; at <= s + trigger.preMax; at++) {
              if (folded.startsWith(a, at) && at + a.length <= e && e - (at + a.length) <= trigger.post) return true
            }
            return false
          })
          if (!found) return t.fail(`trigger ${JSON.stringify(trigger)}: ${where}`)
        }
      }
    }
  }
  t.ok(patterns > 250, `${patterns} patterns`)
  t.ok(matches > 2000, `${matches} matches checked`)
})
