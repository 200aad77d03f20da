import type { Redis } from 'ioredis'
import { redisScript } from '../redis/script.js'
import type { LimitSpec } from '../../core/ports.js'

const ARGS_PER_SPEC = 5
/** Numbers per spec in the reply, after its leading overall flag. */
export const REPLY_PER_SPEC = 4

/**
 * GCRA for every limit of one request in one atomic call: the arithmetic of core/ratelimit/gcra.ts
 * on integer microseconds of Redis' own clock (replicas' clocks never meet here). Each key holds
 * its bucket's TAT as a decimal integer of microseconds, and lives only while the bucket is not
 * full (PX up to the TAT, plus a margin): a missing key, whether expired, evicted or flushed, is
 * a full bucket, so no key is ever kept without a TTL and a flush never breaks anything.
 *
 * KEYS[i]: spec i's bucket. ARGV[5i-4 .. 5i]: limit, periodMs, burst, cost, shadow ('1' or '0').
 * Reply: {1 when every enforced spec passed (and all passing ones were charged) else 0, then per
 * spec: allowed, remaining, resetMs, retryAfterMs}.
 */
export const GCRA_LUA = `
local TTL_MARGIN_MS = 1000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local specs = {}
local admitted = true
for i = 1, #KEYS do
  local a = (i - 1) * ${ARGS_PER_SPEC}
  local burst = tonumber(ARGV[a + 3])
  local cost = tonumber(ARGV[a + 4])
  local interval = tonumber(ARGV[a + 2]) * 1000 / tonumber(ARGV[a + 1])
  local tolerance = math.floor(burst * interval)
  local base = tonumber(redis.call('GET', KEYS[i])) or now
  if base < now then base = now end
  local newTat = base + math.floor(cost * interval)
  local allowed = cost == 0 or (cost <= burst and newTat - now <= tolerance)
  if not allowed and ARGV[a + 5] ~= '1' then admitted = false end
  specs[i] = { burst = burst, cost = cost, interval = interval, tolerance = tolerance, base = base, newTat = newTat, allowed = allowed }
end
local reply = { admitted and 1 or 0 }
for i, s in ipairs(specs) do
  local after = s.base
  if admitted and s.allowed then
    after = s.newTat
    if s.cost > 0 then
      redis.call('SET', KEYS[i], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + TTL_MARGIN_MS)
    end
  end
  local remaining = math.max(0, math.min(s.burst, math.ceil((now + s.tolerance - after + 1) / s.interval) - 1))
  local retryAfter = 0
  if not s.allowed then retryAfter = math.max(1, math.ceil((s.newTat - s.tolerance - now) / 1000)) end
  reply[#reply + 1] = s.allowed and 1 or 0
  reply[#reply + 1] = remaining
  reply[#reply + 1] = math.ceil((after - now) / 1000)
  reply[#reply + 1] = retryAfter
end
return reply
`

const COMMAND = 'chaperoneGcra'

export type ScriptSpec = Pick<LimitSpec, 'limit' | 'periodMs' | 'burst' | 'cost' | 'shadow'>
/** Runs the script over `keys[i]` with `specs[i]`; resolves to its raw reply. */
export type GcraCommand = (keys: readonly string[], specs: readonly ScriptSpec[]) => Promise<unknown>

export function gcraCommand(redis: Redis): GcraCommand {
  const run = redisScript(redis, COMMAND, GCRA_LUA)
  return (keys, specs) => {
    const args: (string | number)[] = [keys.length, ...keys]
    for (const s of specs) args.push(s.limit, s.periodMs, s.burst, s.cost, s.shadow ? '1' : '0')
    return run(...args)
  }
}
