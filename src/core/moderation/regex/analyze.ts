import type { AstNode, CharacterClass, CharacterClassEscape, UnicodePropertyEscape } from 'regjsparser'
import { CodeSet } from './code-set.js'
import { caseClose, foldUnit } from './fold.js'
import { selectivity } from './selectivity.js'

export type ParserFeatures = { namedGroups: true; unicodePropertyEscape: true; modifiers: true; lookbehind: true }
type Node = AstNode<ParserFeatures>

/**
 * What the streaming scanner needs to know about a pattern, read off its syntax tree. Lengths are
 * in UTF-16 code units (an astral code point counts 2), as view offsets are. Every set is a
 * superset of what RE2 can match, so prefilters built from them never drop a real match.
 */
export interface PatternFacts {
  /** Shortest and longest match; max is Infinity when a repetition is unbounded. */
  readonly min: number
  readonly max: number
  /** Code units a match can start with. */
  readonly first: CodeSet
  /** Code units a match of 2+ units can have second; meaningless when `one` is set. */
  readonly second: CodeSet
  /** Some match is a single code unit long, so a start needs no particular second unit. */
  readonly one: boolean
  /** An assertion (\b, \B, $, \z) may look at the code unit after the match. */
  readonly look: boolean
  /** Literals (in foldUnit form), one of which occurs in every match; null when none is known. */
  readonly must: Must | null
  /**
   * Code units that can occur anywhere in a match (with (?i) both cases). A match is contiguous,
   * so it cannot span a unit outside this set: the scanner uses that to stop holding text before
   * one (see runs.ts).
   */
  readonly alphabet: CodeSet
}

/** One of `atoms` occurs in every match, starting preMin..preMax units after the match start and
 * followed by at most `post` units of the match. */
export interface Must {
  readonly atoms: readonly string[]
  readonly preMin: number
  readonly preMax: number
  readonly post: number
}

/** A construct the analysis cannot read although the parser produced it. */
export class UnsupportedConstruct extends Error {}

interface Ctx {
  readonly ci: boolean
  readonly dotAll: boolean
}

interface Info {
  min: number
  max: number
  /** null: empty. Sets are never mutated after they are built, so children's sets are shared. */
  first: CodeSet | null
  second: CodeSet | null
  one: boolean
  look: boolean
  /** Every string the node can match (foldUnit form), when that set is small; else null. */
  exact: string[] | null
  /** Used when exact is null. */
  must: Must | null
  /** Every unit a match can contain; null: none (an assertion, or nothing at all). */
  alpha: CodeSet | null
}

const EXACT_CAP = 128
const EXACT_LEN_CAP = 64
const MUST_CAP = 256
const LEAF_ENUM_CAP = 10

const LOW_SURROGATES = CodeSet.range(0xdc00, 0xdfff)

export function analyzePattern(ast: Node, caseInsensitive: boolean): PatternFacts {
  const info = walk(ast, { ci: caseInsensitive, dotAll: false })
  return {
    min: info.min,
    max: info.max,
    first: info.first ?? new CodeSet(),
    second: info.second ?? new CodeSet(),
    one: info.one,
    look: info.look,
    must: toMust(info),
    alphabet: info.alpha ?? new CodeSet(),
  }
}

function walk(n: Node, ctx: Ctx): Info {
  switch (n.type) {
    case 'value':
      return leaf(leafOfCodePoint(n.codePoint), ctx)
    case 'dot': {
      const l = new LeafSet()
      l.bmp.addRange(0, 0xffff)
      // RE2's dot skips only \n (JavaScript's also skips \r, U+2028, U+2029): the larger set is kept.
      if (!ctx.dotAll) l.bmp.bits[0]! &= ~(1 << 0x0a)
      l.allAstral = true
      return leaf(l, ctx)
    }
    case 'characterClassEscape': {
      const l = new LeafSet()
      addClassEscape(l, n)
      return leaf(l, ctx)
    }
    case 'unicodePropertyEscape': {
      const l = new LeafSet()
      addPropertyEscape(l, n)
      return leaf(l, ctx)
    }
    case 'characterClass':
      return leaf(leafOfClass(n), ctx)
    case 'anchor':
      return {
        min: 0,
        max: 0,
        first: null,
        second: null,
        one: false,
        look: n.kind !== 'start',
        exact: [''],
        must: null,
        alpha: null,
      }
    case 'alternative':
      return sequence(n.body, ctx)
    case 'disjunction': {
      let acc: Info | null = null
      for (const b of n.body) {
        const i = walk(b, ctx)
        acc = acc === null ? i : alternate(acc, i)
      }
      return acc ?? empty()
    }
    case 'group': {
      let inner = ctx
      if (n.behavior === 'ignore' && n.modifierFlags) {
        const { enabling, disabling } = n.modifierFlags
        inner = {
          ci: enabling.includes('i') ? true : disabling.includes('i') ? false : ctx.ci,
          dotAll: enabling.includes('s') ? true : disabling.includes('s') ? false : ctx.dotAll,
        }
      } else if (n.behavior !== 'ignore' && n.behavior !== 'normal') {
        throw new UnsupportedConstruct(`${n.behavior} group`)
      }
      return sequence(n.body, inner)
    }
    case 'quantifier':
      return repeat(walk(n.body[0], ctx), n.min, n.max ?? Infinity)
    case 'reference':
      throw new UnsupportedConstruct('backreference')
    default:
      throw new UnsupportedConstruct((n as { type: string }).type)
  }
}

/**
 * A concatenation. Runs of items with small exact sets are joined first, so that the literal in
 * `[a-z]+\.corp\.example\.com` is ".corp.example.com" and not its first ".".
 */
function sequence(nodes: readonly Node[], ctx: Ctx): Info {
  let acc = empty()
  let run: Info | null = null
  for (const node of nodes) {
    const i = walk(node, ctx)
    if (run !== null && run.exact && i.exact && run.exact.length * i.exact.length <= EXACT_CAP) {
      run = concat(run, i)
      if (run.exact) continue
    }
    if (run !== null) acc = concat(acc, run)
    run = i
  }
  return run === null ? acc : concat(acc, run)
}

function empty(): Info {
  return { min: 0, max: 0, first: null, second: null, one: false, look: false, exact: [''], must: null, alpha: null }
}

/** Members of one single-character construct: BMP code points as units, astral ones apart. */
class LeafSet {
  readonly bmp = new CodeSet()
  readonly astral: Array<[number, number]> = []
  allAstral = false
  /** Contains members (a Unicode property) whose exact list is not worked out. */
  vague = false

  addRange(lo: number, hi: number): void {
    if (lo <= 0xffff) this.bmp.addRange(lo, Math.min(hi, 0xffff))
    if (hi >= 0x10000) this.astral.push([Math.max(lo, 0x10000), hi])
  }
}

function leafOfCodePoint(cp: number): LeafSet {
  const l = new LeafSet()
  l.addRange(cp, cp)
  return l
}

// RE2's Perl classes are ASCII-only; \s is [\t\n\f\r ] (no \v, no Unicode spaces).
const DIGIT: ReadonlyArray<readonly [number, number]> = [[0x30, 0x39]]
const WORD: ReadonlyArray<readonly [number, number]> = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]]
const SPACE: ReadonlyArray<readonly [number, number]> = [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]]

function addClassEscape(l: LeafSet, n: CharacterClassEscape): void {
  const v = n.value
  const ranges = v === 'd' || v === 'D' ? DIGIT : v === 'w' || v === 'W' ? WORD : SPACE
  if (v === 'd' || v === 'w' || v === 's') {
    for (const [a, b] of ranges) l.bmp.addRange(a, b)
    return
  }
  const s = new CodeSet()
  for (const [a, b] of ranges) s.addRange(a, b)
  l.bmp.addAll(s.complement())
  l.allAstral = true
}

function addPropertyEscape(l: LeafSet, n: UnicodePropertyEscape): void {
  // Membership is worked out exactly for ASCII (JavaScript and RE2 agree there); beyond ASCII
  // every unit is taken as a possible member.
  const ascii = asciiMembers(n.value)
  for (let u = 0; u < 128; u++) if (ascii === null || ascii[u] !== n.negative) l.bmp.add(u)
  l.bmp.addRange(0x80, 0xffff)
  l.allAstral = true
  l.vague = true
}

function asciiMembers(name: string): boolean[] | null {
  for (const spelled of [name, `Script=${name}`]) {
    let re: RegExp
    try {
      re = new RegExp(`^\\p{${spelled}}$`, 'u')
    } catch {
      continue
    }
    const out: boolean[] = []
    for (let u = 0; u < 128; u++) out.push(re.test(String.fromCharCode(u)))
    return out
  }
  return null
}

function leafOfClass(n: CharacterClass<ParserFeatures>): LeafSet {
  const l = new LeafSet()
  for (const item of n.body) {
    switch (item.type) {
      case 'value':
        l.addRange(item.codePoint, item.codePoint)
        break
      case 'characterClassRange':
        l.addRange(item.min.codePoint, item.max.codePoint)
        break
      case 'characterClassEscape':
        addClassEscape(l, item)
        break
      case 'unicodePropertyEscape':
        addPropertyEscape(l, item)
        break
      default:
        throw new UnsupportedConstruct((item as { type: string }).type)
    }
  }
  if (!n.negative) return l
  const neg = new LeafSet()
  // Negated before case closure: with (?i) the superset of both orders is what leaf() produces.
  neg.bmp.addAll(l.bmp.complement())
  neg.allAstral = true
  neg.vague = l.vague
  return neg
}

function leaf(l: LeafSet, ctx: Ctx): Info {
  let bmp = ctx.ci ? caseClose(l.bmp) : l.bmp
  // Astral letters have case partners too; under (?i) any astral member stands for all of them.
  const allAstral = l.allAstral || (ctx.ci && l.astral.length > 0)
  // RE2 receives lone surrogates as U+FFFD: a class that matches U+FFFD matches them.
  if (bmp.has(0xfffd) && !bmp.hasAnyIn(0xd800, 0xdfff)) {
    bmp = bmp.clone()
    bmp.addRange(0xd800, 0xdfff)
  }
  const hasBmp = !bmp.isEmpty()
  const hasAstral = allAstral || l.astral.length > 0
  const first = bmp.clone()
  if (allAstral) first.addRange(0xd800, 0xdbff)
  else for (const [a, b] of l.astral) first.addRange(0xd800 + ((a - 0x10000) >> 10), 0xd800 + ((b - 0x10000) >> 10))
  let alpha = first
  if (hasAstral) {
    alpha = first.clone()
    alpha.addAll(LOW_SURROGATES)
  }
  return {
    min: hasBmp || !hasAstral ? 1 : 2,
    max: hasAstral ? 2 : 1,
    first,
    second: hasAstral ? LOW_SURROGATES : null,
    one: hasBmp,
    look: false,
    exact: allAstral || l.vague ? null : enumerate(bmp, l.astral),
    must: null,
    alpha,
  }
}

/** The strings (foldUnit form) a small leaf matches, or null when there are too many. */
function enumerate(bmp: CodeSet, astral: ReadonlyArray<readonly [number, number]>): string[] | null {
  let astralCount = 0
  for (const [a, b] of astral) astralCount += b - a + 1
  if (astralCount > LEAF_ENUM_CAP || bmp.size > 2 * LEAF_ENUM_CAP + 4) return null
  const out = new Set<string>()
  bmp.forEach((u) => out.add(String.fromCharCode(foldUnit(u))))
  for (const [a, b] of astral) for (let cp = a; cp <= b; cp++) out.add(String.fromCodePoint(cp))
  return out.size <= LEAF_ENUM_CAP ? [...out] : null
}

function union(a: CodeSet | null, b: CodeSet | null): CodeSet | null {
  if (a === null || a === b) return b
  if (b === null) return a
  const s = a.clone()
  s.addAll(b)
  return s
}

function concat(a: Info, b: Info): Info {
  const aNull = a.min === 0
  let exact: string[] | null = null
  if (a.exact && b.exact && a.exact.length * b.exact.length <= EXACT_CAP) {
    const out = new Set<string>()
    for (const x of a.exact) for (const y of b.exact) out.add(x + y)
    if ([...out].every((s) => s.length <= EXACT_LEN_CAP)) exact = [...out]
  }
  let must: Must | null = null
  if (exact === null) {
    const ma = toMust(a)
    const mb = toMust(b)
    must = better(
      ma && { atoms: ma.atoms, preMin: ma.preMin, preMax: ma.preMax, post: ma.post + b.max },
      mb && { atoms: mb.atoms, preMin: a.min + mb.preMin, preMax: a.max + mb.preMax, post: mb.post },
    )
  }
  return {
    min: a.min + b.min,
    max: a.max + b.max,
    first: aNull ? union(a.first, b.first) : a.first,
    // The second unit comes from a's own second unit, from b's first unit when a matched exactly
    // one unit, or from b's second unit when a matched nothing.
    second: union(union(a.second, a.one ? b.first : null), aNull ? b.second : null),
    one: (a.one && b.min === 0) || (aNull && b.one),
    look: a.look || b.look,
    exact,
    must,
    alpha: union(a.alpha, b.alpha),
  }
}

function alternate(a: Info, b: Info): Info {
  let exact: string[] | null = null
  if (a.exact && b.exact) {
    const out = new Set([...a.exact, ...b.exact])
    if (out.size <= EXACT_CAP) exact = [...out]
  }
  let must: Must | null = null
  if (exact === null) {
    const ma = toMust(a)
    const mb = toMust(b)
    if (ma && mb) {
      const atoms = new Set([...ma.atoms, ...mb.atoms])
      if (atoms.size <= MUST_CAP) {
        must = {
          atoms: [...atoms],
          preMin: Math.min(ma.preMin, mb.preMin),
          preMax: Math.max(ma.preMax, mb.preMax),
          post: Math.max(ma.post, mb.post),
        }
      }
    }
  }
  return {
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    first: union(a.first, b.first),
    second: union(a.second, b.second),
    one: a.one || b.one,
    look: a.look || b.look,
    exact,
    must,
    alpha: union(a.alpha, b.alpha),
  }
}

function repeat(a: Info, lo: number, hi: number): Info {
  if (hi === 0) return { ...empty(), look: a.look }
  let exact: string[] | null = null
  if (a.exact && hi <= 8) {
    let level = new Set([''])
    const out = new Set<string>(lo === 0 ? [''] : [])
    for (let k = 1; k <= hi && exact === null; k++) {
      const next = new Set<string>()
      for (const x of level) for (const y of a.exact) next.add(x + y)
      if (next.size > EXACT_CAP) break
      level = next
      if (k >= lo) for (const s of level) out.add(s)
      if (k === hi && out.size <= EXACT_CAP && [...out].every((s) => s.length <= EXACT_LEN_CAP)) exact = [...out]
    }
  }
  let must: Must | null = null
  if (exact === null && lo >= 1) {
    const m = toMust(a)
    // The literal may sit in any of the copies.
    const before = hi === Infinity || a.max === Infinity ? Infinity : (hi - 1) * a.max
    if (m) must = { atoms: m.atoms, preMin: m.preMin, preMax: before + m.preMax, post: before + m.post }
  }
  const aNull = a.min === 0
  return {
    min: lo * a.min,
    max: a.max === 0 ? 0 : hi * a.max,
    first: a.first,
    second: hi >= 2 ? union(a.second, a.one ? a.first : null) : a.second,
    one: a.one && (lo <= 1 || aNull),
    look: a.look,
    exact,
    must,
    alpha: a.alpha,
  }
}

function toMust(i: Info): Must | null {
  if (i.exact === null) return i.must
  if (i.exact.length === 0 || i.exact.includes('')) return null
  return { atoms: i.exact, preMin: 0, preMax: 0, post: 0 }
}

export function mustScore(m: Must): number {
  return selectivity(m.atoms)
}

function better(a: Must | null, b: Must | null): Must | null {
  if (a === null) return b
  if (b === null) return a
  const sa = mustScore(a)
  const sb = mustScore(b)
  if (sa !== sb) return sa > sb ? a : b
  return b.preMax - b.preMin < a.preMax - a.preMin ? b : a
}

