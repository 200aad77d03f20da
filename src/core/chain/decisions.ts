/**
 * Decisions that matter for compliance (a denial, a refusal), noted by the filter that made
 * them in the request's state, where the audit log and the decision metrics read them when the
 * request completes. Moderation findings and cache outcomes already live in their filters' state
 * and are read from there (core/audit/request-decisions.ts).
 */

export interface NotedDecision {
  readonly filter: 'authz' | 'ratelimit'
  /** deny (authz), refuse (rate limit), or what a shadow/audit rule would have done. */
  readonly action: 'deny' | 'refuse'
  readonly rule: string
  /** Evaluated and counted, never acted on (a shadow limit, an authz rule in audit mode). */
  readonly shadow: boolean
  /** A stable reason without PII (a token error code, a limit kind). */
  readonly reason?: string
}

export const DECISIONS_STATE = 'decisions'
/** A request notes a handful at most; the bound keeps a pathological policy from growing it. */
const MAX_NOTED = 32

export function noteDecision(state: Map<string, unknown>, d: NotedDecision): void {
  let list = state.get(DECISIONS_STATE) as NotedDecision[] | undefined
  if (!list) state.set(DECISIONS_STATE, (list = []))
  if (list.length < MAX_NOTED) list.push(d)
}

export function notedDecisions(state: ReadonlyMap<string, unknown>): readonly NotedDecision[] {
  return (state.get(DECISIONS_STATE) as NotedDecision[] | undefined) ?? []
}
