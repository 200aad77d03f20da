import type { Revocation } from '../../core/ports.js'

/**
 * The most UTF-16 code units one entry may take as JSON. Entries come from operators and, in
 * Redis, from whoever can write the hash: a bound keeps one bad value from costing every replica.
 */
export const MAX_ENTRY_CHARS = 4096

/** `add` on a store that holds its `maxEntries` already; the admin API maps it to "storage full". */
export class RevocationStoreFullError extends Error {
  constructor(maxEntries: number) {
    super(`revocation store is full: it holds its maximum of ${maxEntries} unexpired entries`)
    this.name = 'RevocationStoreFullError'
  }
}

function text(v: Record<string, unknown>, name: string, optional: boolean): string | undefined {
  const x = v[name]
  if (x === undefined && optional) return undefined
  if (typeof x !== 'string' || (!optional && x === '')) throw new Error(`revocation ${name} must be a ${optional ? '' : 'non-empty '}string`)
  return x
}

function seconds(v: Record<string, unknown>, name: string): number {
  const x = v[name]
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`revocation ${name} must be a finite number of epoch seconds`)
  return x
}

/**
 * A clean copy of a revocation, or an Error saying what is wrong with it. Both stores check what
 * they add with it, so what one accepts the Redis loader accepts too. An empty issuer means
 * "any issuer", as an absent one does: the Redis field cannot tell the two apart.
 */
export function toRevocation(value: unknown): Revocation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('revocation must be an object')
  const v = value as Record<string, unknown>
  const issuer = text(v, 'issuer', true) || undefined
  const reason = text(v, 'reason', true)
  const common = {
    expiresAt: seconds(v, 'expiresAt'),
    createdAt: seconds(v, 'createdAt'),
    ...(issuer !== undefined && { issuer }),
    ...(reason !== undefined && { reason }),
  }
  let entry: Revocation
  if (v.kind === 'jti') entry = { kind: 'jti', jti: text(v, 'jti', false)!, ...common }
  else if (v.kind === 'subject') entry = { kind: 'subject', subject: text(v, 'subject', false)!, revokedBefore: seconds(v, 'revokedBefore'), ...common }
  else throw new Error('revocation kind must be "jti" or "subject"')
  if (JSON.stringify(entry).length > MAX_ENTRY_CHARS) throw new Error(`revocation is over ${MAX_ENTRY_CHARS} characters as JSON`)
  return entry
}

/** The jti or the subject: what, with the issuer, identifies an entry. */
export function keyOf(entry: Revocation): string {
  return entry.kind === 'jti' ? entry.jti : entry.subject
}
