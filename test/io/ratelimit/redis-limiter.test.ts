import t from 'tap'
import { allKeys, redisClient } from '../../helpers/redis-client.js'
import type { Redis } from 'ioredis'
import type { LimitSpec } from '../../../src/core/ports.js'
import { RedisLimiter } from '../../../src/io/ratelimit/redis-limiter.js'
import { mulberry32 } from '../../helpers/prng.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'
import { startTcpDelayProxy } from '../../helpers/tcp-delay-proxy.js'

type Teardown = Pick<typeof t, 'teardown'>

const spec = (key: string, limit: number, periodMs: number, burst: number, extra: Partial<LimitSpec> = {}): LimitSpec => ({
  name: key,
  key,
  limit,
  periodMs,
  burst,
  cost: 1,
  shadow: false,
  ...extra,
})

async function server(t: Teardown): Promise<RedisServer> {
  const s = await startRedisServer()
  t.teardown(() => s.stop())
  return s
}



t.test('three replicas, 1000 concurrent requests, limit 50 per minute: at most 50 pass', async (t) => {
  const s = await server(t)
  const limiters = await Promise.all([0, 1, 2].map(async () => new RedisLimiter({ redis: await client(t, s.url) })))
  const decisions = await Promise.all(Array.from({ length: 1000 }, (_, i) => limiters[i % 3]!.acquire([spec('chat:alice', 50, 60_000, 50)])))
  const admitted = decisions.filter((d) => d.allowed).length
  t.ok(admitted <= 50, `admitted ${admitted}`)
  t.ok(admitted >= 45, `admitted ${admitted}`)
  t.ok(
    decisions.every((d) => d.mode === 'shared' && d.states[0]!.remaining >= 0),
    'every decision shared, none negative',
  )
  const refused = decisions.find((d) => !d.allowed)!
  t.ok(refused.states[0]!.retryAfterMs > 0 && refused.states[0]!.retryAfterMs <= 1200, 'a refusal says when one unit is back')
})

t.test('the script answers as gcra.ts: keys, fractional intervals, token budgets', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const limiter = new RedisLimiter({ redis, keyPrefix: 'tenant-a' })

  const seven = spec('seven', 7, 60_000, 7)
  const results = []
  for (let i = 0; i < 8; i++) results.push((await limiter.acquire([seven])).states[0]!)
  t.same(results.map((r) => r.remaining), [6, 5, 4, 3, 2, 1, 0, 0], 'a full bucket of 7 per minute gives 7')
  t.notOk(results[7]!.allowed)
  t.ok(results[7]!.retryAfterMs > 8000 && results[7]!.retryAfterMs <= 8572, `retry after one interval (${results[7]!.retryAfterMs})`)

  const budget = spec('tokens', 200_000, 86_400_000, 200_000, { cost: 5000 })
  t.match((await limiter.acquire([budget])).states[0], { allowed: true, remaining: 195_000, resetMs: 5000 * 432, retryAfterMs: 0 })

  const tat = await redis.get('{tenant-a}:rl:tokens')
  t.match(tat, /^\d{16}$/, 'the TAT: integer microseconds')
  const [sec] = await redis.time()
  t.ok(Math.abs(Number(tat) / 1e6 - (Number(sec) + 2160)) < 5, 'on Redis time, 2160 s ahead')
  t.equal(await redis.exists('{chaperone}:rl:tokens'), 0, 'under the configured prefix only')
})

t.test('a request with two limits where the second is exhausted charges neither', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const limiter = new RedisLimiter({ redis })
  const perUser = spec('user:alice', 10, 60_000, 10)
  const perModel = spec('model:big', 1, 60_000, 1)
  t.ok((await limiter.acquire([perModel])).allowed, 'the model limit used up by another request')

  const both = await limiter.acquire([perUser, perModel])
  t.notOk(both.allowed)
  t.match(both.states, [
    { name: 'user:alice', allowed: true, remaining: 10, resetMs: 0, retryAfterMs: 0 },
    { name: 'model:big', allowed: false, remaining: 0 },
  ])
  t.equal(await redis.exists('{chaperone}:rl:user:alice'), 0, 'the passing limit was not charged')
  t.equal((await limiter.acquire([perUser])).states[0]!.remaining, 9, 'its first charge comes later, in full')
})

t.test('a shadow limit never refuses, and is charged when it passes', async (t) => {
  const s = await server(t)
  const limiter = new RedisLimiter({ redis: await client(t, s.url) })
  const enforced = spec('enforced', 100, 60_000, 100)
  const shadow = spec('shadow', 1, 60_000, 1, { shadow: true })

  const first = await limiter.acquire([enforced, shadow])
  t.ok(first.allowed)
  t.match(first.states[1], { allowed: true, remaining: 0, shadow: true }, 'charged')
  const second = await limiter.acquire([enforced, shadow])
  t.ok(second.allowed, 'admitted although the shadow limit is exhausted')
  t.match(second.states, [{ remaining: 98 }, { allowed: false, shadow: true }])
  t.ok(second.states[1]!.retryAfterMs > 0, 'a shadow refusal still says when')

  // Refused by an enforced limit: the shadow one, although passing, is not charged either.
  const tight = spec('tight', 1, 60_000, 1)
  const roomy = spec('roomy-shadow', 10, 60_000, 10, { shadow: true })
  await limiter.acquire([tight])
  t.notOk((await limiter.acquire([tight, roomy])).allowed)
  t.equal((await limiter.acquire([roomy])).states[0]!.remaining, 9)
})

t.test('no bucket key is ever left without a TTL', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const limiter = new RedisLimiter({ redis })
  const rnd = mulberry32(7)
  const requests = Array.from({ length: 600 }, () => {
    const n = 1 + Math.floor(rnd() * 3)
    return Array.from({ length: n }, (_, j) =>
      spec(`k${Math.floor(rnd() * 200)}:${j}`, 1 + Math.floor(rnd() * 20), 1000 + Math.floor(rnd() * 600_000), 1 + Math.floor(rnd() * 10), {
        cost: Math.floor(rnd() * 4),
        shadow: rnd() < 0.2,
      }),
    )
  })
  const decisions = await Promise.all(requests.map((r) => limiter.acquire(r)))
  t.ok(decisions.some((d) => !d.allowed) && decisions.some((d) => d.allowed), 'both outcomes exercised')

  const keys = await allKeys(redis)
  t.ok(keys.length > 100, `${keys.length} keys`)
  const ttls = await Promise.all(keys.map((k) => redis.pttl(k)))
  t.same(
    keys.filter((_, i) => ttls[i]! < 0),
    [],
    'every key expires',
  )
  t.ok(Math.max(...ttls) <= 600_000 * 10 + 1000, 'none lives longer than its bucket takes to fill, plus the margin')
})

t.test('a Redis flushed mid-run: no error, nothing negative, buckets start full', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const limiter = new RedisLimiter({ redis })
  const limit = spec('flushed', 5, 60_000, 5)
  const run = async (n: number) => {
    const out = []
    for (let i = 0; i < n; i++) out.push(await limiter.acquire([limit]))
    return out
  }
  const before = await run(8)
  t.equal(before.filter((d) => d.allowed).length, 5)
  await s.flush()
  await redis.script('FLUSH')
  const after = await run(8)
  t.equal(after.filter((d) => d.allowed).length, 5, 'a full bucket again, and the script reloaded after SCRIPT FLUSH')
  t.equal(after[0]!.states[0]!.remaining, 4)

  // Flushes landing among concurrent requests.
  const flushes = Promise.all([s.flush(), new Promise((r) => setTimeout(r, 5)).then(() => s.flush())])
  const during = await Promise.all(Array.from({ length: 300 }, () => limiter.acquire([limit])))
  await flushes
  t.ok(
    [...before, ...after, ...during].every((d) => d.states.every((st) => st.remaining >= 0 && st.resetMs >= 0 && st.retryAfterMs >= 0)),
    'never negative',
  )
})

t.test('no fresh burst at a window boundary: 10 per second, burst 10', async (t) => {
  const s = await server(t)
  const limiter = new RedisLimiter({ redis: await client(t, s.url) })
  const limit = spec('per-second', 10, 1000, 10)
  const batch = async () => (await Promise.all(Array.from({ length: 25 }, () => limiter.acquire([limit])))).filter((d) => d.allowed).length
  const start = performance.now()
  const first = await batch()
  await new Promise((r) => setTimeout(r, 1000))
  const second = await batch()
  const elapsedMs = performance.now() - start
  t.equal(first, 10, 'the burst')
  t.ok(second >= 9, `refilled at the rate (${second})`)
  t.ok(first + second <= 10 + Math.ceil(elapsedMs / 100), `burst + elapsed × rate at most (${first + second} in ${Math.round(elapsedMs)} ms)`)
  t.ok(second < 20, 'never a second full burst on top')
})

t.test('a slow Redis fails the acquire within the command timeout', async (t) => {
  const s = await server(t)
  const proxy = await startTcpDelayProxy(s.port)
  t.teardown(() => proxy.close())
  const redis = await client(t, proxy.url, 20)
  const limiter = new RedisLimiter({ redis })
  t.ok((await limiter.acquire([spec('slow', 10, 1000, 10)])).allowed, 'fine while the proxy adds nothing')

  proxy.delayMs = 200
  const start = performance.now()
  await t.rejects(limiter.acquire([spec('slow', 10, 1000, 10)]), /timed out/i)
  const tookMs = performance.now() - start
  t.ok(tookMs < 150, `rejected after ${Math.round(tookMs)} ms, not after the 400 ms round trip`)
})

function client(t: Teardown, url: string, commandTimeoutMs?: number): Promise<Redis> {
  return redisClient(t, url, 'ratelimit-test', commandTimeoutMs)
}
