import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { allKeys, redisClient } from '../../helpers/redis-client.js'
import type { Redis } from 'ioredis'
import type { PenaltyConfig } from '../../../src/core/ratelimit/penalty.js'
import { MemoryPenaltyStore, RedisPenaltyStore, type PenaltyStore } from '../../../src/io/ratelimit/penalty-store.js'
import { mulberry32 } from '../../helpers/prng.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'

type Teardown = Pick<typeof t, 'teardown'>

const cfg: PenaltyConfig = { threshold: 10, halfLifeMs: 1000, boxMs: 200, maxBoxMs: 700, strikeMemoryMs: 1500 }
/** Sleeps past a box's end: a timer may fire a millisecond before the clock says it is due. */
const MARGIN_MS = 30

async function server(t: Teardown): Promise<RedisServer> {
  const s = await startRedisServer()
  t.teardown(() => s.stop())
  return s
}



/**
 * One subject's story. What it records is what a store must answer alike on any clock: box
 * lengths the moment a box starts, and whether the subject is boxed at points chosen far from any
 * boundary (a few hundred ms of scheduling delay changes none of them).
 */
async function scenario(store: PenaltyStore, key: string): Promise<(string | number | boolean)[]> {
  const seen: (string | number | boolean)[] = []
  const step = async (label: string, points: number) => {
    const { boxedForMs } = await store.report(key, points, cfg)
    seen.push(label, boxedForMs)
    return boxedForMs
  }
  await step('4 points', 4)
  await step('8 points', 4)
  const first = await step('12 points: boxed', 4)
  seen.push('boxed between reports', (await store.boxedFor(key)) > 0)
  const { boxedForMs: during } = await store.report(key, 40, cfg)
  seen.push('40 more while boxed: same box', during > 0 && during <= first)
  await sleep(first + MARGIN_MS)
  seen.push('free once it ends', await store.boxedFor(key))
  const second = await step('0 points, the 40 still count: doubled', 0)
  await sleep(second + MARGIN_MS)
  const third = await step('10 points: doubled, capped', 10)
  await sleep(third + cfg.strikeMemoryMs + MARGIN_MS)
  await step('after the strike memory: from boxMs again', 10)
  seen.push('another subject is free', await store.boxedFor(`${key}:other`))
  return seen
}

t.test('the same story through the memory store and Redis gives the same answers', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const [memory, shared] = await Promise.all([scenario(new MemoryPenaltyStore(), 'alice'), scenario(new RedisPenaltyStore({ redis }), 'alice')])
  t.same(shared, memory)
  t.same(memory, [
    '4 points', 0,
    '8 points', 0,
    '12 points: boxed', 200,
    'boxed between reports', true,
    '40 more while boxed: same box', true,
    'free once it ends', 0,
    '0 points, the 40 still count: doubled', 400,
    '10 points: doubled, capped', 700,
    'after the strike memory: from boxMs again', 200,
    'another subject is free', 0,
  ])
})

t.test('the hash: under the prefix, on Redis time, every field read back exactly', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const store = new RedisPenaltyStore({ redis, keyPrefix: 'tenant-a' })
  await store.report('bob', 1 / 3, cfg)
  const h = await redis.hgetall('{tenant-a}:pen:bob')
  t.equal(Number(h.points), 1 / 3, `points kept to the last digit (${h.points})`)
  const [sec] = await redis.time()
  t.ok(Math.abs(Number(h.updated) / 1000 - Number(sec)) < 5, 'updated on Redis time, in ms')
  t.match(h, { strikes: '0', boxedUntil: '0', lastBox: '0' })
  t.equal(await redis.exists('{chaperone}:pen:bob'), 0, 'under the configured prefix only')

  t.equal((await store.report('carol', 10, cfg)).boxedForMs, 200)
  const c = await redis.hgetall('{tenant-a}:pen:carol')
  t.equal(Number(c.boxedUntil) - Number(c.lastBox), 200, 'the box from its start')
  t.match(c, { points: '0', strikes: '1' })
  const pttl = await redis.pttl('{tenant-a}:pen:carol')
  t.ok(pttl > 1500 && pttl <= 1700, `kept for the box and the strike memory (${pttl})`)
})

t.test('no penalty key is ever left without a TTL, and none outlives its state', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const store = new RedisPenaltyStore({ redis })
  t.equal((await store.report('nothing', 0, cfg)).boxedForMs, 0)
  t.equal(await redis.exists('{chaperone}:pen:nothing'), 0, 'a report of 0 on a clean record writes nothing')

  const rnd = mulberry32(11)
  const configs: PenaltyConfig[] = Array.from({ length: 5 }, () => ({
    threshold: 1 + Math.floor(rnd() * 20),
    halfLifeMs: 100 + Math.floor(rnd() * 60_000),
    boxMs: 50 + Math.floor(rnd() * 1000),
    maxBoxMs: 1000 + Math.floor(rnd() * 60_000),
    strikeMemoryMs: Math.floor(rnd() * 120_000),
  }))
  const replies = await Promise.all(
    Array.from({ length: 1500 }, () => store.report(`k${Math.floor(rnd() * 300)}`, Math.floor(rnd() * 8), configs[Math.floor(rnd() * configs.length)]!)),
  )
  t.ok(replies.some((r) => r.boxedForMs > 0) && replies.some((r) => r.boxedForMs === 0), 'both outcomes exercised')

  const keys = await allKeys(redis)
  t.ok(keys.length > 200, `${keys.length} keys`)
  const ttls = await Promise.all(keys.map((k) => redis.pttl(k)))
  t.same(
    keys.filter((_, i) => ttls[i]! < 0),
    [],
    'every key expires',
  )
  // The longest any state matters: points decaying from at most 8 × 1500 to threshold / 1024, or a box plus its memory.
  const bound = Math.max(...configs.map((c) => Math.max(c.halfLifeMs * Math.log2((8 * 1500 * 1024) / c.threshold), c.maxBoxMs + c.strikeMemoryMs)))
  t.ok(Math.max(...ttls) <= bound + 1, 'none lives longer than its state matters')
})

t.test('two replicas with their own clients see one box and one strike count', async (t) => {
  const s = await server(t)
  const a = new RedisPenaltyStore({ redis: await client(t, s.url) })
  const b = new RedisPenaltyStore({ redis: await client(t, s.url) })
  await a.report('dave', 6, cfg)
  t.equal((await b.report('dave', 6, cfg)).boxedForMs, 200, "points from both add up: B's report boxes")
  const onA = await a.boxedFor('dave')
  t.ok(onA > 0 && onA <= 200, `A sees the box (${onA} ms left)`)
  const again = (await a.report('dave', 50, cfg)).boxedForMs
  t.ok(again > 0 && again <= onA, "A's report during B's box does not restart it")
  await sleep(200 + MARGIN_MS)
  t.equal(await b.boxedFor('dave'), 0)
  t.equal((await b.report('dave', 0, cfg)).boxedForMs, 400, "A's points and the shared strike: B boxes for twice as long")
})

t.test('a flushed Redis forgets every box, without an error', async (t) => {
  const s = await server(t)
  const redis = await client(t, s.url)
  const store = new RedisPenaltyStore({ redis })
  const long = { ...cfg, boxMs: 60_000, maxBoxMs: 600_000, strikeMemoryMs: 600_000 }
  t.equal((await store.report('erin', 10, long)).boxedForMs, 60_000)
  await store.report('erin', 9, long)
  await s.flush()
  await redis.script('FLUSH')
  t.equal(await store.boxedFor('erin'), 0, 'free after the flush')
  t.equal((await store.report('erin', 9, long)).boxedForMs, 0, 'points forgotten: 9 alone does not box')
  t.equal((await store.report('erin', 2, long)).boxedForMs, 60_000, 'strikes forgotten: the next box is the first again')
})

t.test('the memory store: bounded, drops what expired, refuses bad points', async (t) => {
  let now = 1_700_000_000_000
  const store = new MemoryPenaltyStore({ maxKeys: 3, now: () => now })
  for (const key of ['a', 'b', 'c', 'd']) await store.report(key, 10, cfg)
  t.equal(store.size, 3, 'at most maxKeys')
  t.equal(await store.boxedFor('a'), 0, 'the least recently reported went first')
  t.equal(await store.boxedFor('d'), 200)

  now += 200 + cfg.strikeMemoryMs
  await store.report('e', 1, cfg)
  t.equal(store.size, 1, 'states past their ttl swept at the next report')
  t.equal((await store.report('b', 10, cfg)).boxedForMs, 200, 'an expired record starts afresh')

  await t.rejects(store.report('f', Number.NaN, cfg), RangeError)
  await t.rejects(store.report('f', -1, cfg), RangeError)
})

function client(t: Teardown, url: string): Promise<Redis> {
  return redisClient(t, url, 'penalty-test')
}
