export interface GcraSpec {
  readonly limit: number
  readonly periodMs: number
  readonly burst: number
  readonly cost: number
}

export interface GcraResult {
  readonly allowed: boolean
  /** The bucket's state after this decision: unchanged (but never before now) when refused. */
  readonly newTatMs: number
  readonly remaining: number
  readonly resetMs: number
  /** 0 when allowed. */
  readonly retryAfterMs: number
}

/**
 * GCRA (the generic cell rate algorithm): a bucket is one number, its theoretical arrival time
 * (TAT), the instant it would be full again. Emission interval T = periodMs / limit; tolerance
 * τ = T × burst. A cost c passes when max(tat, now) + c×T ≤ now + τ. No window ever resets, so in
 * any span D at most burst + D/T units pass.
 *
 * The arithmetic is on integer microseconds, exactly as the Redis script does it (gcra-script.ts),
 * so both answer alike: T is fractional in general (60 s / 7), and summing floats would make the
 * burst-th unit of a full bucket fail by a rounding error. Each charge and τ are floored to whole
 * µs instead, which can only admit (at most 1 µs per charge early), never refuse what fits.
 */
export function gcra(state: { tatMs: number | undefined }, nowMs: number, spec: GcraSpec): GcraResult {
  const now = Math.round(nowMs * 1000)
  const interval = (spec.periodMs * 1000) / spec.limit
  const tolerance = Math.floor(spec.burst * interval)
  const base = Math.max(state.tatMs === undefined ? now : Math.round(state.tatMs * 1000), now)
  const newTat = base + Math.floor(spec.cost * interval)
  // Cost 0 is a look: it passes even on a bucket past τ (a burst lowered by a policy reload).
  const allowed = spec.cost === 0 || (spec.cost <= spec.burst && newTat - now <= tolerance)
  const after = allowed ? newTat : base
  return {
    allowed,
    newTatMs: after / 1000,
    remaining: remainingUnits(now + tolerance - after, interval, spec.burst),
    resetMs: Math.ceil((after - now) / 1000),
    retryAfterMs: allowed ? 0 : Math.max(1, Math.ceil((newTat - tolerance - now) / 1000)),
  }
}

/**
 * The largest whole cost that fits `headroomUs`: c with floor(c×T) ≤ h, i.e. c < (h + 1) / T.
 * floor(h / T) would tell a full bucket of 7 per minute it holds 6.
 */
function remainingUnits(headroomUs: number, interval: number, burst: number): number {
  return Math.max(0, Math.min(burst, Math.ceil((headroomUs + 1) / interval) - 1))
}

/**
 * A bucket's TAT after `delta` more units (negative: units given back), without any check:
 * token reservations reconciled with what a response really used. Giving back never moves the
 * TAT before now (a bucket cannot be fuller than full); undefined means full (drop the state).
 */
export function adjustTat(tatMs: number | undefined, nowMs: number, spec: Pick<GcraSpec, 'limit' | 'periodMs'>, delta: number): number | undefined {
  const interval = spec.periodMs / spec.limit
  const base = Math.max(tatMs ?? nowMs, nowMs)
  const next = delta >= 0 ? base + Math.floor(delta * interval * 1000) / 1000 : (tatMs ?? nowMs) + Math.ceil(delta * interval * 1000) / 1000
  return next > nowMs ? next : undefined
}
