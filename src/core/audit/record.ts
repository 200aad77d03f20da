/**
 * The audit record as written: one canonical JSON object per line (serialize.ts), chained per
 * writer by `prev`, sealed by `hash`. These are the field sets of each kind; the chain adds
 * `v`, `kind`, `writer`, `seq`, `ts`, `prev` and `hash` (chain.ts).
 */

export const RECORD_VERSION = 1
/** `prev` of the first record of a chain. */
export const GENESIS = '0'.repeat(64)

export type RecordKind = 'decision' | 'reload' | 'checkpoint' | 'recovery' | 'start'

export type DecisionFilter = 'authz' | 'ratelimit' | 'moderation' | 'cache'
export type DetailValue = string | number | boolean | null

/** One matched span: its length (UTF-16 code units, as moderation reports spans) and a keyed hash. */
export interface SpanDigest {
  readonly length: number
  readonly hash: string
}

export interface DecisionFields {
  readonly filter: DecisionFilter
  readonly action: string
  readonly shadow: boolean
  readonly rule: string
  readonly route: string
  readonly region?: string
  /** Pseudonym, or null for an anonymous request (or when `pseudonym` is `dropped`). */
  readonly subject: string | null
  /** Set only when the per-subject key could not be had: which fallback wrote `subject`. */
  readonly pseudonym?: 'global' | 'dropped'
  readonly policyVersion: string
  readonly requestId: string
  readonly direction?: 'request' | 'response'
  readonly label?: string
  readonly spans?: readonly SpanDigest[]
  readonly excerpt?: string
  readonly limit?: string
  readonly detail?: Readonly<Record<string, DetailValue>>
  /** When the decision was made (the record's `ts` is when it entered the chain). */
  readonly at: string
}

export type ReloadOutcome = 'success' | 'unchanged' | 'error'

export interface ReloadFields {
  readonly oldVersion: string | null
  readonly newVersion: string | null
  readonly outcome: ReloadOutcome
  readonly reason: string
  /** How many errors the reload reported; never their text, which may quote file contents. */
  readonly errors: number
  readonly at: string
}

export interface StartFields {
  readonly pid: number
  readonly version: string
  readonly sink: 'file' | 'stdout'
  /** The last good record found on disk, which this chain continues; null for a new chain. */
  readonly resumedFrom: { readonly file: string; readonly seq: number } | null
}

/** Bytes after the last good record of a file, left where they are. `file` is the file's name. */
export interface TornRegion {
  readonly file: string
  readonly offset: number
  readonly bytes: number
  readonly sha256: string
}

export interface RecoveryFields {
  readonly torn: TornRegion
}

export interface CheckpointFields {
  /** Seq of the last record covered: the record just before the checkpoint. */
  readonly size: number
  /** Hash of that record. */
  readonly head: string
  /** Base64 Ed25519 signature over checkpointPayload(); absent when no signing key is configured. */
  readonly signature?: string
  readonly keyId?: string
}

/** A record as parsed back from a line: the chain fields are checked, the rest is open. */
export interface ParsedRecord {
  readonly v: number
  readonly kind: string
  readonly writer: string
  readonly seq: number
  readonly ts: string
  readonly prev: string
  readonly hash: string
  readonly [field: string]: unknown
}

const HEX64 = /^[0-9a-f]{64}$/

/** Why `value` is not a record (the chain fields), or undefined when it is one. */
export function recordShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const r = value as Record<string, unknown>
  if (r.v !== RECORD_VERSION) return `unknown record version ${JSON.stringify(r.v)}`
  if (typeof r.kind !== 'string') return 'kind is not a string'
  if (typeof r.writer !== 'string' || r.writer === '') return 'writer is missing'
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 1) return 'seq is not a positive integer'
  if (typeof r.ts !== 'string' || !Number.isFinite(Date.parse(r.ts))) return 'ts is not a timestamp'
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) return 'prev is not a SHA-256 hex digest'
  if (typeof r.hash !== 'string' || !HEX64.test(r.hash)) return 'hash is not a SHA-256 hex digest'
  return undefined
}

/** The decision time of a record (`at`), else when it entered the chain (`ts`), in epoch ms. */
export function recordTimeMs(r: ParsedRecord): number {
  return Date.parse(typeof r.at === 'string' ? r.at : r.ts)
}
