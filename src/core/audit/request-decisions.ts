import { notedDecisions } from '../chain/decisions.js'
import { principalOf } from '../chain/principal.js'
import type { Outcome } from '../chain/types.js'
import { CACHE_STATE } from '../filters/cache/filter.js'
import { MODERATION_STATE, type ModerationState } from '../filters/moderation/filter.js'

/**
 * One decision of one request, as the audit log and the decision metrics take it. `subject` and
 * each span's `text` are in the clear here, in memory only: the audit writer replaces them with a
 * pseudonym and a keyed hash before anything is written.
 */
export interface RequestDecision {
  readonly filter: 'authz' | 'ratelimit' | 'moderation' | 'cache'
  readonly action: string
  readonly shadow: boolean
  readonly rule: string
  readonly route: string
  readonly region?: string
  readonly subject?: string
  readonly direction?: 'request' | 'response'
  readonly label?: string
  readonly reason?: string
  readonly spans?: readonly { readonly length: number; readonly text?: string }[]
}

interface CacheOutcome {
  readonly route: string
  readonly result: string
}

/**
 * Every decision that matters in a completed request: authz denials and rate-limit refusals the
 * filters noted (shadow ones too), each moderation finding (block, redact, flag, shadow), and a
 * cached answer served (it went through today's response moderation on its way out).
 */
export function requestDecisions(state: ReadonlyMap<string, unknown>, route: string, outcome: Outcome): RequestDecision[] {
  const p = principalOf(state)
  const who = { route, ...(p?.region ? { region: p.region } : {}), ...(p?.subject ? { subject: p.subject } : {}) }
  const out: RequestDecision[] = []
  for (const d of notedDecisions(state)) out.push({ ...who, filter: d.filter, action: d.action, shadow: d.shadow, rule: d.rule, ...(d.reason ? { reason: d.reason } : {}) })
  const m = state.get(MODERATION_STATE) as ModerationState | undefined
  for (const f of m?.findings ?? []) {
    out.push({
      ...who,
      filter: 'moderation',
      action: f.action,
      shadow: f.shadow,
      rule: f.name,
      direction: f.direction,
      ...(f.label !== undefined ? { label: f.label } : {}),
      spans: [{ length: f.end - f.start, ...(f.normalized !== undefined ? { text: f.normalized } : {}) }],
    })
  }
  const c = state.get(CACHE_STATE) as CacheOutcome | undefined
  if (c && (c.result === 'hit' || c.result === 'stale') && outcome.kind !== 'aborted') out.push({ ...who, filter: 'cache', action: c.result, shadow: false, rule: c.route })
  return out
}
