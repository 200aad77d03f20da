/**
 * RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers): one list member per
 * enforced limit that applied, `"name";q=<quota>;w=<window s>` and `"name";r=<remaining>;t=<s to full>`.
 * Shadow limits are left out: a client should not slow down for a limit that never refuses.
 */
import type { LimitSpec, LimitState } from '../../ports.js'

export function rateLimitHeaders(specs: readonly LimitSpec[], states: readonly LimitState[]): Record<string, string> | undefined {
  const policy: string[] = []
  const current: string[] = []
  specs.forEach((s, i) => {
    if (s.shadow) return
    const st = states[i]
    // Names are [A-Za-z0-9._-]: valid sf-strings without escaping.
    policy.push(`"${s.name}";q=${s.limit};w=${Math.max(1, Math.round(s.periodMs / 1000))}`)
    if (st) current.push(`"${s.name}";r=${Math.max(0, Math.floor(st.remaining))};t=${Math.ceil(Math.max(0, st.resetMs) / 1000)}`)
  })
  if (policy.length === 0) return undefined
  return { 'ratelimit-policy': policy.join(', '), ratelimit: current.join(', ') }
}

/**
 * Seconds until a refused request may retry, spread by up to a fifth (at least one second) so
 * that clients refused together do not all come back in the same second.
 */
export function retryAfterSeconds(retryAfterMs: number, random: () => number): number {
  const base = Math.max(1, Math.ceil(retryAfterMs / 1000))
  const spread = Math.max(1, Math.round(base / 5))
  return base + Math.floor(random() * (spread + 1))
}
