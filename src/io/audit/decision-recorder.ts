import type { Outcome } from '../../core/chain/types.js'
import { requestDecisions } from '../../core/audit/request-decisions.js'
import type { DecisionFilter } from '../../core/audit/record.js'
import type { AuditWriter } from './writer.js'

export interface DecisionRecorderDeps {
  /** Absent when the audit log is off: decisions are still counted. */
  readonly writer?: AuditWriter
  readonly count: (filter: string, rule: string, action: string, region: string | undefined, shadow: boolean) => void
}

/**
 * At the end of a request: every decision that matters (core/audit/request-decisions.ts) is
 * counted in chaperone_decisions_total and queued for the audit log. The writer replaces the
 * subject and the matched texts with a pseudonym and keyed hashes before anything is written.
 */
export function decisionRecorder(deps: DecisionRecorderDeps): (state: ReadonlyMap<string, unknown>, route: string, outcome: Outcome, requestId: string, policyVersion: number) => void {
  return (state, route, outcome, requestId, policyVersion) => {
    const decisions = requestDecisions(state, route, outcome)
    for (const d of decisions) {
      deps.count(d.filter, d.rule, d.action, d.region, d.shadow)
      if (!deps.writer) continue
      const matches = d.spans?.flatMap((s) => (s.text !== undefined ? [s.text] : []))
      deps.writer.emit({
        kind: 'decision',
        filter: d.filter as DecisionFilter,
        action: d.action,
        shadow: d.shadow,
        rule: d.rule,
        route: d.route,
        region: d.region ?? null,
        subject: d.subject ?? null,
        policyVersion: String(policyVersion),
        requestId,
        ...(d.direction ? { direction: d.direction } : {}),
        ...(d.label !== undefined ? { label: d.label } : {}),
        ...(matches && matches.length > 0 ? { matches } : {}),
        ...(d.reason !== undefined ? { detail: { reason: d.reason } } : {}),
      })
    }
  }
}
