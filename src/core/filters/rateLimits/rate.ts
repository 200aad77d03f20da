/** `60/minute`, `200000/day`, `5/s`: a count of units per period. */
export interface Rate {
  readonly limit: number
  readonly periodMs: number
}

const UNIT_MS: Record<string, number> = { s: 1000, second: 1000, m: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, d: 86_400_000, day: 86_400_000 }

export const RATE_PATTERN = /^\s*(\d{1,12})\s*\/\s*(s|second|m|minute|h|hour|d|day)\s*$/

export function parseRate(text: string): Rate | undefined {
  const m = RATE_PATTERN.exec(text)
  if (!m) return undefined
  const limit = Number(m[1])
  if (limit < 1 || !Number.isSafeInteger(limit)) return undefined
  return { limit, periodMs: UNIT_MS[m[2]!]! }
}

/** Units per ms, to compare rates given over different periods. */
export function speed(r: Rate): number {
  return r.limit / r.periodMs
}
