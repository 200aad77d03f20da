/**
 * /admin/revocations: revoke a token by `jti` or a subject's sessions, list and remove entries.
 *
 *   POST   {"jti": "…", "expiresAt": <the token's exp>, "issuer"?, "reason"?}
 *   POST   {"subject": "…", "revokedBefore"?: <default now>, "issuer"?, "reason"?, "retainSeconds"?}
 *   GET    → {"revocations": [...]}
 *   DELETE ?jti=… | ?subject=… [&issuer=…] → {"removed": n}
 *
 * Times are epoch seconds or RFC 3339 strings. A jti entry is kept until the token's exp plus
 * the largest clock skew a policy may allow, so it outlives every acceptance of the token.
 */
import type { Revocation, RevocationStore } from '../core/ports.js'
import { RevocationStoreFullError, toRevocation } from './revocation/index.js'

/** schema.ts caps clockSkewSeconds at 600. */
const MAX_SKEW_SECONDS = 600
const DEFAULT_SUBJECT_RETAIN_SECONDS = 30 * 86400

export interface AdminReply {
  status: number
  body: unknown
}

export async function handleRevocations(store: RevocationStore, method: string, query: URLSearchParams, body: () => Promise<unknown>, nowMs: number): Promise<AdminReply> {
  const now = Math.floor(nowMs / 1000)
  try {
    if (method === 'GET') return { status: 200, body: { revocations: await store.list() } }
    if (method === 'DELETE') {
      const jti = query.get('jti')
      const subject = query.get('subject')
      if ((jti === null) === (subject === null)) return bad('give exactly one of ?jti= or ?subject=')
      const issuer = query.get('issuer') ?? undefined
      const removed = jti !== null ? await store.remove('jti', jti, issuer) : await store.remove('subject', subject!, issuer)
      return { status: 200, body: { removed } }
    }
    if (method !== 'POST') return { status: 405, body: { error: 'method_not_allowed' } }
    const input = await body()
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return bad('expected a JSON object')
    const entry = toEntry(input as Record<string, unknown>, now)
    if (typeof entry === 'string') return bad(entry)
    await store.add(entry)
    return { status: 201, body: { revoked: entry } }
  } catch (e) {
    if (e instanceof RevocationStoreFullError) return { status: 507, body: { error: 'insufficient_storage', message: e.message } }
    if (e instanceof BadInput) return bad(e.message)
    return { status: 503, body: { error: 'dependency_unavailable', message: 'the revocation store is unavailable' } }
  }
}

class BadInput extends Error {}

function bad(message: string): AdminReply {
  return { status: 400, body: { error: 'bad_request', errors: [message] } }
}

function toEntry(v: Record<string, unknown>, now: number): Revocation | string {
  const hasJti = v.jti !== undefined
  if (hasJti === (v.subject !== undefined)) return 'give exactly one of "jti" or "subject"'
  const common = { createdAt: now, ...(v.issuer !== undefined ? { issuer: v.issuer } : {}), ...(v.reason !== undefined ? { reason: v.reason } : {}) }
  try {
    if (hasJti) {
      const exp = time(v.expiresAt ?? v.exp, 'expiresAt')
      if (exp === undefined) return '"expiresAt" (the token\'s exp) is required with "jti"'
      return toRevocation({ kind: 'jti', jti: v.jti, expiresAt: exp + MAX_SKEW_SECONDS, ...common })
    }
    const before = time(v.revokedBefore, 'revokedBefore') ?? now
    const retain = v.retainSeconds === undefined ? DEFAULT_SUBJECT_RETAIN_SECONDS : v.retainSeconds
    if (typeof retain !== 'number' || !Number.isInteger(retain) || retain < 1) return '"retainSeconds" must be a positive integer'
    return toRevocation({ kind: 'subject', subject: v.subject, revokedBefore: before, expiresAt: before + retain, ...common })
  } catch (e) {
    return (e as Error).message
  }
}

function time(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v)
  if (typeof v === 'string') {
    const ms = Date.parse(v)
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000)
  }
  throw new BadInput(`"${name}" must be epoch seconds or an RFC 3339 time`)
}
