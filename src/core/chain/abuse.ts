/**
 * How a filter reports abuse without knowing who keeps score: the rate-limit filter, which owns
 * the penalty box, puts a reporter in ctx.state for requests its penalty limits apply to, and the
 * moderation filter (later in the chain) calls reportAbuse when it blocks. No reporter: nothing
 * keeps score for this request, and a report is a no-op.
 */
export const ABUSE_REPORTER_STATE = 'abuseReporter'

export type AbuseReporter = (points: number) => void

export function reportAbuse(state: ReadonlyMap<string, unknown>, points: number): void {
  if (points <= 0) return
  const r = state.get(ABUSE_REPORTER_STATE) as AbuseReporter | undefined
  r?.(points)
}
