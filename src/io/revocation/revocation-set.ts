import type { Revocation, TokenIdentity } from '../../core/ports.js'
import { keyOf } from './revocation-entry.js'

/** The issuer slot of an entry that applies to every issuer. */
const ANY_ISSUER = ''

type Kind = Revocation['kind']
/** Entries for one jti or one subject, by issuer (ANY_ISSUER for unscoped ones). */
type Scopes = Map<string, Revocation>

function active(entry: Revocation, nowMs: number): boolean {
  return entry.expiresAt * 1000 > nowMs
}

function covers(entry: Revocation, token: TokenIdentity): boolean {
  if (entry.kind === 'jti') return true
  return token.issuedAt === undefined || token.issuedAt < entry.revokedBefore
}

/**
 * Revocations indexed for the per-request check: by jti and by subject, then by issuer, so a check
 * is at most two lookups per index (the token's issuer and "any issuer") whatever the set's size.
 * At most one entry per kind, key and issuer: adding again replaces, as HSET does in Redis.
 * Expired entries never match; callers drop them lazily, in bounded sweeps, or on reload.
 */
export class RevocationSet {
  private readonly byKind: Record<Kind, Map<string, Scopes>> = { jti: new Map(), subject: new Map() }
  private count = 0
  private cursor: Iterator<Revocation> | undefined

  get size(): number {
    return this.count
  }

  has(entry: Revocation): boolean {
    return this.byKind[entry.kind].get(keyOf(entry))?.has(entry.issuer ?? ANY_ISSUER) ?? false
  }

  put(entry: Revocation): void {
    const index = this.byKind[entry.kind]
    const key = keyOf(entry)
    let scopes = index.get(key)
    if (!scopes) index.set(key, (scopes = new Map()))
    const issuer = entry.issuer ?? ANY_ISSUER
    if (!scopes.has(issuer)) this.count++
    scopes.set(issuer, entry)
  }

  /** Without an issuer, removes the key's entries for every issuer, unscoped included. */
  delete(kind: Kind, key: string, issuer?: string): number {
    const index = this.byKind[kind]
    const scopes = index.get(key)
    if (!scopes) return 0
    let gone = 0
    if (issuer === undefined) gone = scopes.size
    else if (scopes.delete(issuer || ANY_ISSUER)) gone = 1
    if (issuer === undefined || scopes.size === 0) index.delete(key)
    this.count -= gone
    return gone
  }

  isRevoked(token: TokenIdentity, nowMs: number): boolean {
    return (
      (token.jti !== undefined && this.matches(this.byKind.jti.get(token.jti), token, nowMs)) ||
      (token.subject !== undefined && this.matches(this.byKind.subject.get(token.subject), token, nowMs))
    )
  }

  private matches(scopes: Scopes | undefined, token: TokenIdentity, nowMs: number): boolean {
    if (!scopes) return false
    const hit = (entry: Revocation | undefined) => entry !== undefined && active(entry, nowMs) && covers(entry, token)
    return hit(scopes.get(ANY_ISSUER)) || (token.issuer !== ANY_ISSUER && hit(scopes.get(token.issuer)))
  }

  *entries(): Generator<Revocation> {
    for (const index of Object.values(this.byKind)) for (const scopes of index.values()) yield* scopes.values()
  }

  /** Drops every expired entry; returns how many went. */
  prune(nowMs: number): number {
    this.cursor = undefined
    return this.sweep(nowMs, Infinity)
  }

  /**
   * Looks at up to `budget` entries, resuming where the last sweep stopped (Map iterators survive
   * deletes), and drops the expired ones. Returns how many went.
   */
  sweep(nowMs: number, budget: number): number {
    let gone = 0
    for (let seen = 0; seen < budget; seen++) {
      this.cursor ??= this.entries()
      const next = this.cursor.next()
      if (next.done) {
        this.cursor = undefined
        break
      }
      const entry = next.value
      if (!active(entry, nowMs)) gone += this.delete(entry.kind, keyOf(entry), entry.issuer ?? ANY_ISSUER)
    }
    return gone
  }

  /** Unexpired entries. */
  list(nowMs: number): Revocation[] {
    return [...this.entries()].filter((e) => active(e, nowMs))
  }
}
