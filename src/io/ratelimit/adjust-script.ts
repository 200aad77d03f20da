import type { Redis } from 'ioredis'
import { redisScript, type ScriptRun } from '../redis/script.js'

/**
 * Charges (or gives back) units on one bucket without a check, on Redis' clock and with the
 * arithmetic of core/ratelimit/gcra.ts adjustTat: token reservations reconciled with the usage
 * a response reported. A bucket given back past full is deleted; every write carries a TTL.
 * KEYS[1]: the bucket. ARGV: limit, periodMs, delta (units, may be negative).
 */
export const ADJUST_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[2]) * 1000 / tonumber(ARGV[1])
local delta = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local nextTat
if delta >= 0 then
  if tat < now then tat = now end
  nextTat = tat + math.floor(delta * interval)
else
  nextTat = tat + math.ceil(delta * interval)
end
if nextTat <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil((nextTat - now) / 1000) + 1000)
return 1
`

/**
 * Concurrency leases: a sorted set of holders scored by expiry (Redis time, ms), so a holder that
 * never released (a crashed replica) frees its slot at expiry. KEYS[1]: the set. ARGV: id, max, ttlMs.
 */
export const LEASE_LUA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`

export function adjustCommands(redis: Redis): { adjust: ScriptRun; lease: ScriptRun } {
  return { adjust: redisScript(redis, 'chaperoneAdjust', ADJUST_LUA, 1), lease: redisScript(redis, 'chaperoneLease', LEASE_LUA, 1) }
}
