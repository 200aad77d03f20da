import RE2 from 're2'
import regjsparser from 'regjsparser'
import { analyzePattern, UnsupportedConstruct, type ParserFeatures, type PatternFacts } from './analyze.js'
import { toParserSyntax } from './syntax.js'

export const MAX_PATTERN_LENGTH = 2000
export const MAX_MATCH_LENGTH_LIMIT = 4096

const FEATURES: ParserFeatures = { namedGroups: true, unicodePropertyEscape: true, modifiers: true, lookbehind: true }

export interface RegexFlags {
  caseInsensitive?: boolean
}

export type RegexValidation =
  | {
      ok: true
      /**
       * The longest match the pattern allows, in UTF-16 code units, or null when unbounded. When
       * it exceeds maxMatchLength the rule still loads: matches are searched within
       * maxMatchLength units of their start, and a longer one is cut there.
       */
      longestMatch: number | null
    }
  | { ok: false; message: string }

export type RegexCheck = { ok: true; facts: PatternFacts; re: RE2 } | { ok: false; message: string }

/** RE2 flags for a rule: `u` is always on in the re2 package; `g` lets exec() start at lastIndex. */
export function re2Flags(flags: RegexFlags): string {
  return flags.caseInsensitive ? 'giu' : 'gu'
}

/**
 * Load-time checks of one regex rule, with messages meant for the operator who wrote it: the
 * construct RE2 cannot run and where it is, RE2's own complaint, or a bad maxMatchLength.
 */
export function validateRegexRule(pattern: string, flags: RegexFlags, maxMatchLength: number): RegexValidation {
  const c = checkRegexRule(pattern, flags, maxMatchLength)
  if (!c.ok) return c
  return { ok: true, longestMatch: Number.isFinite(c.facts.max) ? c.facts.max : null }
}

/** validateRegexRule with the analysis the scanner is built from. */
export function checkRegexRule(pattern: string, flags: RegexFlags, maxMatchLength: number): RegexCheck {
  if (!Number.isInteger(maxMatchLength) || maxMatchLength < 1 || maxMatchLength > MAX_MATCH_LENGTH_LIMIT) {
    return { ok: false, message: `maxMatchLength must be a whole number from 1 to ${MAX_MATCH_LENGTH_LIMIT} (got ${String(maxMatchLength)})` }
  }
  if (typeof pattern !== 'string' || pattern.length === 0) return { ok: false, message: 'the pattern is empty' }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return { ok: false, message: `the pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}` }
  }
  const syntax = toParserSyntax(pattern)
  if (!syntax.ok) return syntax
  let re: RE2
  try {
    re = new RE2(pattern, re2Flags(flags))
  } catch (e) {
    const msg = (e as Error).message
    if (/pattern too large/.test(msg)) {
      return { ok: false, message: `the pattern is too large for RE2: its compiled program exceeds RE2's size limit (${msg}); use smaller counted repetitions such as {n,m} or smaller character classes` }
    }
    return { ok: false, message: `RE2 cannot compile the pattern: ${msg}` }
  }
  let facts: PatternFacts
  try {
    facts = analyzePattern(regjsparser.parse(syntax.source, 'u', FEATURES), flags.caseInsensitive === true)
  } catch (e) {
    const what = e instanceof UnsupportedConstruct ? `a ${e.message}` : (e as Error).message.split('\n')[0]
    return { ok: false, message: `RE2 accepts the pattern but its structure cannot be analysed for streaming (${what}); rewrite it with plain groups, classes and repetitions` }
  }
  if (facts.min === 0) {
    return { ok: false, message: 'the pattern can match empty text (everything in it is optional, like x* or (a|)), which would be a hit at every position; make it require at least one character' }
  }
  return { ok: true, facts, re }
}
