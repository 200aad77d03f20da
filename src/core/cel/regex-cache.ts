/**
 * The engine behind CEL's `matches`: RE2 (linear time, no backreferences or lookaround), with
 * compiled patterns cached. The library's default engine recompiles the pattern on every call
 * (~18 µs) and is a JavaScript port ~100× slower than RE2 on long inputs.
 */
import RE2 from 're2'

/** Patterns also come from request data (`x.matches(principal.claims.p)`), so the cache is bounded. */
const MAX_CACHED = 1000
const cache = new Map<string, RE2>()

/** The compiled pattern; throws a SyntaxError that names the problem when RE2 rejects it. */
export function compileRegex(pattern: string): RE2 {
  let re = cache.get(pattern)
  if (re === undefined) {
    // 'u': `.` and classes see code points, as CEL's strings are sequences of code points.
    re = new RE2(pattern, 'u')
    if (cache.size >= MAX_CACHED) cache.clear()
    cache.set(pattern, re)
  }
  return re
}

/** The reason RE2 rejects `pattern`, or undefined when it compiles. */
export function regexProblem(pattern: string): string | undefined {
  try {
    compileRegex(pattern)
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

export const regexEngine = { compile: compileRegex }
