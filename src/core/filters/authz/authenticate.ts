/** Token → principal: cached verification, then the claim mapping. */
import type { Principal } from '../../chain/principal.js'
import type { TokenIdentity } from '../../ports.js'
import { principalFromClaims } from './claims.js'
import type { RoleClosures } from './roles.js'
import type { JwtConfig } from './schema.js'
import { TokenCache } from './token-cache.js'
import { verifyToken, type IssuerVerifier } from './verify.js'

export interface Authenticated {
  readonly principal: Principal
  readonly identity: TokenIdentity
}

export type AuthResult = { ok: true; value: Authenticated; cached: boolean } | { ok: false; reason: string }

/** A verification, valid while the key set it was checked against is unchanged. */
interface Verified {
  readonly value: Authenticated
  readonly issuer: IssuerVerifier
  readonly keysVersion: number | undefined
}

export class Authenticator {
  readonly #cache: TokenCache<Verified>
  readonly #jwt: JwtConfig
  readonly #issuers: ReadonlyMap<string, IssuerVerifier>
  readonly #closures: RoleClosures

  constructor(jwt: JwtConfig, issuers: ReadonlyMap<string, IssuerVerifier>, closures: RoleClosures) {
    this.#jwt = jwt
    this.#issuers = issuers
    this.#closures = closures
    this.#cache = new TokenCache(jwt.cacheEntries)
  }

  async authenticate(token: string, nowMs: number): Promise<AuthResult> {
    // Before any decoding: a huge token costs nothing but this comparison.
    if (token.length > this.#jwt.maxTokenBytes) return { ok: false, reason: 'too_large' }
    const key = TokenCache.key(token)
    const hit = this.#cache.get(key, nowMs)
    if (hit && hit.keysVersion === hit.issuer.keysVersion?.()) return { ok: true, value: hit.value, cached: true }
    const v = await verifyToken(token, this.#issuers, this.#jwt.clockSkewSeconds, nowMs)
    if (!v.ok) return v
    const c = v.claims
    const value: Authenticated = {
      principal: principalFromClaims(c, v.issuer.claims, this.#closures),
      identity: {
        issuer: v.issuer.issuer,
        ...(c.sub !== undefined ? { subject: c.sub } : {}),
        ...(c.jti !== undefined ? { jti: c.jti } : {}),
        ...(c.iat !== undefined ? { issuedAt: c.iat } : {}),
      },
    }
    // Valid until exp plus the skew, exactly as long as a fresh verification would accept it.
    this.#cache.set(key, { value, issuer: v.issuer, keysVersion: v.keysVersion }, (c.exp! + this.#jwt.clockSkewSeconds) * 1000)
    return { ok: true, value, cached: false }
  }
}
