import type { PatternFacts } from './analyze.js'
import { CodeSet } from './code-set.js'
import { proseShare } from './selectivity.js'

/**
 * Alphabet runs. A match is contiguous and every unit of it lies in the rule's alphabet
 * (PatternFacts.alphabet), so a start followed, anywhere before the end of the view, by a unit
 * outside that alphabet has a match that ends before that unit (and an assertion after the match
 * reads at most that unit): it can be decided now. Only starts inside the run of alphabet units
 * at the end of the view need holding. For `[a-z0-9-]+\.corp\.example\.com` over prose that is
 * the current word instead of the last maxMatchLength units.
 *
 * Rules with the same alphabet form a group; up to MAX_GROUPS groups are tracked, one bit each.
 * The scanner learns where each group's run starts with one more table load (and two stores) per
 * code unit, whatever the number of groups: it records the last position of each value of the
 * halves of `inside[unit]`, and a group's run starts after the latest of those whose value lacks
 * the group's bit.
 */
export interface RunGroups {
  readonly count: number
  /** By code unit: bit g is set when the unit is in group g's alphabet. */
  readonly inside: Uint8Array
  /** By rule: its tracked group, or -1 (held as if its alphabet were everything). */
  readonly groupOf: Int8Array
  /** By group and ASCII pair ((g << 14) | (first << 7) | second): the longest span of the group's rules that can start so. */
  readonly pairSpan: Uint16Array
  /** By group and ASCII first unit ((g << 7) | first): the same, knowing only the first unit. */
  readonly firstSpan: Uint16Array
  /** By group: the non-ASCII units its rules can start with, all held for `wideSpan[g]`. */
  readonly wideFirst: readonly CodeSet[]
  readonly wideSpan: Uint16Array
}

/** The scanner's per-pair table has room for this many group bits (compile.ts). */
export const MAX_GROUPS = 6

/**
 * A group is tracked by default when tracking it spares, by a rough estimate over English prose,
 * at least this many held units per position: (share of positions that can start one of its
 * rules) × (the rule's span − the mean run length of the alphabet). Tracking costs a little per
 * push and group, so alphabets that prose rarely breaks (\S, `.`) or whose starts are rare
 * (ACME-…) stay untracked.
 */
export const MIN_GROUP_SCORE = 0.01

/** 'auto': the groups worth it (MIN_GROUP_SCORE); 'all': every group with a foreign unit; 'none'. */
export type TrackRuns = 'auto' | 'all' | 'none'

interface Group {
  alphabet: CodeSet
  rules: number[]
  score: number
}

const HIGH_SURROGATES = CodeSet.range(0xd800, 0xdbff)

export function buildRunGroups(facts: readonly PatternFacts[], span: Int32Array, track: TrackRuns = 'auto'): RunGroups {
  const byKey = new Map<string, Group>()
  if (track !== 'none') {
    facts.forEach((f, r) => {
      // A high surrogate at the end of the view is not readable yet (RE2 would see U+FFFD): it
      // never ends a run, its low half does.
      const alphabet = f.alphabet.clone()
      alphabet.addAll(HIGH_SURROGATES)
      const key = alphabet.bits.join(',')
      let g = byKey.get(key)
      if (!g) byKey.set(key, (g = { alphabet, rules: [], score: 0 }))
      g.rules.push(r)
    })
  }
  const chosen: Group[] = []
  for (const g of byKey.values()) {
    const outside = g.alphabet.complement()
    if (outside.isEmpty()) continue
    const meanRun = 1 / Math.max(1e-9, proseShare(outside))
    for (const r of g.rules) {
      const f = facts[r]!
      const starts = proseShare(f.first) * (f.one ? 1 : proseShare(f.second))
      g.score += starts * Math.max(0, span[r]! - meanRun)
    }
    if (track === 'all' || g.score >= MIN_GROUP_SCORE) chosen.push(g)
  }
  chosen.sort((a, b) => b.score - a.score)
  chosen.length = Math.min(chosen.length, MAX_GROUPS)

  const n = chosen.length
  const inside = new Uint8Array(65536)
  const groupOf = new Int8Array(facts.length).fill(-1)
  const pairSpan = new Uint16Array(n << 14)
  const firstSpan = new Uint16Array(n << 7)
  const wideFirst: CodeSet[] = []
  const wideSpan = new Uint16Array(n)
  chosen.forEach((g, id) => {
    const bit = 1 << id
    g.alphabet.forEach((u) => {
      inside[u]! |= bit
    })
    const wide = new CodeSet()
    for (const r of g.rules) {
      groupOf[r] = id
      const f = facts[r]!
      const w = span[r]!
      for (let a = 0; a < 128; a++) {
        if (!f.first.has(a)) continue
        if (firstSpan[(id << 7) | a]! < w) firstSpan[(id << 7) | a] = w
        for (let b = 0; b < 128; b++) {
          const at = (id << 14) | (a << 7) | b
          if ((f.one || f.second.has(b)) && pairSpan[at]! < w) pairSpan[at] = w
        }
      }
      const beyond = f.first.clone()
      beyond.bits.fill(0, 0, 4)
      if (!beyond.isEmpty()) {
        wide.addAll(beyond)
        if (wideSpan[id]! < w) wideSpan[id] = w
      }
    }
    wideFirst.push(wide)
  })
  return { count: n, inside, groupOf, pairSpan, firstSpan, wideFirst, wideSpan }
}
