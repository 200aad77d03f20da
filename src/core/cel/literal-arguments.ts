/**
 * String literals passed to functions that can be judged at load rather than failing on every
 * request: regular expressions, time zones, timestamps and durations.
 */
import { isCelError, plan, type parse } from '@bufbuild/cel'
import { celEnvironment } from './environment.js'
import { regexProblem } from './regex-cache.js'
import type { StaticType } from './static-types.js'
import { TIME_ZONE_FIELDS, unknownTimeZoneMessage } from './time-accessors.js'
import { timeZone } from './time-zone.js'

type Expr = ReturnType<typeof parse>['expr']

/** What is wrong with the literal argument of `call`, or undefined. */
export function literalArgumentProblem(call: Expr, target: StaticType | undefined): string | undefined {
  if (call.exprKind.case !== 'callExpr') return undefined
  const { function: name, args } = call.exprKind.value
  const arg = args[0]
  if (args.length !== 1 || arg?.exprKind.case !== 'constExpr' || arg.exprKind.value.constantKind.case !== 'stringValue') return undefined
  const text = arg.exprKind.value.constantKind.value
  if ((name === 'timestamp' || name === 'duration') && target === undefined) {
    // The library's own verdict, by evaluating the call of a literal once.
    if (!isCelError(plan(celEnvironment, call)())) return undefined
    const expected = name === 'timestamp' ? 'RFC 3339, as in "2025-01-31T09:00:00Z"' : 'a duration such as "90s" or "1h30m"'
    return `invalid ${name} ${JSON.stringify(text)}: expected ${expected}`
  }
  if (name === 'matches') {
    const problem = regexProblem(text)
    return problem === undefined ? undefined : `invalid regular expression: ${problem} (RE2 syntax: no backreferences or lookaround)`
  }
  if (TIME_ZONE_FIELDS.has(name) && target?.kind !== 'duration' && timeZone(text) === undefined) return unknownTimeZoneMessage(text)
  return undefined
}
