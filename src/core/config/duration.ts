import { z } from 'zod'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/

/** "500ms", "30s", "10m", "1h", "1d" → milliseconds; undefined for anything else. */
export function parseDuration(s: string): number | undefined {
  const m = PATTERN.exec(s.trim())
  if (!m) return undefined
  const ms = Number(m[1]) * UNITS[m[2]!]!
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}

/** A policy duration: a string with a unit, or a number of seconds. Output is milliseconds. */
export function durationMs(minMs: number, maxMs: number) {
  return z.union([z.string(), z.number().min(0)]).transform((v, ctx): number => {
    const ms = typeof v === 'number' ? Math.round(v * 1000) : parseDuration(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 10m, 1h or 1d (or a number of seconds)' })
      return minMs
    }
    if (ms < minMs || ms > maxMs) ctx.addIssue({ code: 'custom', message: `must be between ${minMs} ms and ${maxMs} ms` })
    return ms
  })
}
