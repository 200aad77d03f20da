/**
 * `audit query` without the I/O: which records match, and the group a record counts in.
 * Times are the decision time (`at`), else the record's `ts`.
 */
import { parseDuration } from '../config/duration.js'
import { recordTimeMs, type ParsedRecord } from './record.js'

export const GROUP_FIELDS = ['region', 'rule', 'action', 'filter', 'route', 'kind', 'writer', 'subject', 'day'] as const
export type GroupField = (typeof GROUP_FIELDS)[number]

export interface QuerySpec {
  readonly kinds?: ReadonlySet<string>
  readonly filters?: ReadonlySet<string>
  readonly actions?: ReadonlySet<string>
  readonly rules?: ReadonlySet<string>
  readonly regions?: ReadonlySet<string>
  readonly routes?: ReadonlySet<string>
  readonly writers?: ReadonlySet<string>
  readonly subjects?: ReadonlySet<string>
  /** Only records with this shadow flag; absent: both. */
  readonly shadow?: boolean
  readonly sinceMs?: number
  readonly untilMs?: number
  readonly groupBy: readonly GroupField[]
}

/** Group key of a record without the field (an absent region). */
export const NONE = '(none)'

/**
 * `--since`/`--until`: a duration back from now (`90d`, `12h`, `30m`, `2w`) or an ISO-8601 time
 * (a date alone is midnight UTC). Undefined when it is neither.
 */
export function parseTimeBound(s: string, nowMs: number): number | undefined {
  const weeks = /^([0-9]+)w$/.exec(s.trim())
  if (weeks) return nowMs - Number(weeks[1]) * 7 * 86_400_000
  const d = parseDuration(s)
  if (d !== undefined) return nowMs - d
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined
  const t = Date.parse(s)
  return Number.isFinite(t) ? t : undefined
}

const field = (r: ParsedRecord, k: string): string | undefined => {
  const v = r[k]
  return typeof v === 'string' ? v : undefined
}

const inSet = (set: ReadonlySet<string> | undefined, v: string | undefined) => set === undefined || (v !== undefined && set.has(v))

export function recordMatches(r: ParsedRecord, q: QuerySpec): boolean {
  if (!inSet(q.kinds, r.kind) || !inSet(q.writers, r.writer)) return false
  if (!inSet(q.filters, field(r, 'filter')) || !inSet(q.actions, field(r, 'action')) || !inSet(q.rules, field(r, 'rule'))) return false
  if (!inSet(q.regions, field(r, 'region')) || !inSet(q.routes, field(r, 'route')) || !inSet(q.subjects, field(r, 'subject'))) return false
  if (q.shadow !== undefined && r.shadow !== q.shadow) return false
  if (q.sinceMs !== undefined || q.untilMs !== undefined) {
    const t = recordTimeMs(r)
    if (!Number.isFinite(t)) return false
    if (q.sinceMs !== undefined && t < q.sinceMs) return false
    if (q.untilMs !== undefined && t >= q.untilMs) return false
  }
  return true
}

export function groupKey(r: ParsedRecord, by: readonly GroupField[]): string[] {
  return by.map((k) => {
    if (k === 'day') {
      const t = recordTimeMs(r)
      return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 10) : NONE
    }
    return field(r, k) ?? NONE
  })
}

/** Counts per group, as the query streams; rows sorted by count, then key. */
export class GroupCounter {
  readonly #counts = new Map<string, { key: string[]; count: number }>()
  total = 0

  add(key: string[]): void {
    this.total++
    const id = JSON.stringify(key)
    const g = this.#counts.get(id)
    if (g) g.count++
    else this.#counts.set(id, { key, count: 1 })
  }

  rows(): { key: string[]; count: number }[] {
    return [...this.#counts.values()].sort((a, b) => b.count - a.count || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1))
  }
}
