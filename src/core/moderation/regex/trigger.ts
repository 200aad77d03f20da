import { mustScore, type Must, type PatternFacts } from './analyze.js'
import type { CodeSet } from './code-set.js'
import { foldUnit } from './fold.js'

/**
 * The literals that wake a rule up: every match contains one of `atoms` (in foldUnit form),
 * starting preMin..preMax units after the match start, with at most `post` units of the match
 * after it. Where the text holds none of them, RE2 never runs for the rule.
 */
export type Trigger = Must

const SINGLES_CAP = 64
const PAIRS_CAP = 1024

/**
 * The most selective trigger for a rule whose matches are at most `window` units long: a literal
 * every match contains, or else the possible first code units (pairs of first and second units
 * when no match is a single unit). null when nothing selective is known: the rule is then searched
 * wherever the hold-back window passes.
 */
export function chooseTrigger(facts: PatternFacts, window: number): Trigger | null {
  let best: Trigger | null = null
  const consider = (t: Trigger | null): void => {
    if (t && (best === null || mustScore(t) > mustScore(best))) best = t
  }
  if (facts.must) consider(clamp(facts.must, window))
  const firsts = folded(facts.first, SINGLES_CAP)
  if (firsts) {
    consider({ atoms: firsts, preMin: 0, preMax: 0, post: Math.max(0, window - 1) })
    const seconds = facts.one ? null : folded(facts.second, SINGLES_CAP)
    if (seconds && firsts.length * seconds.length <= PAIRS_CAP) {
      const atoms: string[] = []
      for (const a of firsts) for (const b of seconds) atoms.push(a + b)
      consider({ atoms, preMin: 0, preMax: 0, post: Math.max(0, window - 2) })
    }
  }
  return best
}

function clamp(m: Must, window: number): Must {
  let minLen = Infinity
  for (const a of m.atoms) minLen = Math.min(minLen, a.length)
  const room = Math.max(0, window - minLen)
  return { atoms: m.atoms, preMin: m.preMin, preMax: Math.min(m.preMax, room), post: Math.min(m.post, room) }
}

/** The distinct folded units of a set, or null when there are more than `cap`. */
function folded(set: CodeSet, cap: number): string[] | null {
  if (set.isEmpty() || set.size > 4 * cap) return null
  const out = new Set<string>()
  set.forEach((u) => out.add(String.fromCharCode(foldUnit(u))))
  return out.size <= cap ? [...out] : null
}
