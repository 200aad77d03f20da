/**
 * JWT verification with jose. Every failure is one opaque "invalid token" to the client; the
 * reason (a jose error code or ours) goes to the log and to a metric label, never further.
 *
 * What is refused, and where:
 *  - not three segments (JWE, truncated, padded), bad base64url, a header or payload that is not
 *    a JSON object: here, before any key is looked up;
 *  - `alg: none` in any casing, and any algorithm outside the issuer's allowlist: jose's
 *    `algorithms` option, after our own casing check;
 *  - `jwk`, `jku`, `x5u`, `x5c` in the header: never read; keys come only from the issuer's
 *    configured source, so they cannot cause a fetch or pick a key;
 *  - an unknown `iss`: there is no key to try;
 *  - a missing `exp`; `exp`/`nbf` beyond the clock skew; a wrong `aud`; a `typ` or a required
 *    claim that differs (ID and refresh tokens presented as access tokens);
 *  - claims of the wrong JSON type (`sub`, `jti` not strings, `iat` not a number).
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { JOSEError } from 'jose/errors'
import type { ClaimsMapping } from './schema.js'

export type VerificationKey = JWTVerifyGetKey | Uint8Array

export interface IssuerVerifier {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly algorithms: readonly string[]
  readonly key: VerificationKey
  readonly typ?: string
  readonly requiredClaims?: Readonly<Record<string, string | readonly string[]>>
  readonly claims: ClaimsMapping
}

export type VerifyOutcome = { ok: true; claims: JWTPayload; issuer: IssuerVerifier } | { ok: false; reason: string }

/** Longest `kid` looked up: a 10 kB kid is an attack on the key cache, not a key name. */
const MAX_KID = 256

export async function verifyToken(token: string, issuers: ReadonlyMap<string, IssuerVerifier>, skewSeconds: number, nowMs: number): Promise<VerifyOutcome> {
  if (!isCompactJws(token)) return { ok: false, reason: 'malformed' }
  let header: ReturnType<typeof decodeProtectedHeader>
  let unverified: JWTPayload
  try {
    header = decodeProtectedHeader(token)
    unverified = decodeJwt(token)
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') return { ok: false, reason: 'alg_none' }
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID)) return { ok: false, reason: 'bad_kid' }
  if (typeof unverified.iss !== 'string') return { ok: false, reason: 'no_issuer' }
  const issuer = issuers.get(unverified.iss)
  if (!issuer) return { ok: false, reason: 'unknown_issuer' }
  if (!issuer.algorithms.includes(header.alg)) return { ok: false, reason: 'alg_not_allowed' }

  let claims: JWTPayload
  try {
    const options = {
      issuer: issuer.issuer,
      audience: [...issuer.audiences],
      algorithms: [...issuer.algorithms],
      clockTolerance: skewSeconds,
      currentDate: new Date(nowMs),
      requiredClaims: ['exp'],
      ...(issuer.typ !== undefined ? { typ: issuer.typ } : {}),
    }
    const r = typeof issuer.key === 'function' ? await jwtVerify(token, issuer.key, options) : await jwtVerify(token, issuer.key, options)
    claims = r.payload
  } catch (e) {
    return { ok: false, reason: e instanceof JOSEError ? e.code : 'verify_failed' }
  }
  if (claims.sub !== undefined && typeof claims.sub !== 'string') return { ok: false, reason: 'bad_sub' }
  if (claims.jti !== undefined && typeof claims.jti !== 'string') return { ok: false, reason: 'bad_jti' }
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat))) return { ok: false, reason: 'bad_iat' }
  if (issuer.requiredClaims) {
    for (const [name, expected] of Object.entries(issuer.requiredClaims)) {
      const v = claims[name]
      const ok = typeof v === 'string' && (typeof expected === 'string' ? v === expected : expected.includes(v))
      if (!ok) return { ok: false, reason: 'required_claim' }
    }
  }
  return { ok: true, claims, issuer }
}

/** Three non-empty base64url segments (the signature may not be empty either: that is `none`). */
function isCompactJws(token: string): boolean {
  let dots = 0
  let segment = 0
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c === 0x2e) {
      if (segment === 0) return false
      dots++
      segment = 0
      continue
    }
    // A-Z a-z 0-9 - _
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) return false
    segment++
  }
  return dots === 2 && segment > 0
}
