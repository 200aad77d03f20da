import type { Redis } from 'ioredis'
import type { Revocation, RevocationStore, TokenIdentity } from '../../core/ports.js'
import type { RedisLog } from '../redis/connect.js'
import { globEscape, taggedKey } from '../redis/keys.js'
import { RevocationStoreFullError, keyOf, toRevocation } from './revocation-entry.js'
import { RevocationSet } from './revocation-set.js'

export interface RedisRevocationStoreOptions {
  redis: Redis
  /** Hash tag of both keys, so they share a Redis Cluster slot (MULTI needs that). */
  keyPrefix?: string
  pollMs?: number
  maxEntries?: number
  now?: () => number
  log: RedisLog
}

/** Fields per HSCAN reply: bounds each reply while keeping round trips few. */
const SCAN_COUNT = 500
/** Field/value pairs per prune script call. */
const PRUNE_BATCH = 100
/** Bad fields named in the one warning a reload logs about them. */
const BAD_FIELDS_LOGGED = 5

/**
 * Deletes each field only if it still holds the value the reload saw expired: an operator may
 * have re-added the same key (a new "log out everywhere" for a subject) since, and that must stay.
 */
const PRUNE_IF_UNCHANGED = `local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n`

const KIND_TAG = { jti: 'j', subject: 's' } as const

/**
 * `j:<issuer>:<jti>` or `s:<issuer>:<subject>`. The issuer is URI-encoded: issuers are URLs,
 * and a raw ':' in one would let two different entries share a field and overwrite each other.
 */
function fieldOf(kind: Revocation['kind'], key: string, issuer: string | undefined): string {
  return `${KIND_TAG[kind]}:${encodeURIComponent(issuer ?? '')}:${key}`
}


/** Throws the first error of a MULTI, or when it was discarded; else its replies. */
function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('redis discarded the revocation transaction')
  for (const [err] of results) if (err) throw err
  return results.map(([, reply]) => reply)
}

interface Loaded {
  set: RevocationSet
  /** Expired field/value pairs, for the conditional prune. */
  expired: string[]
  bad: { field: string; err: string }[]
  /** Valid unexpired entries left out because the set was full. */
  over: number
}

/**
 * Revocations shared by every replica through one Redis hash. Each replica checks against a local
 * copy, reloaded whole whenever a version counter (bumped by every write) differs from the one it
 * last loaded; polling it every `pollMs` keeps replicas within about that of each other. A replica
 * that cannot reach Redis keeps its last copy and reports how old it is through `staleness()`.
 */
export class RedisRevocationStore implements RevocationStore {
  private readonly redis: Redis
  private readonly hashKey: string
  private readonly versionKey: string
  private readonly pollMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private readonly log: RedisLog
  private view = new RevocationSet()
  /** The version the view was loaded at; undefined forces a reload (never loaded, or after an outage). */
  private seenVersion: string | null | undefined
  private lastSyncAt: number | undefined
  private outage = false
  /** This replica's writes made while a reload is in flight, replayed onto what it loaded. */
  private replay: ((set: RevocationSet) => void)[] | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(opts: RedisRevocationStoreOptions) {
    this.redis = opts.redis
    const prefix = opts.keyPrefix ?? 'chaperone'
    this.hashKey = taggedKey(prefix, 'revocations')
    this.versionKey = taggedKey(prefix, 'revocations', 'version')
    this.pollMs = opts.pollMs ?? 250
    this.maxEntries = opts.maxEntries ?? 100_000
    this.now = opts.now ?? Date.now
    this.log = opts.log
  }

  /**
   * Loads the revocations and starts polling. Resolves even when Redis is unreachable (that is
   * logged, and `staleness()` is Infinity until a load succeeds), so Redis being down at boot
   * leaves the decision to the caller's onError policy rather than failing the sidecar.
   */
  async start(): Promise<void> {
    await this.poll()
    this.schedule()
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
  }

  isRevoked(token: TokenIdentity): boolean {
    return this.view.isRevoked(token, this.now())
  }

  staleness(): number {
    return this.lastSyncAt === undefined ? Infinity : Math.max(0, this.now() - this.lastSyncAt)
  }

  async add(entry: Revocation): Promise<void> {
    const clean = toRevocation(entry)
    // The bound is the view's: entries past it would not be loaded by any replica.
    if (!this.view.has(clean) && this.view.size >= this.maxEntries) {
      this.view.prune(this.now())
      if (this.view.size >= this.maxEntries) throw new RevocationStoreFullError(this.maxEntries)
    }
    const field = fieldOf(clean.kind, keyOf(clean), clean.issuer)
    replies(await this.redis.multi().hset(this.hashKey, field, JSON.stringify(clean)).incr(this.versionKey).exec())
    this.applyLocally((set) => set.put(clean))
  }

  /** Without an issuer, removes the key's entries for every issuer (found by scanning the hash). */
  async remove(kind: Revocation['kind'], key: string, issuer?: string): Promise<number> {
    const fields = issuer === undefined ? await this.fieldsOfEveryIssuer(kind, key) : [fieldOf(kind, key, issuer)]
    if (fields.length === 0) return 0
    const [gone] = replies(await this.redis.multi().hdel(this.hashKey, ...fields).incr(this.versionKey).exec())
    this.applyLocally((set) => set.delete(kind, key, issuer))
    return Number(gone)
  }

  /** Read from Redis, not the local view: the admin API wants what every replica will enforce. */
  async list(): Promise<readonly Revocation[]> {
    const { set } = await this.load()
    return [...set.entries()]
  }

  private applyLocally(op: (set: RevocationSet) => void): void {
    op(this.view)
    this.replay?.push(op)
  }

  private schedule(): void {
    if (this.closed) return
    this.timer = setTimeout(() => void this.poll().then(() => this.schedule()), this.pollMs)
    this.timer.unref()
  }

  /** Never rejects: a failed poll keeps the last view, and an outage is logged once. */
  private async poll(): Promise<void> {
    const startedAt = this.now()
    try {
      const version = await this.redis.get(this.versionKey)
      // A missing version (Redis flushed or restarted empty) differs from any seen one: reload.
      if (version !== this.seenVersion) await this.reload(version)
      this.lastSyncAt = startedAt
      if (this.outage) this.log.info({ hashKey: this.hashKey }, 'revocations in sync with redis again')
      this.outage = false
    } catch (err) {
      // A Redis restarted meanwhile may have counted back up to the version last seen.
      this.seenVersion = undefined
      // A poll in flight when the caller closed us and its client is no outage.
      if (!this.outage && !this.closed) {
        this.log.warn({ hashKey: this.hashKey, err: (err as Error).message }, 'cannot sync revocations from redis; checking against the last copy')
      }
      this.outage = true
    }
  }

  /**
   * The version was read before the hash is scanned: a write landing during the scan bumps it past
   * `version`, so the next poll reloads again instead of missing it.
   */
  private async reload(version: string | null): Promise<void> {
    this.replay = []
    let loaded: Loaded
    try {
      loaded = await this.load()
      for (const op of this.replay) op(loaded.set)
    } finally {
      this.replay = undefined
    }
    this.view = loaded.set
    this.seenVersion = version
    if (loaded.bad.length > 0) {
      this.log.warn(
        { hashKey: this.hashKey, skipped: loaded.bad.length, examples: loaded.bad.slice(0, BAD_FIELDS_LOGGED) },
        'revocation entries in redis are malformed and ignored',
      )
    }
    if (loaded.over > 0) {
      this.log.error(
        { hashKey: this.hashKey, maxEntries: this.maxEntries, ignored: loaded.over },
        'more unexpired revocations in redis than maxEntries; the rest are not enforced',
      )
    }
    await this.prune(loaded.expired).catch(() => {
      // Best effort: the next reload finds them expired again.
    })
  }

  /** The whole hash, checked entry by entry, at most `maxEntries` unexpired ones kept. */
  private async load(): Promise<Loaded> {
    const loaded: Loaded = { set: new RevocationSet(), expired: [], bad: [], over: 0 }
    const nowMs = this.now()
    let cursor = '0'
    do {
      const [next, flat] = await this.redis.hscan(this.hashKey, cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      for (let i = 0; i + 1 < flat.length; i += 2) this.take(loaded, flat[i]!, flat[i + 1]!, nowMs)
    } while (cursor !== '0')
    return loaded
  }

  private take(loaded: Loaded, field: string, value: string, nowMs: number): void {
    let entry: Revocation
    try {
      entry = toRevocation(JSON.parse(value))
      if (fieldOf(entry.kind, keyOf(entry), entry.issuer) !== field) throw new Error('entry does not match its field')
    } catch (err) {
      loaded.bad.push({ field: field.slice(0, 200), err: (err as Error).message })
      return
    }
    if (entry.expiresAt * 1000 <= nowMs) loaded.expired.push(field, value)
    else if (loaded.set.has(entry) || loaded.set.size < this.maxEntries) loaded.set.put(entry)
    else loaded.over++
  }

  private async prune(expired: readonly string[]): Promise<void> {
    for (let i = 0; i < expired.length; i += PRUNE_BATCH * 2) {
      await this.redis.eval(PRUNE_IF_UNCHANGED, 1, this.hashKey, ...expired.slice(i, i + PRUNE_BATCH * 2))
    }
  }

  private async fieldsOfEveryIssuer(kind: Revocation['kind'], key: string): Promise<string[]> {
    const tag = `${KIND_TAG[kind]}:`
    const fields: string[] = []
    let cursor = '0'
    do {
      const [next, flat] = await this.redis.hscan(this.hashKey, cursor, 'MATCH', `${tag}*:${globEscape(key)}`, 'COUNT', SCAN_COUNT)
      cursor = next
      for (let i = 0; i < flat.length; i += 2) {
        const field = flat[i]!
        // The pattern's '*' may swallow part of a key holding ':'; an encoded issuer never holds one.
        const rest = field.slice(tag.length)
        if (rest.slice(rest.indexOf(':') + 1) === key && !fields.includes(field)) fields.push(field)
      }
    } while (cursor !== '0')
    return fields
  }
}
