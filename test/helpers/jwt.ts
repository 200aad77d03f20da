/** Keys and key files for authz tests: made in the test, never read from anywhere else. */
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import type { PolicyFilePort } from '../../src/core/ports.js'

export interface SigningKey {
  alg: 'RS256' | 'ES256'
  kid: string
  privateKey: CryptoKey
  jwk: JWK
}

export async function signingKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

/** A JWKS document holding the public halves. */
export const jwksJson = (...keys: SigningKey[]): string => JSON.stringify({ keys: keys.map((k) => k.jwk) })

/** The policy-files port over an in-memory directory (a fake of a port, for unit tests). */
export function filesPort(files: Readonly<Record<string, string | Uint8Array>>): PolicyFilePort {
  return {
    read(p) {
      const f = files[p]
      if (f === undefined) throw new Error(`no such file: ${p}`)
      return typeof f === 'string' ? new TextEncoder().encode(f) : f
    },
  }
}

/** An HS256 token as the HMAC issuers of the end-to-end policies expect (audience `chatbot`, 10 minutes). */
export async function hmacToken(secret: string, issuer: string, subject: string, claims: Record<string, unknown> = {}): Promise<string> {
  const { SignJWT } = await import('jose')
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience('chatbot')
    .setSubject(subject)
    .setJti(crypto.randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(secret))
}
