import RE2 from 're2'
import type { CompiledMatcher, StreamScanner } from '../types.js'
import type { PatternFacts } from './analyze.js'
import { buildRunGroups, type RunGroups, type TrackRuns } from './runs.js'
import { RegexScanner } from './scanner.js'
import { chooseTrigger, type Trigger } from './trigger.js'
import { buildTriggerAutomaton, MAX_AUTOMATON_CELLS, type TriggerAutomaton } from './trigger-automaton.js'
import { checkRegexRule } from './validate.js'

type RE2Set = InstanceType<typeof RE2.Set>

export interface RegexRule {
  readonly pattern: string
  readonly caseInsensitive?: boolean
  readonly maxMatchLength: number
}

/**
 * Everything the per-stream scanners share, built once per policy snapshot. By rule index:
 *  - maxLength: the operator's maxMatchLength; a longer match is cut there;
 *  - window: the longest match the scanner waits for, min(maxMatchLength, longest possible);
 *  - span: window plus the one unit after the match that \b or $ may look at. A match starting at
 *    s is final once s + span ≤ view length, and a start younger than that is held;
 *  - preMin/preMax/post: where the rule's trigger literal sits in a match (see trigger.ts).
 */
export interface RegexProgram {
  readonly count: number
  readonly re: readonly RE2[]
  readonly maxLength: Int32Array
  readonly window: Int32Array
  readonly span: Int32Array
  readonly preMin: Int32Array
  readonly preMax: Int32Array
  readonly post: Int32Array
  /** Rules without a trigger: searched wherever the hold-back window passes. */
  readonly always: Int32Array
  readonly automaton: TriggerAutomaton | null
  /** Trigger literal id → its rules: atomRules[atomRuleStart[id] .. atomRuleStart[id + 1]). */
  readonly atomRuleStart: Int32Array
  readonly atomRules: Int32Array
  /**
   * By code unit, for a position whose first unit it is: the longest span of an untracked rule
   * that can start there (bits 0-12), of a tracked one (bits 13-25), and the tracked groups that
   * can (bits 26-31, one per group). See START_* below. 0: no rule can start there.
   */
  readonly firstInfo: Int32Array
  /** By ASCII pair (first << 7 | second): the same, knowing the second unit as well. */
  readonly pairInfo: Int32Array
  /** The longest span of any rule (at least 1). */
  readonly maxSpan: number
  /** Rules whose hold stops at the start of the run of their alphabet (runs.ts); the others are untracked. */
  readonly runs: RunGroups
  /** All rules as one RE2.Set (null when it cannot be built); made on first use. */
  set(): RE2Set | null
  /** Rules due in one scan from which the set is consulted first. */
  readonly setMinDue: number
}

/** Fields of firstInfo/pairInfo. Spans are at most MAX_MATCH_LENGTH_LIMIT + 1 < 2^13. */
export const START_SPAN = 0x1fff
export const START_TRACKED_SHIFT = 13
export const START_GROUPS_SHIFT = 26

/**
 * With this many rules due in one scan, one RE2.Set pass over their common text first picks the
 * ones worth an exec of their own. Any RE2 call costs about 3 µs through the re2 package (UTF-8
 * conversion, result objects) whatever the pattern, so the Set pays once it spares one exec.
 * Measured on 5 MB of prose in 4-unit pushes (RE2 calls per run): 50 literal-triggered rules
 * 15,790 / 10,067 / 10,025 / 11,593 with the Set from 1 / 2 / 3 due rules / never; 20 number
 * formats woken by the same digits 180 K / 180 K / 188 K / 1.47 M.
 */
export const SET_MIN_DUE = 2

export interface CompileOptions {
  /** See SET_MIN_DUE. */
  setMinDue?: number
  /** Which alphabet groups stop the hold at the start of their run (runs.ts); 'auto' by default. */
  trackRuns?: TrackRuns
}

export function compileRegexes(rules: readonly RegexRule[], options: CompileOptions = {}): CompiledMatcher {
  const program = buildProgram(rules, options.setMinDue, options.trackRuns)
  return {
    view: 'literal',
    scanner(): StreamScanner {
      return new RegexScanner(program)
    },
  }
}

export function buildProgram(rules: readonly RegexRule[], setMinDue = SET_MIN_DUE, trackRuns: TrackRuns = 'auto'): RegexProgram {
  const n = rules.length
  const re: RE2[] = []
  const facts: PatternFacts[] = rules.map((r, i) => {
    const c = checkRegexRule(r.pattern, { caseInsensitive: r.caseInsensitive === true }, r.maxMatchLength)
    if (!c.ok) throw new Error(`regex rule ${i}: ${c.message}`)
    re.push(c.re)
    return c.facts
  })
  const maxLength = Int32Array.from(rules, (r) => r.maxMatchLength)
  const window = Int32Array.from(facts, (f, i) => Math.min(maxLength[i]!, f.max))
  const span = Int32Array.from(facts, (f, i) => window[i]! + (f.look ? 1 : 0))
  const triggers: (Trigger | null)[] = facts.map((f, i) => chooseTrigger(f, window[i]!))
  fitAutomaton(triggers)

  const preMin = new Int32Array(n)
  const preMax = new Int32Array(n)
  const post = new Int32Array(n)
  const always: number[] = []
  const atomIds = new Map<string, number[]>()
  triggers.forEach((t, r) => {
    if (t === null) {
      always.push(r)
      return
    }
    preMin[r] = t.preMin
    preMax[r] = t.preMax
    post[r] = t.post
    for (const a of new Set(t.atoms)) {
      let list = atomIds.get(a)
      if (!list) atomIds.set(a, (list = []))
      list.push(r)
    }
  })
  const atoms = [...atomIds.keys()]
  const atomRuleStart = new Int32Array(atoms.length + 1)
  const atomRules: number[] = []
  atoms.forEach((a, id) => {
    atomRules.push(...atomIds.get(a)!)
    atomRuleStart[id + 1] = atomRules.length
  })

  const runs = buildRunGroups(facts, span, trackRuns)
  const firstInfo = new Int32Array(65536)
  const pairInfo = new Int32Array(128 * 128)
  let maxSpan = 1
  // Raises the span field at `shift` of info[at] to w and sets `groups`.
  const widen = (info: Int32Array, at: number, shift: number, w: number, groups: number): void => {
    let v = info[at]!
    if (((v >>> shift) & START_SPAN) < w) v = (v & ~(START_SPAN << shift)) | (w << shift)
    info[at] = v | groups
  }
  facts.forEach((f, r) => {
    const w = span[r]!
    maxSpan = Math.max(maxSpan, w)
    const g = runs.groupOf[r]!
    const shift = g < 0 ? 0 : START_TRACKED_SHIFT
    const groups = g < 0 ? 0 : 1 << (START_GROUPS_SHIFT + g)
    f.first.forEach((u) => widen(firstInfo, u, shift, w, groups))
    for (let a = 0; a < 128; a++) {
      if (!f.first.has(a)) continue
      for (let b = 0; b < 128; b++) if (f.one || f.second.has(b)) widen(pairInfo, (a << 7) | b, shift, w, groups)
    }
  })

  let set: RE2Set | null | undefined
  return {
    count: n,
    re,
    maxLength,
    window,
    span,
    preMin,
    preMax,
    post,
    always: Int32Array.from(always),
    automaton: atoms.length > 0 ? buildTriggerAutomaton(atoms) : null,
    atomRuleStart,
    atomRules: Int32Array.from(atomRules),
    firstInfo,
    pairInfo,
    maxSpan,
    runs,
    setMinDue,
    set() {
      if (set === undefined) {
        try {
          set = new RE2.Set(
            rules.map((r) => (r.caseInsensitive ? '(?i)' : '') + r.pattern),
            'u',
          )
        } catch {
          set = null
        }
      }
      return set
    },
  }
}

/** Drops the triggers with the most literal text until the automaton fits its table budget. */
function fitAutomaton(triggers: (Trigger | null)[]): void {
  for (;;) {
    const units = new Set<number>()
    let total = 1
    let biggest = -1
    let biggestUnits = 0
    triggers.forEach((t, r) => {
      if (!t) return
      let mine = 0
      for (const a of t.atoms) {
        mine += a.length
        for (let i = 0; i < a.length; i++) units.add(a.charCodeAt(i))
      }
      total += mine
      if (mine > biggestUnits) {
        biggestUnits = mine
        biggest = r
      }
    })
    if (biggest < 0 || total * (units.size + 1) <= MAX_AUTOMATON_CELLS) return
    triggers[biggest] = null
  }
}
