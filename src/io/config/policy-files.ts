/**
 * Reads the files a policy refers to (JWKS, HMAC secrets) for the compiler, and remembers which
 * ones it read so that a change to any of them reloads the policy like a change to the policy
 * itself: they may live in the ConfigMap next to the YAML, or in a Secret mounted elsewhere.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { PolicyFilePort } from '../../core/ports.js'

/** A JWKS or a secret is small; anything bigger is a wrong path. */
const MAX_FILE_BYTES = 1024 * 1024

export class PolicyFileReader implements PolicyFilePort {
  readonly #dir: string
  #recorded = new Set<string>()

  constructor(dir: string) {
    this.#dir = dir
  }

  read(file: string, maxBytes = MAX_FILE_BYTES): Uint8Array {
    const abs = path.resolve(this.#dir, file)
    this.#recorded.add(abs)
    let bytes: Buffer
    try {
      bytes = readFileSync(abs)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      throw new Error(code === 'ENOENT' ? `file ${abs} does not exist` : `cannot read ${abs}: ${(e as Error).message}`)
    }
    if (bytes.byteLength > maxBytes) throw new Error(`file ${abs} is ${bytes.byteLength} bytes, more than ${maxBytes}`)
    return bytes
  }

  /** Starts a compile: what it reads from now on is what the next `recorded()` returns. */
  begin(): void {
    this.#recorded = new Set()
  }

  recorded(): readonly string[] {
    return [...this.#recorded].sort()
  }
}

/** Identity of the current contents of `files` (a missing or unreadable file has one too). */
export function digestReferencedFiles(files: readonly string[]): string {
  if (files.length === 0) return ''
  const h = createHash('sha256')
  for (const f of files) {
    h.update(f).update('\0')
    try {
      h.update(readFileSync(f))
    } catch (e) {
      h.update(`error:${(e as NodeJS.ErrnoException).code ?? ''}`)
    }
    h.update('\0')
  }
  return h.digest('hex')
}
