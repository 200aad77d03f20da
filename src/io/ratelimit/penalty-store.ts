import type { Redis } from 'ioredis'
import { taggedKey } from '../redis/keys.js'
import { redisScript, type ScriptRun } from '../redis/script.js'
import { boxedFor, report, ttlMs, type PenaltyConfig, type PenaltyState } from '../../core/ratelimit/penalty.js'
import type { PenaltyStore } from '../../core/ports.js'

export type { PenaltyStore }

/** NaN or negative points would poison the state (every later comparison false), and in Redis too. */
function checkPoints(points: number): void {
  if (!Number.isFinite(points) || points < 0) throw new RangeError(`penalty points must be finite and non-negative, got ${points}`)
}

export interface MemoryPenaltyStoreOptions {
  /** States kept; past it the least recently reported go (their subjects start afresh). */
  maxKeys?: number
  now?: () => number
}

/** States looked at per report, so stale ones go without a timer and no report pays for all. */
const SWEEP_PER_REPORT = 64

/**
 * core/ratelimit/penalty.ts over a Map held by this replica alone. A state is kept only for its
 * ttlMs, as Redis keeps its key, so both stores forget alike.
 */
export class MemoryPenaltyStore implements PenaltyStore {
  /** Key → state and when it stops mattering. Kept in the order of the last report. */
  private readonly states = new Map<string, { state: PenaltyState; expiresMs: number }>()
  private readonly maxKeys: number
  private readonly now: () => number
  private cursor: Iterator<[string, { expiresMs: number }]> | undefined

  constructor(opts: MemoryPenaltyStoreOptions = {}) {
    this.maxKeys = opts.maxKeys ?? 100_000
    this.now = opts.now ?? Date.now
  }

  get size(): number {
    return this.states.size
  }

  async report(key: string, points: number, cfg: PenaltyConfig): Promise<{ boxedForMs: number }> {
    checkPoints(points)
    const now = this.now()
    this.sweep(now)
    const next = report(this.live(key, now), now, points, cfg)
    const ttl = ttlMs(next, now, cfg)
    this.states.delete(key)
    if (ttl > 0) {
      for (const oldest of this.states.keys()) {
        if (this.states.size < this.maxKeys) break
        this.states.delete(oldest)
      }
      this.states.set(key, { state: next, expiresMs: now + ttl })
    }
    return { boxedForMs: Math.ceil(boxedFor(next, now)) }
  }

  async boxedFor(key: string): Promise<number> {
    const now = this.now()
    return Math.ceil(boxedFor(this.live(key, now), now))
  }

  /** The key's state unless it has expired (then dropped, as Redis would have). */
  private live(key: string, now: number): PenaltyState | undefined {
    const entry = this.states.get(key)
    if (entry === undefined || entry.expiresMs > now) return entry?.state
    this.states.delete(key)
    return undefined
  }

  /** Resumes where the last sweep stopped (Map iterators survive deletes and see later sets). */
  private sweep(now: number): void {
    for (let seen = 0; seen < SWEEP_PER_REPORT; seen++) {
      this.cursor ??= this.states.entries()
      const next = this.cursor.next()
      if (next.done) {
        this.cursor = undefined
        return
      }
      const [key, entry] = next.value
      if (entry.expiresMs <= now) this.states.delete(key)
    }
  }
}

/** Redis' clock in whole milliseconds, as Date.now() gives the memory store. */
const NOW_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`

/**
 * core/ratelimit/penalty.ts report and ttlMs, line for line, on one HASH (fields points, updated,
 * strikes, boxedUntil, lastBox) and Redis' clock. Numbers are written with %.17g so they read back
 * exactly (Lua's own tostring keeps 14 digits). The key is written with a PEXPIRE of ttlMs, or
 * deleted when the state no longer matters: no key is ever left without a TTL, and an expired,
 * evicted or flushed key is a subject with a clean record.
 *
 * KEYS[1]: the subject's hash. ARGV: points, threshold, halfLifeMs, boxMs, maxBoxMs, strikeMemoryMs.
 * Reply: ms left in the box (rounded up), 0 when free.
 */
export const PENALTY_REPORT_LUA = `${NOW_LUA}
local add = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local halfLife = tonumber(ARGV[3])
local boxMs = tonumber(ARGV[4])
local maxBoxMs = tonumber(ARGV[5])
local memoryMs = tonumber(ARGV[6])
local h = redis.call('HMGET', KEYS[1], 'points', 'updated', 'strikes', 'boxedUntil', 'lastBox')
local points = tonumber(h[1]) or 0
local updated = tonumber(h[2]) or now
local strikes = tonumber(h[3]) or 0
local boxedUntil = tonumber(h[4]) or 0
local lastBox = tonumber(h[5]) or 0

local elapsed = math.max(0, now - updated)
points = points * 2 ^ (-elapsed / halfLife) + add
if now >= boxedUntil + memoryMs then strikes = 0 end
if now >= boxedUntil and points >= threshold then
  boxedUntil = now + math.min(maxBoxMs, boxMs * 2 ^ strikes)
  lastBox = now
  strikes = strikes + 1
  points = 0
end

local floor = threshold / 1024
local ttl = math.max(0, boxedUntil - now)
if points > floor then ttl = math.max(ttl, halfLife * math.log(points / floor) / math.log(2)) end
if strikes > 0 then ttl = math.max(ttl, boxedUntil + memoryMs - now) end
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
else
  local f = function(x) return string.format('%.17g', x) end
  redis.call('HSET', KEYS[1], 'points', f(points), 'updated', f(now), 'strikes', f(strikes), 'boxedUntil', f(boxedUntil), 'lastBox', f(lastBox))
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl))
end
return math.ceil(math.max(0, boxedUntil - now))
`

/** KEYS[1]: the subject's hash. Reply: ms left in its box (rounded up), 0 when free or unknown. */
export const PENALTY_BOXED_LUA = `${NOW_LUA}
local boxedUntil = tonumber(redis.call('HGET', KEYS[1], 'boxedUntil')) or 0
return math.ceil(math.max(0, boxedUntil - now))
`


export interface RedisPenaltyStoreOptions {
  redis: Redis
  /** Hash tag of every key, as the rate limits' (redis-limiter.ts). */
  keyPrefix?: string
}

/**
 * Penalty boxes shared by every replica: one script call per report, atomic, on Redis' clock.
 * Errors (Redis down, the client's command timeout) reject; what they mean for the request is the
 * caller's policy.
 */
export class RedisPenaltyStore implements PenaltyStore {
  private readonly reportScript: ScriptRun
  private readonly boxedScript: ScriptRun
  private readonly keyBase: string

  constructor(opts: RedisPenaltyStoreOptions) {
    this.reportScript = redisScript(opts.redis, 'chaperonePenaltyReport', PENALTY_REPORT_LUA, 1)
    this.boxedScript = redisScript(opts.redis, 'chaperonePenaltyBoxed', PENALTY_BOXED_LUA, 1)
    this.keyBase = taggedKey(opts.keyPrefix, 'pen', '')
  }

  async report(key: string, points: number, cfg: PenaltyConfig): Promise<{ boxedForMs: number }> {
    checkPoints(points)
    const reply = await this.reportScript(this.keyBase + key, points, cfg.threshold, cfg.halfLifeMs, cfg.boxMs, cfg.maxBoxMs, cfg.strikeMemoryMs)
    return { boxedForMs: milliseconds(reply) }
  }

  async boxedFor(key: string): Promise<number> {
    return milliseconds(await this.boxedScript(this.keyBase + key))
  }
}

function milliseconds(reply: unknown): number {
  if (typeof reply !== 'number' || !(reply >= 0)) throw new Error(`unexpected penalty script reply: ${typeof reply}`)
  return reply
}
