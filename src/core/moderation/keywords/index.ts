import type { CompiledMatcher, StreamScanner } from '../types.js'
import { buildAutomaton } from './automaton.js'
import { groupKeywords, type KeywordEntry } from './keyword-set.js'
import { buildHoldDepths } from './hold-depth.js'
import { KeywordScanner } from './scanner.js'

export type { KeywordEntry } from './keyword-set.js'

/**
 * Compiles keyword rules into one matcher over the folded view. A hit's id is the index of its
 * entry; entries sharing a text each get their own hit. Empty texts never match.
 */
export function compileKeywords(entries: readonly KeywordEntry[]): CompiledMatcher {
  const set = groupKeywords(entries)
  const automaton = buildAutomaton(set.patterns)
  const holdDepths = buildHoldDepths(automaton, set)
  return {
    view: 'folded',
    scanner: (): StreamScanner => new KeywordScanner(automaton, set, holdDepths),
  }
}
