/**
 * What callers hand to the writer (AuditEvent, with the raw subject and the raw matched texts)
 * and what the writer keeps of it (PreparedItem: pseudonymized, hashed, bounded, no clear PII).
 * A PreparedItem is what may reach a disk: the spill file holds them, the chain seals them.
 */
import type { DecisionFilter, DetailValue, RecordKind, ReloadOutcome, SpanDigest } from './record.js'
import { pseudonym, spanHash, type HmacKey } from './pseudonym.js'

export interface DecisionEvent {
  readonly kind: 'decision'
  readonly filter: DecisionFilter
  /** deny | refuse | block | redact | flag | hit … */
  readonly action: string
  readonly shadow: boolean
  readonly rule: string
  readonly route: string
  readonly region?: string | null
  /** The raw subject (a token's `sub`); only its pseudonym is written. */
  readonly subject: string | null
  readonly policyVersion: string
  readonly requestId: string
  readonly direction?: 'request' | 'response'
  readonly label?: string
  /** The raw matched texts; only their lengths and keyed hashes are written. */
  readonly matches?: readonly string[]
  /** Already masked by the caller with the rule's redaction template. */
  readonly excerpt?: string
  readonly limit?: string
  /** Extra facts that carry no PII (a cache entry's age, a limit's remaining count…). */
  readonly detail?: Readonly<Record<string, DetailValue>>
}

export interface ReloadEvent {
  readonly kind: 'reload'
  readonly oldVersion: string | null
  readonly newVersion: string | null
  readonly outcome: ReloadOutcome
  /** A short reason (the error's kind), never file contents. */
  readonly reason: string
  readonly errors: number
}

export type AuditEvent = DecisionEvent | ReloadEvent

/** A record's kind-specific fields, ready to be chained; JSON-serializable as is (the spill). */
export interface PreparedItem {
  readonly kind: Exclude<RecordKind, 'checkpoint'>
  readonly fields: Readonly<Record<string, unknown>>
}

/** How one subject is written: its pseudonym (or null) and the key its spans are hashed with. */
export interface SubjectPseudonym {
  readonly subject: string | null
  readonly marker?: 'global' | 'dropped'
  readonly spanKey: HmacKey
}

/** Bounds that keep a record small whatever a caller passes. */
export const LIMITS = { text: 256, excerpt: 256, reason: 512, detailKeys: 16, spans: 64 } as const

let isoCache = { ms: Number.NaN, text: '' }

/** toISOString, remembered for the last millisecond: records emitted together share it. */
export function isoTime(ms: number): string {
  if (isoCache.ms !== ms) isoCache = { ms, text: new Date(ms).toISOString() }
  return isoCache.text
}

function clip(s: string, max: number): string {
  if (s.length <= max) return s
  // Never split a surrogate pair: half a character would serialize as a lone escape.
  const end = max > 0 && /[\uD800-\uDBFF]/.test(s[max - 1]!) ? max - 1 : max
  return s.slice(0, end)
}

function detailOf(d: Readonly<Record<string, unknown>>): Record<string, DetailValue> | undefined {
  const out: Record<string, DetailValue> = {}
  let n = 0
  for (const [k, v] of Object.entries(d)) {
    if (n >= LIMITS.detailKeys) break
    if (typeof v === 'string') out[clip(k, LIMITS.text)] = clip(v, LIMITS.text)
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || v === null) out[clip(k, LIMITS.text)] = v
    else continue
    n++
  }
  return n > 0 ? out : undefined
}

/** The global pseudonym and span key, for modes and fallbacks that use the global key. */
export function globalSubject(globalKey: HmacKey, globalSpanKey: HmacKey, subject: string | null, marker?: 'global'): SubjectPseudonym {
  return { subject: subject === null ? null : pseudonym(globalKey, subject), ...(marker && subject !== null && { marker }), spanKey: globalSpanKey }
}

export function prepareDecision(e: DecisionEvent, atMs: number, who: SubjectPseudonym): PreparedItem {
  // Built field by field (no spreads): this runs once per record on the writer's loop.
  const f: Record<string, unknown> = {
    filter: e.filter,
    action: clip(String(e.action), LIMITS.text),
    shadow: e.shadow === true,
    rule: clip(String(e.rule), LIMITS.text),
    route: clip(String(e.route), LIMITS.text),
    subject: who.subject,
    policyVersion: clip(String(e.policyVersion), LIMITS.text),
    requestId: clip(String(e.requestId), LIMITS.text),
    at: isoTime(atMs),
  }
  if (typeof e.region === 'string') f.region = clip(e.region, LIMITS.text)
  if (who.marker) f.pseudonym = who.marker
  if (e.direction === 'request' || e.direction === 'response') f.direction = e.direction
  if (typeof e.label === 'string') f.label = clip(e.label, LIMITS.text)
  if (e.matches && e.matches.length > 0) {
    const n = Math.min(e.matches.length, LIMITS.spans)
    const spans = new Array<SpanDigest>(n)
    for (let i = 0; i < n; i++) {
      const m = String(e.matches[i])
      spans[i] = { length: m.length, hash: spanHash(who.spanKey, m) }
    }
    f.spans = spans
  }
  if (typeof e.excerpt === 'string') f.excerpt = clip(e.excerpt, LIMITS.excerpt)
  if (typeof e.limit === 'string') f.limit = clip(e.limit, LIMITS.text)
  const detail = e.detail && detailOf(e.detail)
  if (detail) f.detail = detail
  return { kind: 'decision', fields: f }
}

export function prepareReload(e: ReloadEvent, atMs: number): PreparedItem {
  return {
    kind: 'reload',
    fields: {
      oldVersion: e.oldVersion === null ? null : clip(String(e.oldVersion), LIMITS.text),
      newVersion: e.newVersion === null ? null : clip(String(e.newVersion), LIMITS.text),
      outcome: e.outcome,
      reason: clip(String(e.reason), LIMITS.reason),
      errors: Number.isSafeInteger(e.errors) && e.errors >= 0 ? e.errors : 0,
      at: isoTime(atMs),
    },
  }
}
