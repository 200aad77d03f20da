import t from 'tap'
import { buildAutomaton, wideStep, type Automaton } from '../../../../src/core/moderation/keywords/automaton.js'
import { mulberry32 } from '../../../helpers/prng.js'

/** One automaton step on a code unit, as a state id, the way a scanner takes it. */
function step(a: Automaton, s: number, c: number): number {
  if (c < 128) {
    const next = a.delta[(s << a.shift) + a.column[c]!]!
    return (next < 0 ? ~next : next) >> a.shift
  }
  if (a.wideAlphabet === null || a.wideAlphabet[c] === 0) return 0
  return wideStep(a.wideStart, a.wideCode, a.wideNext, a.fail, s, c)
}

/** The patterns ending in state s, via its own pattern and the output links. */
function outputs(a: Automaton, s: number): number[] {
  const out: number[] = []
  for (let u = a.pattern[s]! >= 0 ? s : a.outLink[s]!; u >= 0; u = a.outLink[u]!) out.push(a.pattern[u]!)
  return out.sort((x, y) => x - y)
}

t.test('every state is the longest suffix that is a pattern prefix, and reports what ends there', async (t) => {
  // Many non-ASCII units, so that states have several wide edges to search among.
  const alphabet = [...'abcde -', ...'жзийк', ...'中文字', '\uD835', '\uDC9C', '\uDC9D']
  for (let seed = 1; seed <= 200; seed++) {
    const rand = mulberry32(seed)
    const pick = (n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]!).join('')
    const patterns = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => pick(1 + Math.floor(rand() * 6))))]
    const a = buildAutomaton(patterns)
    const text = pick(400)
    let s = 0
    for (let n = 1; n <= text.length; n++) {
      s = step(a, s, text.charCodeAt(n - 1))
      const seen = text.slice(0, n)
      let longest = 0
      for (const p of patterns) for (let len = Math.min(p.length, n); len > longest; len--) if (p.startsWith(seen.slice(n - len))) longest = len
      const ending = patterns.flatMap((p, i) => (seen.endsWith(p) ? [i] : []))
      const got = outputs(a, s)
      const emits = a.emits[s] === 1
      if (a.depth[s] !== longest || JSON.stringify(got) !== JSON.stringify(ending) || emits !== ending.length > 0) {
        return void t.fail(
          `seed ${seed}, patterns ${JSON.stringify(patterns)}, after ${JSON.stringify(seen.slice(-8))}: ` +
            `depth ${a.depth[s]} want ${longest}, outputs ${JSON.stringify(got)} want ${JSON.stringify(ending)}, emits ${emits}`,
        )
      }
    }
  }
  t.pass('200 random automata agree with brute force at every position')
})

t.test('the ASCII table has one column per distinct ASCII unit in the patterns, plus one for the rest', async (t) => {
  const a = buildAutomaton(['hello', 'help', 'world'])
  // h e l o p w r d + "other" = 9 columns → stride 16.
  t.equal(a.shift, 4)
  t.equal(a.states, 1 + 5 + 1 + 5)
  t.equal(a.delta.length, a.states * 16)
  t.equal(a.column['?'.charCodeAt(0)], 0)
  t.not(a.column['h'.charCodeAt(0)], 0)
  t.equal(a.wideAlphabet, null, 'no table for non-ASCII units when every pattern is ASCII')
})

t.test('no patterns: one state that never reports', async (t) => {
  const a = buildAutomaton([])
  t.equal(a.states, 1)
  t.equal(a.depth[0], 0)
  t.equal(a.emits[0], 0)
  t.equal(step(a, 0, 'a'.charCodeAt(0)), 0)
})
