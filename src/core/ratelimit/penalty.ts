/**
 * The abuse penalty box. The moderation filter reports points for a subject whenever it blocks
 * one of its prompts or answers; points decay by a half-life, and once the decayed sum reaches the
 * threshold the subject is boxed (refused outright) for a period that doubles with each strike,
 * up to maxBoxMs. A box starts with the points back at 0. Strikes are forgotten once the subject
 * has gone strikeMemoryMs without a box (counted from the end of the last one), so a reformed
 * subject starts again from boxMs.
 *
 * Reports while boxed still add to the (decaying) points, but never extend or restart the box:
 * the next box can only start at the first report at or after the current one's end, if the points
 * then still reach the threshold (a report of 0 points counts). That keeps a box's length what the
 * strike count says, and lets a subject that kept pushing during its box be boxed again at once.
 *
 * The Redis store (io/ratelimit/penalty-store.ts) runs exactly this arithmetic in Lua on Redis'
 * clock; change both together.
 */
export interface PenaltyConfig {
  /** Decayed points at which a box starts; > 0. */
  threshold: number
  /** Time for unboxed points to lose half their weight; > 0. */
  halfLifeMs: number
  /** Length of a first box; each strike within memory doubles it; > 0. */
  boxMs: number
  maxBoxMs: number
  /** How long after a box ends its strikes still count. */
  strikeMemoryMs: number
}

export interface PenaltyState {
  /** Points as of updatedMs, before decay since. */
  points: number
  updatedMs: number
  /** Boxes in the current streak: the next box lasts boxMs × 2^strikes (capped). */
  strikes: number
  /** End of the current or last box; 0 when never boxed. */
  boxedUntilMs: number
  /** When the last box began; 0 when never boxed. Not used by the arithmetic: it is for logs and admin views. */
  lastBoxMs: number
}

/**
 * Points below this share of the threshold are forgotten with the state (ttlMs): keeping them
 * would change a decision only for a report of more than 1023/1024 of the threshold on its own.
 */
const FORGOTTEN_SHARE = 1 / 1024

/** The state after `points` more for the subject at `nowMs` (a clock running backwards decays nothing). */
export function report(state: PenaltyState | undefined, nowMs: number, points: number, cfg: PenaltyConfig): PenaltyState {
  const s = state ?? { points: 0, updatedMs: nowMs, strikes: 0, boxedUntilMs: 0, lastBoxMs: 0 }
  const elapsed = Math.max(0, nowMs - s.updatedMs)
  const total = s.points * 2 ** (-elapsed / cfg.halfLifeMs) + points
  const strikes = nowMs < s.boxedUntilMs + cfg.strikeMemoryMs ? s.strikes : 0
  if (nowMs < s.boxedUntilMs || total < cfg.threshold) {
    return { points: total, updatedMs: nowMs, strikes, boxedUntilMs: s.boxedUntilMs, lastBoxMs: s.lastBoxMs }
  }
  const length = Math.min(cfg.maxBoxMs, cfg.boxMs * 2 ** strikes)
  return { points: 0, updatedMs: nowMs, strikes: strikes + 1, boxedUntilMs: nowMs + length, lastBoxMs: nowMs }
}

/** Milliseconds left in the subject's box; 0 when free. */
export function boxedFor(state: PenaltyState | undefined, nowMs: number): number {
  return state === undefined ? 0 : Math.max(0, state.boxedUntilMs - nowMs)
}

/**
 * How long the state still matters from `nowMs`: while boxed, while its strikes are remembered,
 * and until its points have decayed below FORGOTTEN_SHARE of the threshold. Past it, dropping
 * the state (a store's TTL) answers like keeping it; 0 means it can go now.
 */
export function ttlMs(state: PenaltyState, nowMs: number, cfg: PenaltyConfig): number {
  const floor = cfg.threshold * FORGOTTEN_SHARE
  // log(x) / log(2) rather than Math.log2: the Lua script has only math.log, and both should agree.
  const pointsLeft = state.points > floor ? state.updatedMs - nowMs + (cfg.halfLifeMs * Math.log(state.points / floor)) / Math.log(2) : 0
  const strikesLeft = state.strikes > 0 ? state.boxedUntilMs + cfg.strikeMemoryMs - nowMs : 0
  return Math.max(0, pointsLeft, strikesLeft, state.boxedUntilMs - nowMs)
}
