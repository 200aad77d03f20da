/** The audit log's secrets, read from files (mounted Secrets), with errors that name the file. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { keyFingerprint, type CheckpointSigner } from '../../core/audit/checkpoint.js'

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AuditKeyError'
  }
}

export const MIN_SECRET_BYTES = 32

async function read(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    throw new AuditKeyError(`${file}: cannot read the ${what}: ${(err as Error).message}`)
  }
}

/** The pseudonym key: the file's bytes, a trailing newline (as `echo` leaves it) not included. */
export async function readSecretKey(file: string): Promise<Buffer> {
  let key = await read(file, 'audit pseudonym key')
  if (key.at(-1) === 0x0a) key = key.subarray(0, key.at(-2) === 0x0d ? -2 : -1)
  if (key.length < MIN_SECRET_BYTES) throw new AuditKeyError(`${file}: the audit pseudonym key has ${key.length} bytes; at least ${MIN_SECRET_BYTES} are needed (e.g. openssl rand -base64 48)`)
  return key
}

function ed25519(key: KeyObject, file: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new AuditKeyError(`${file}: an Ed25519 key is needed, not ${key.asymmetricKeyType ?? 'a symmetric key'} (openssl genpkey -algorithm ed25519)`)
  return key
}

export async function readSigningKey(file: string): Promise<CheckpointSigner> {
  const pem = await read(file, 'checkpoint signing key')
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch (err) {
    throw new AuditKeyError(`${file}: not a private key in PEM: ${(err as Error).message}`)
  }
  ed25519(privateKey, file)
  return { privateKey, keyId: keyFingerprint(createPublicKey(privateKey)) }
}

/** Public keys by fingerprint; a private key file is accepted too (its public half is used). */
export async function readPublicKeys(files: readonly string[]): Promise<Map<string, KeyObject>> {
  const keys = new Map<string, KeyObject>()
  for (const file of files) {
    const pem = await read(file, 'public key')
    let key: KeyObject
    try {
      key = createPublicKey(pem)
    } catch (err) {
      throw new AuditKeyError(`${file}: not a public key in PEM: ${(err as Error).message}`)
    }
    keys.set(keyFingerprint(ed25519(key, file)), key)
  }
  return keys
}
