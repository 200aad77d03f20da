/**
 * Subjects to pseudonyms, off the request path (the writer resolves one batch at a time).
 *
 * global: HMAC(global key, subject), deterministic, never forgettable short of rotating the key.
 * per-subject: each subject has its own random 32-byte key in Redis under
 * `{prefix}:audit:subject-key:<HMAC(global key, label, subject)>`, created with SET NX on first use
 * and kept without TTL; the pseudonym is HMAC(subject key, subject), and the subject's matched
 * text is hashed with a key derived from it too (a subject's own e-mail address is often what a
 * rule matched). forget() deletes the key: the pseudonyms and span hashes already written can no
 * longer be recomputed from the subject, and a returning subject gets a new, unlinkable key.
 *
 * Keys are cached per replica for cacheTtlMs; forget() evicts on its own replica, others keep
 * using the deleted key until their entry expires (the records they write meanwhile are as
 * unlinkable as the earlier ones once it does). When Redis cannot give a key, onRedisError
 * decides (global pseudonym marked `global`, or no subject, marked `dropped`), counted; Redis is
 * then left alone for probeMs so that a dead Redis does not slow every batch.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { globalSubject, type SubjectPseudonym } from '../../core/audit/events.js'
import { hmacKey, pseudonym, spanHashKey, subjectKeyId, type HmacKey } from '../../core/audit/pseudonym.js'
import { TtlCache } from '../../core/audit/ttl-cache.js'
import { taggedKey } from '../redis/keys.js'
import { redisScript } from '../redis/script.js'

export interface Pseudonymizer {
  readonly mode: 'global' | 'per-subject'
  /** How a request without a subject is written. */
  readonly anonymous: SubjectPseudonym
  /** Never rejects: failures are settled by the onRedisError policy. */
  resolve(subjects: ReadonlySet<string>): Promise<ReadonlyMap<string, SubjectPseudonym>>
  /** Deletes the subject's key (per-subject); resolves to whether there was one. */
  forget(subject: string): Promise<boolean>
  stats(): { readonly fallbacks: number; readonly redisErrors: number }
}

export class ForgetUnsupportedError extends Error {
  constructor() {
    super('forgetting a subject needs audit.pseudonyms.mode per-subject: global pseudonyms cannot be unlinked')
    this.name = 'ForgetUnsupportedError'
  }
}

const GLOBAL_CACHE_ENTRIES = 10_000

export class GlobalPseudonymizer implements Pseudonymizer {
  readonly mode = 'global' as const
  readonly anonymous: SubjectPseudonym
  readonly #key: HmacKey
  readonly #spanKey: HmacKey
  // Subjects repeat: most of a batch is a map lookup instead of an HMAC. Emptied when full
  // (the global pseudonym never changes, so nothing needs an LRU order here).
  readonly #cache = new Map<string, SubjectPseudonym>()

  constructor(globalKey: Uint8Array) {
    this.#key = hmacKey(globalKey)
    this.#spanKey = spanHashKey(this.#key)
    this.anonymous = globalSubject(this.#key, this.#spanKey, null)
  }

  async resolve(subjects: ReadonlySet<string>): Promise<ReadonlyMap<string, SubjectPseudonym>> {
    const out = new Map<string, SubjectPseudonym>()
    for (const s of subjects) {
      let p = this.#cache.get(s)
      if (!p) {
        if (this.#cache.size >= GLOBAL_CACHE_ENTRIES) this.#cache.clear()
        this.#cache.set(s, (p = globalSubject(this.#key, this.#spanKey, s)))
      }
      out.set(s, p)
    }
    return out
  }

  async forget(_subject: string): Promise<boolean> {
    throw new ForgetUnsupportedError()
  }

  stats() {
    return { fallbacks: 0, redisErrors: 0 }
  }
}

export interface PerSubjectOptions {
  readonly globalKey: Uint8Array
  readonly redis: Redis
  readonly keyPrefix: string
  readonly onRedisError: 'global' | 'drop-subject'
  readonly cacheEntries: number
  readonly cacheTtlMs: number
  readonly timeoutMs: number
  /** After a Redis failure, how long every subject goes straight to the fallback. */
  readonly probeMs?: number
  readonly now?: () => number
  /** Subjects written with the fallback, and why. */
  readonly onFallback?: (subjects: number, policy: 'global' | 'drop-subject') => void
}

const KEYS_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'NX')
  out[i] = redis.call('GET', key)
end
return out`

export const subjectKeyName = (prefix: string, globalKey: HmacKey, subject: string): string => taggedKey(prefix, 'audit', 'subject-key', subjectKeyId(globalKey, subject))

export class PerSubjectPseudonymizer implements Pseudonymizer {
  readonly mode = 'per-subject' as const
  readonly anonymous: SubjectPseudonym
  readonly #o: PerSubjectOptions
  readonly #globalKey: HmacKey
  readonly #globalSpanKey: HmacKey
  readonly #cache: TtlCache<string, SubjectPseudonym>
  readonly #getKeys: (...args: (string | number)[]) => Promise<unknown>
  readonly #now: () => number
  #downUntil = 0
  /** Bumped by forget(): a resolve that raced with it must not cache the deleted key. */
  #generation = 0
  #fallbacks = 0
  #redisErrors = 0

  constructor(o: PerSubjectOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#globalKey = hmacKey(o.globalKey)
    this.#globalSpanKey = spanHashKey(this.#globalKey)
    this.anonymous = globalSubject(this.#globalKey, this.#globalSpanKey, null)
    this.#cache = new TtlCache(o.cacheEntries, o.cacheTtlMs, this.#now)
    this.#getKeys = redisScript(o.redis, 'chaperoneAuditSubjectKeys', KEYS_LUA)
  }

  async resolve(subjects: ReadonlySet<string>): Promise<ReadonlyMap<string, SubjectPseudonym>> {
    const out = new Map<string, SubjectPseudonym>()
    const missing: string[] = []
    for (const s of subjects) {
      const p = this.#cache.get(s)
      if (p) out.set(s, p)
      else missing.push(s)
    }
    if (missing.length === 0) return out
    const failed = (): ReadonlyMap<string, SubjectPseudonym> => {
      for (const s of missing) if (!out.has(s)) out.set(s, this.#fallback(s))
      this.#fallbacks += missing.length
      this.#o.onFallback?.(missing.length, this.#o.onRedisError)
      return out
    }
    if (this.#now() < this.#downUntil) return failed()
    const generation = this.#generation
    try {
      const names = missing.map((s) => subjectKeyName(this.#o.keyPrefix, this.#globalKey, s))
      const fresh = missing.map(() => randomBytes(32).toString('base64'))
      const values = (await withTimeout(this.#getKeys(names.length, ...names, ...fresh), this.#o.timeoutMs)) as unknown[]
      const keys = values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'base64') : undefined))
      if (keys.some((k) => k?.length !== 32)) throw new Error('a subject key in Redis is not 32 bytes of base64')
      missing.forEach((s, i) => {
        const key = hmacKey(keys[i]!)
        const p: SubjectPseudonym = { subject: pseudonym(key, s), spanKey: spanHashKey(key) }
        out.set(s, p)
        if (generation === this.#generation) this.#cache.set(s, p)
      })
      return out
    } catch {
      this.#redisErrors++
      this.#downUntil = this.#now() + (this.#o.probeMs ?? 1000)
      return failed()
    }
  }

  async forget(subject: string): Promise<boolean> {
    this.#generation++
    this.#cache.delete(subject)
    const deleted = await this.#o.redis.del(subjectKeyName(this.#o.keyPrefix, this.#globalKey, subject))
    // A batch resolved while the DEL was in flight may have cached the old key again.
    this.#generation++
    this.#cache.delete(subject)
    return deleted > 0
  }

  stats() {
    return { fallbacks: this.#fallbacks, redisErrors: this.#redisErrors }
  }

  #fallback(subject: string): SubjectPseudonym {
    if (this.#o.onRedisError === 'global') return globalSubject(this.#globalKey, this.#globalSpanKey, subject, 'global')
    return { subject: null, marker: 'dropped', spanKey: this.#globalSpanKey }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
