/**
 * Checkpoints: `{writer, size, head, ts}` signed with Ed25519. Whoever keeps a copy of a
 * checkpoint can later prove that the chain up to `size` still ends in `head`: rewriting the
 * chain from any earlier record changes every later hash, and a new signature needs the key.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from '../formats/canonical-json.js'

export interface CheckpointClaim {
  readonly writer: string
  readonly size: number
  readonly head: string
  readonly ts: string
}

/** The signed bytes: the canonical JSON of exactly these four fields. */
export function checkpointPayload(c: CheckpointClaim): string {
  return canonicalJson({ writer: c.writer, size: c.size, head: c.head, ts: c.ts })
}

export function signCheckpoint(privateKey: KeyObject, c: CheckpointClaim): string {
  return sign(null, Buffer.from(checkpointPayload(c)), privateKey).toString('base64')
}

export function checkpointSignatureValid(publicKey: KeyObject, c: CheckpointClaim, signature: string): boolean {
  try {
    return verify(null, Buffer.from(checkpointPayload(c)), publicKey, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}

/** A public key's fingerprint: hex SHA-256 of its DER SubjectPublicKeyInfo. */
export function keyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
}

/** What signs checkpoints: the private key and its public key's fingerprint. */
export interface CheckpointSigner {
  readonly privateKey: KeyObject
  readonly keyId: string
}
