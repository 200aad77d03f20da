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
import { decodeJwt, decodeProtectedHeader, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { JOSEError } from 'jose/errors'
import type { ClaimsMapping } from './schema.js'
import { verifySignature } from './signature.js'

export type VerificationKey = JWTVerifyGetKey | Uint8Array

export interface IssuerVerifier {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly algorithms: readonly string[]
  readonly key: VerificationKey
  /**
   * For keys that change in place (a remote JWKS): identifies the current key set. A cached
   * verification holds only while it is unchanged; keys from files change by policy reload.
   */
  readonly keysVersion?: () => number
  readonly typ?: string
  readonly requiredClaims?: Readonly<Record<string, string | readonly string[]>>
  readonly claims: ClaimsMapping
}

export type VerifyOutcome = { ok: true; claims: JWTPayload; issuer: IssuerVerifier; keysVersion: number | undefined } | { ok: false; reason: string }

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

  // Read before the key lookup: a set replaced meanwhile makes the cached result stale (one more
  // verification later), never lets a key removed meanwhile vouch for the token.
  const keysVersion = issuer.keysVersion?.()
  let key: unknown
  const [protectedPart, payloadPart, signaturePart] = token.split('.') as [string, string, string]
  try {
    key = typeof issuer.key === 'function' ? await issuer.key(header as JWTHeaderParameters, { protected: protectedPart, payload: payloadPart, signature: signaturePart }) : issuer.key
  } catch (e) {
    return { ok: false, reason: e instanceof JOSEError ? e.code : 'no_key' }
  }
  if (!isVerificationKey(key)) return { ok: false, reason: 'no_key' }
  if (!verifySignature(header.alg, key, `${protectedPart}.${payloadPart}`, Buffer.from(signaturePart, 'base64url'))) return { ok: false, reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }
  const claims = unverified
  const problem = checkClaims(header, claims, issuer, skewSeconds, Math.floor(nowMs / 1000))
  if (problem) return { ok: false, reason: problem }
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
  return { ok: true, claims, issuer, keysVersion }
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

function isVerificationKey(k: unknown): k is import('node:crypto').webcrypto.CryptoKey | Uint8Array | import('node:crypto').KeyObject {
  return k instanceof Uint8Array || (typeof k === 'object' && k !== null && 'type' in k && ((k as { type: unknown }).type === 'public' || (k as { type: unknown }).type === 'secret'))
}

/**
 * The registered claims, as jose's jwtVerify checks them (same reason codes), plus `typ` and
 * `crit`: Chaperone understands no critical header parameter, so any `crit` is refused.
 */
function checkClaims(header: ReturnType<typeof decodeProtectedHeader>, c: JWTPayload, issuer: IssuerVerifier, skew: number, now: number): string | undefined {
  if (header.crit !== undefined) return 'ERR_JOSE_NOT_SUPPORTED'
  if (issuer.typ !== undefined && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(issuer.typ))) return 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  if (c.iss !== issuer.issuer) return 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : []
  if (!aud.some((a) => typeof a === 'string' && issuer.audiences.includes(a))) return 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  if (typeof c.exp !== 'number' || !Number.isFinite(c.exp)) return 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  if (c.exp <= now - skew) return 'ERR_JWT_EXPIRED'
  if (c.nbf !== undefined && (typeof c.nbf !== 'number' || !Number.isFinite(c.nbf) || c.nbf > now + skew)) return 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  return undefined
}

/** RFC 8725 §3.11 / jose: case-insensitive, and "application/" is implied. */
function normalizeTyp(typ: string): string {
  const t = typ.toLowerCase()
  return t.startsWith('application/') ? t.slice('application/'.length) : t
}
