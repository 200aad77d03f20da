/**
 * The shared cache tier (L2): entries in Redis, read and written by every replica.
 *
 * Redis layout (P is `keyPrefix`, `chaperone` by default; K an entry key, T a tag):
 *
 *   {P}:cache:e:K   HASH  `m`: the entry's CacheEntryMeta as JSON (listing reads only this),
 *                         `b`: the codec blob (codec.ts: compressed, checksummed).
 *                         PEXPIREAT meta.staleUntil.
 *   {P}:cache:t:T   SET   entry keys K written with tag T. Its expiry is the latest staleUntil of
 *                         the entries added to it, so it outlives each of them; it is never left
 *                         without one. A member may outlive its entry, or name an entry rewritten
 *                         without T: readers check the entry's own `m` before trusting it.
 *   {P}:cache:l:K   STRING the fill lock of K: a random owner token, PX the lock's ttl.
 *   {P}:cache:invalidate  (a pub/sub channel, not a key) every delete publishes its selector
 *                         as JSON, so that every replica drops it from its memory tier.
 *
 * Every key shares the hash tag `{P}` like the rest of Chaperone's keys, so on Redis Cluster the
 * whole cache lives in one slot: the scripts may touch an entry and its tag sets together, a
 * batch DEL may name many entries, and SCAN on that slot's node sees every entry. The price is
 * that the cache does not spread over the cluster's nodes.
 */
import { randomBytes } from 'node:crypto'
import { ReplyError, type Redis } from 'ioredis'
import type { CacheEntry, CacheEntryMeta, CacheSelector, FillLock, LockResult } from '../../core/cache/types.js'
import type { RedisLog } from '../redis/connect.js'
import { globEscape, taggedKey } from '../redis/keys.js'
import { redisScript } from '../redis/script.js'
import { CorruptEntryError, decodeEntry, encodeEntry } from './codec.js'
import type { CacheStoreEvents, CacheTier } from './tier.js'

export interface RedisTierOptions {
  /** Shared with the other Redis features; the tier never closes it. */
  redis: Redis
  keyPrefix?: string
  /** Passed to decodeEntry: the bound on what one entry may decode to. */
  maxEntryBytes: number
  now?: () => number
  events: Pick<CacheStoreEvents, 'corrupt'>
  /**
   * Called for every invalidation any replica (this one too) publishes. Given, the tier holds a
   * second connection subscribed to the channel; `close()` ends it.
   */
  onInvalidate?: (sel: CacheSelector) => void
  log: RedisLog
}

/** Keys per SCAN/SSCAN reply, and so per DEL or pipeline: bounds each reply and each batch. */
const SCAN_COUNT = 500

/** Redis' clock in whole milliseconds. */
const NOW_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`

/**
 * Writes an entry and adds it to its tag sets in one step, so no tag misses an entry written with
 * it. A tag set's expiry only ever moves later: PEXPIREAT GT would do, but it takes a set without
 * a TTL (a fresh one) for an infinite expiry and would leave it so. Nothing is written for an entry
 * already past staleUntil on Redis' clock: PEXPIREAT in the past would delete a tag set in use.
 *
 * KEYS[1]: the entry's hash; KEYS[2..]: its tag sets. ARGV: meta JSON, blob, staleUntil, entry key.
 * Reply: 1 when written, 0 when already expired.
 */
const SET_LUA = `${NOW_LUA}
local untilMs = tonumber(ARGV[3])
if untilMs <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'm', ARGV[1], 'b', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 or now + ttl < untilMs then redis.call('PEXPIREAT', KEYS[i], ARGV[3]) end
end
return 1
`

/**
 * Deletes the entries of one batch of a tag set's members that still carry the tag (an entry
 * rewritten without it stays; one whose meta does not parse goes), and takes the members out of
 * the set. Members only, never the whole set: an entry tagged while the invalidation runs stays
 * findable by its tag.
 *
 * KEYS[1]: the tag set; KEYS[2..]: the members' entry hashes. ARGV[1]: the tag; ARGV[2..]: the members.
 * Reply: entries deleted.
 */
const DELETE_TAGGED_LUA = `
local n = 0
for i = 2, #KEYS do
  local m = redis.call('HGET', KEYS[i], 'm')
  if m then
    local ok, meta = pcall(cjson.decode, m)
    local tagged = not ok or type(meta) ~= 'table' or type(meta.tags) ~= 'table'
    if not tagged then
      for _, t in ipairs(meta.tags) do
        if t == ARGV[1] then tagged = true break end
      end
    end
    if tagged then n = n + redis.call('DEL', KEYS[i]) end
  end
  redis.call('SREM', KEYS[1], ARGV[i])
end
return n
`

/** KEYS[1]: the lock. ARGV: owner token, ttlMs. Reply: 1 when still the owner (and extended). */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`

/** KEYS[1]: the lock. ARGV[1]: owner token. Deletes only a lock this owner still holds. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/** redisScript's runner, for scripts that take a Buffer (ioredis sends those as they are). */
type BinaryScriptRun = (...args: (string | number | Buffer)[]) => Promise<unknown>

/** PX and PEXPIRE take a positive whole number of ms; anything else is a caller's bug. */
function lockTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lock ttl must be a positive number of ms, got ${ttlMs}`)
  return Math.ceil(ttlMs)
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** The meta stored for `key`, or undefined when it does not parse, has the wrong shape or names another key. */
function parseMeta(text: string, key: string): CacheEntryMeta | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const m = v as Record<string, unknown>
  const ok =
    m.key === key &&
    typeof m.route === 'string' &&
    isNumber(m.createdAt) &&
    isNumber(m.freshUntil) &&
    isNumber(m.staleUntil) &&
    Array.isArray(m.tags) &&
    m.tags.every((tag) => typeof tag === 'string') &&
    typeof m.contentType === 'string' &&
    isNumber(m.bytes)
  return ok ? (m as unknown as CacheEntryMeta) : undefined
}

/** A selector as published, or undefined for anything else: exactly one string field of the three. */
function parseSelector(text: string): CacheSelector | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const entries = Object.entries(v)
  if (entries.length !== 1) return undefined
  const [field, value] = entries[0]!
  if (typeof value !== 'string') return undefined
  if (field === 'key') return { key: value }
  if (field === 'tag') return { tag: value }
  if (field === 'prefix') return { prefix: value }
  return undefined
}

/** A pipeline's replies; a reply error (a key of the wrong type) is undefined, a connection error throws. */
function pipelineReplies(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('redis discarded the cache pipeline')
  return results.map(([err, reply]) => {
    if (!err) return reply
    if (err instanceof ReplyError) return undefined
    throw err
  })
}

export class RedisTier implements CacheTier {
  private readonly redis: Redis
  private readonly maxEntryBytes: number
  private readonly now: () => number
  private readonly events: Pick<CacheStoreEvents, 'corrupt'>
  private readonly log: RedisLog
  private readonly entryBase: string
  private readonly tagBase: string
  private readonly lockBase: string
  private readonly channel: string
  private readonly setScript: BinaryScriptRun
  private readonly deleteTaggedScript: BinaryScriptRun
  private readonly renewScript: BinaryScriptRun
  private readonly releaseScript: BinaryScriptRun
  private readonly subscriber: Redis | undefined
  private closed = false
  private corruptLogged = false

  constructor(opts: RedisTierOptions) {
    this.redis = opts.redis
    this.maxEntryBytes = opts.maxEntryBytes
    this.now = opts.now ?? Date.now
    this.events = opts.events
    this.log = opts.log
    this.entryBase = taggedKey(opts.keyPrefix, 'cache', 'e', '')
    this.tagBase = taggedKey(opts.keyPrefix, 'cache', 't', '')
    this.lockBase = taggedKey(opts.keyPrefix, 'cache', 'l', '')
    this.channel = taggedKey(opts.keyPrefix, 'cache', 'invalidate')
    const script = (name: string, lua: string, keys?: number) => redisScript(opts.redis, name, lua, keys) as BinaryScriptRun
    this.setScript = script('chaperoneCacheSet', SET_LUA)
    this.deleteTaggedScript = script('chaperoneCacheDeleteTagged', DELETE_TAGGED_LUA)
    this.renewScript = script('chaperoneCacheRenew', RENEW_LUA, 1)
    this.releaseScript = script('chaperoneCacheRelease', RELEASE_LUA, 1)
    if (opts.onInvalidate) this.subscriber = this.subscribe(opts.onInvalidate)
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const redisKey = this.entryBase + key
    const blob = await this.redis.hgetBuffer(redisKey, 'b')
    if (blob === null) return undefined
    let entry: CacheEntry
    try {
      entry = await decodeEntry(blob, this.maxEntryBytes)
      // A blob under another key's name would serve one scope's answer to another: never trusted.
      if (entry.meta.key !== key) throw new CorruptEntryError(`entry for ${JSON.stringify(entry.meta.key)} stored under another key`)
    } catch (err) {
      if (!(err instanceof CorruptEntryError)) throw err
      this.events.corrupt()
      // Once: the metric counts them all, and a codec mismatch across a rollout would flood the log.
      if (!this.corruptLogged) this.log.warn({ key, err: err.message }, 'corrupt cache entry in redis deleted (further ones are counted, not logged)')
      this.corruptLogged = true
      await this.redis.del(redisKey)
      return undefined
    }
    // Redis expires it on its own clock; ours may be ahead of it.
    return entry.meta.staleUntil > this.now() ? entry : undefined
  }

  async set(entry: CacheEntry): Promise<void> {
    const { meta } = entry
    // Neither is readable back: one is gone on arrival, the other over every decoder's bound.
    if (meta.staleUntil <= this.now() || entry.body.length > this.maxEntryBytes) return
    const blob = await encodeEntry(entry)
    const tags = [...new Set(meta.tags)]
    await this.setScript(1 + tags.length, this.entryBase + meta.key, ...tags.map((tag) => this.tagBase + tag), JSON.stringify(meta), blob, Math.ceil(meta.staleUntil), meta.key)
  }

  async delete(sel: CacheSelector): Promise<number> {
    let deleted: number
    let published: CacheSelector
    if ('key' in sel) {
      deleted = await this.redis.del(this.entryBase + sel.key)
      published = { key: sel.key }
    } else if ('tag' in sel) {
      deleted = await this.deleteTagged(sel.tag)
      published = { tag: sel.tag }
    } else {
      deleted = await this.deletePrefixed(sel.prefix)
      published = { prefix: sel.prefix }
    }
    // Published even when Redis held nothing: another replica's memory may hold what Redis lost.
    // Rebuilt from the one field used, so no extra property makes it malformed for the subscribers.
    await this.redis.publish(this.channel, JSON.stringify(published))
    return deleted
  }

  /** Metadata of at most `limit` live entries found first (not the newest of the whole cache), newest first. */
  async list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]> {
    const found: CacheEntryMeta[] = []
    if (limit <= 0) return found
    const prefix = sel.prefix ?? ''
    const tag = sel.tag
    const now = this.now()
    const take = async (keys: readonly string[]) => {
      if (keys.length === 0) return
      const pipeline = this.redis.pipeline()
      for (const key of keys) pipeline.hget(this.entryBase + key, 'm')
      const replies = pipelineReplies(await pipeline.exec())
      replies.forEach((reply, i) => {
        if (found.length >= limit || typeof reply !== 'string') return
        const meta = parseMeta(reply, keys[i]!)
        if (meta === undefined || meta.staleUntil <= now) return
        if (tag !== undefined && !meta.tags.includes(tag)) return
        found.push(meta)
      })
    }
    if (tag === undefined) {
      await this.scanEntries(prefix, (keys) => take(keys).then(() => found.length < limit))
    } else {
      await this.scanTag(tag, (members) => take([...new Set(members)].filter((k) => k.startsWith(prefix))).then(() => found.length < limit))
    }
    return found.sort((a, b) => b.createdAt - a.createdAt)
  }

  async lock(key: string, ttlMs: number): Promise<LockResult> {
    const ttl = lockTtl(ttlMs)
    const lockKey = this.lockBase + key
    const owner = randomBytes(16).toString('hex')
    const reply = await this.redis.set(lockKey, owner, 'PX', ttl, 'NX')
    if (reply !== 'OK') return { kind: 'held' }
    const lock: FillLock = {
      renew: async (next) => (await this.renewScript(lockKey, owner, lockTtl(next))) === 1,
      release: async () => {
        try {
          await this.releaseScript(lockKey, owner)
        } catch {
          // The lock expires at its ttl anyway; a waiter then fetches on its own.
        }
      },
    }
    return { kind: 'acquired', lock }
  }

  /** Ends the invalidation subscriber, if any; the shared client stays open. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const sub = this.subscriber
    if (!sub) return
    if (sub.status === 'ready') await sub.quit().catch(() => sub.disconnect())
    else sub.disconnect()
  }

  private async deleteTagged(tag: string): Promise<number> {
    const setKey = this.tagBase + tag
    let deleted = 0
    await this.scanTag(tag, async (members) => {
      const unique = [...new Set(members)]
      if (unique.length === 0) return true
      const n = await this.deleteTaggedScript(1 + unique.length, setKey, ...unique.map((k) => this.entryBase + k), tag, ...unique)
      deleted += Number(n)
      return true
    })
    return deleted
  }

  private async deletePrefixed(prefix: string): Promise<number> {
    let deleted = 0
    await this.scanEntries(prefix, async (keys) => {
      if (keys.length > 0) deleted += await this.redis.del(...keys.map((k) => this.entryBase + k))
      return true
    })
    return deleted
  }

  /** Entry keys starting with `prefix`, a SCAN reply at a time, until `each` answers false. */
  private async scanEntries(prefix: string, each: (keys: readonly string[]) => Promise<boolean>): Promise<void> {
    const pattern = `${globEscape(this.entryBase + prefix)}*`
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)
      cursor = next
      if (!(await each(keys.map((k) => k.slice(this.entryBase.length))))) return
    } while (cursor !== '0')
  }

  /** Members of a tag set (entry keys, possibly repeated), an SSCAN reply at a time, until `each` answers false. */
  private async scanTag(tag: string, each: (members: readonly string[]) => Promise<boolean>): Promise<void> {
    const setKey = this.tagBase + tag
    let cursor = '0'
    do {
      const [next, members] = await this.redis.sscan(setKey, cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      if (!(await each(members))) return
    } while (cursor !== '0')
  }

  private subscribe(onInvalidate: (sel: CacheSelector) => void): Redis {
    const sub = this.redis.duplicate({ connectionName: `${this.redis.options.connectionName ?? 'chaperone'}-cache-invalidate` })
    let malformedLogged = false
    let errorLogged = false
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return
      const sel = parseSelector(text)
      if (sel !== undefined) return void onInvalidate(sel)
      // Logged once: a misbehaving publisher would otherwise flood the log.
      if (malformedLogged) return
      malformedLogged = true
      this.log.warn({ channel, message: text.slice(0, 200) }, 'malformed cache invalidation message ignored (further ones are not logged)')
    })
    // Without a listener ioredis prints every failed reconnect; connectRedis logs the outage already.
    sub.on('error', (err: Error) => {
      if (errorLogged) return
      errorLogged = true
      this.log.warn({ channel: this.channel, err: err.message }, 'cache invalidation subscriber cannot reach redis; retrying')
    })
    // No offline queue: SUBSCRIBE waits for a ready connection. ioredis resubscribes after a
    // reconnect by itself; subscribing again on each 'ready' covers a first attempt that failed.
    const subscribe = () => {
      errorLogged = false
      sub.subscribe(this.channel).catch((err: Error) => {
        if (!this.closed) this.log.warn({ channel: this.channel, err: err.message }, 'cannot subscribe to cache invalidations; retrying on reconnect')
      })
    }
    sub.on('ready', subscribe)
    if (sub.status === 'ready') subscribe()
    return sub
  }
}
