/**
 * Keyed hashes that keep subjects and matched text out of the log. Every derivation is an
 * HMAC-SHA256 with its own domain label, so no two uses of one key can produce comparable values
 * (a subject's Redis key name is not its global pseudonym, a span hash is not a pseudonym).
 *
 * Keys are KeyObjects, made once: on Node 24 createHmac re-checks a raw Buffer key on every call,
 * which costs several times the HMAC itself.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto'

/** Hex characters kept of a pseudonym or span hash: 128 bits, ample against collisions. */
export const DIGEST_HEX = 32

export type HmacKey = KeyObject

export function hmacKey(bytes: Uint8Array): HmacKey {
  return createSecretKey(bytes)
}

export function hmacHex(key: HmacKey, text: string, hexChars = 64): string {
  return createHmac('sha256', key).update(text).digest('hex').slice(0, hexChars)
}

/** A subject's pseudonym under `key` (the global key, or the subject's own key). */
export function pseudonym(key: HmacKey, subject: string): string {
  return hmacHex(key, subject, DIGEST_HEX)
}

/** The name under which a subject's own key is stored: only computable with the global key. */
export function subjectKeyId(globalKey: HmacKey, subject: string): string {
  return hmacHex(globalKey, `chaperone/audit/subject-key-id\0${subject}`)
}

/** The key that hashes matched text of records keyed by `key`. */
export function spanHashKey(key: HmacKey): HmacKey {
  return hmacKey(createHmac('sha256', key).update('chaperone/audit/span-hash').digest())
}

/**
 * A matched text's hash: without the key, a dictionary of candidate values (every card number,
 * every e-mail of a customer list) cannot be hashed to find it.
 */
export function spanHash(spanKey: HmacKey, text: string): string {
  return hmacHex(spanKey, text, DIGEST_HEX)
}
