import { once } from 'node:events'
import t from 'tap'
import type { Redis } from 'ioredis'
import type { LimitDecision, LimitSpec, RateLimitStore } from '../../../src/core/ports.js'
import { FallbackLimiter, type FallbackLimiterOptions, type LimiterMode } from '../../../src/io/ratelimit/fallback-limiter.js'
import { MemoryLimiter } from '../../../src/io/ratelimit/memory-limiter.js'
import { RedisLimiter } from '../../../src/io/ratelimit/redis-limiter.js'
import { connectRedis } from '../../../src/io/redis/connect.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'

type Teardown = Pick<typeof t, 'teardown'>

const N = 50
const perMinute = (key: string, extra: Partial<LimitSpec> = {}): LimitSpec => ({
  name: key,
  key,
  limit: N,
  periodMs: 60_000,
  burst: N,
  cost: 1,
  shadow: false,
  ...extra,
})

function manualClock() {
  let ms = 0
  return { now: () => ms, advance: (by: number) => void (ms += by) }
}

async function server(t: Teardown): Promise<RedisServer> {
  const s = await startRedisServer()
  t.teardown(() => s.stop())
  return s
}

interface Replica {
  limiter: FallbackLimiter
  redis: Redis
  log: ReturnType<typeof captureLog>
  modes: LimiterMode[]
  /** Requests that reached the Redis limiter, failed or not. */
  calls(): number
}

async function replica(t: Teardown, s: RedisServer, opts: Pick<FallbackLimiterOptions, 'onRedisError' | 'replicas'> & Partial<FallbackLimiterOptions>): Promise<Replica> {
  // A short command timeout: a kill is noticed at once anyway, and nothing here waits long.
  const redis = connectRedis(s.url, { name: 'ratelimit-fallback-test', log: captureLog(), commandTimeoutMs: 50 })
  t.teardown(() => redis.disconnect())
  if (redis.status !== 'ready') await once(redis, 'ready')
  const inner = new RedisLimiter({ redis })
  let calls = 0
  const shared: RateLimitStore = {
    acquire: (specs) => {
      calls++
      return inner.acquire(specs)
    },
  }
  const log = captureLog()
  const modes: LimiterMode[] = []
  const limiter = new FallbackLimiter({ shared, redis, log, onMode: (m) => modes.push(m), ...opts })
  t.teardown(() => limiter.close())
  return { limiter, redis, log, modes, calls: () => calls }
}

async function admitted(limiter: RateLimitStore, spec: LimitSpec, n: number): Promise<LimitDecision[]> {
  const out: LimitDecision[] = []
  for (let i = 0; i < n; i++) out.push(await limiter.acquire([spec]))
  return out
}

const allowedCount = (ds: readonly LimitDecision[]) => ds.filter((d) => d.allowed).length

t.test('Redis killed: three replicas each admit limit/3 locally, probe once per probeMs, and share again after a restart', async (t) => {
  const s = await server(t)
  const clock = manualClock()
  const replicas = await Promise.all([0, 1, 2].map(() => replica(t, s, { onRedisError: 'local', replicas: 3, probeMs: 1000, clock: clock.now })))
  for (const r of replicas) t.equal((await r.limiter.acquire([perMinute('warm-up')])).mode, 'shared')

  await s.kill()
  const outage = await Promise.all(replicas.map((r) => admitted(r.limiter, perMinute('chat:alice'), 30)))
  t.same(
    outage.map(allowedCount),
    [16, 16, 16],
    'floor(50 / 3) each: 48 together, within the shared 50',
  )
  t.ok(outage.flat().every((d) => d.mode === 'local'), 'every outage decision is local')
  for (const [i, r] of replicas.entries()) {
    t.equal(r.calls(), 2, `replica ${i}: the warm-up and the one failure; no request tried Redis after`)
    t.same(r.modes, ['local'])
    t.equal(r.log.messages('warn').length, 1, `replica ${i}: the switch logged once`)
    t.match(r.log.entries[0], { level: 'warn', obj: { mode: 'local', err: String } })
  }

  const [a] = replicas
  clock.advance(999)
  await admitted(a!.limiter, perMinute('other'), 5)
  t.equal(a!.calls(), 2, 'no probe before probeMs')
  clock.advance(1)
  await admitted(a!.limiter, perMinute('other'), 5)
  t.equal(a!.calls(), 3, 'one probe once probeMs has passed, not five')
  t.equal(a!.log.messages('warn').length, 1, 'a failed probe logs nothing')

  await s.restart()
  let probes = 0
  const callsBefore = a!.calls()
  const deadline = performance.now() + 10_000
  let last: LimitDecision | undefined
  while (performance.now() < deadline) {
    clock.advance(1000)
    probes++
    const batch = await Promise.all(Array.from({ length: 5 }, () => a!.limiter.acquire([perMinute('after')])))
    last = batch.find((d) => d.mode === 'shared')
    if (last) break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.ok(last, 'back to shared after the restart')
  t.ok(a!.calls() - callsBefore <= probes + 4, 'one probe per probeMs until then (the rest of the last batch follows it)')
  t.same(a!.modes, ['local', 'shared'])
  t.equal(a!.log.messages('info').length, 1, 'coming back logged once')
  t.match(a!.log.messages('info')[0], /redis answers again/)
  const shared = await a!.limiter.acquire([perMinute('fresh')])
  t.match(shared, { allowed: true, mode: 'shared', states: [{ remaining: N - 1 }] }, 'the shared limit, whole again')
})

t.test('onRedisError allow and deny', async (t) => {
  const s = await server(t)
  const allow = await replica(t, s, { onRedisError: 'allow', replicas: 1 })
  const deny = await replica(t, s, { onRedisError: 'deny', replicas: 1 })
  const tight = perMinute('tight', { limit: 1, burst: 1 })
  const shadow = perMinute('watch', { shadow: true, burst: 7 })
  await s.kill()

  const allowed = await admitted(allow.limiter, tight, 5)
  t.equal(allowedCount(allowed), 5, 'allow: everything passes')
  t.match(allowed[0], { mode: 'allow', states: [{ allowed: true, remaining: 1, retryAfterMs: 0 }] })
  t.match(await allow.limiter.acquire([tight, shadow]), { allowed: true, states: [{ remaining: 1 }, { remaining: 7, shadow: true }] }, 'remaining = burst')

  const denied = await admitted(deny.limiter, tight, 5)
  t.equal(allowedCount(denied), 0, 'deny: nothing passes')
  t.match(denied[0], { mode: 'deny', states: [{ allowed: false, remaining: 0, retryAfterMs: 1000 }] })
  t.ok((await deny.limiter.acquire([shadow])).allowed, 'a request limited only in shadow is not refused')
  t.same([allow.modes, deny.modes], [['allow'], ['deny']])
})

t.test("replicas 'auto': the count heartbeats showed before the outage divides the limits", async (t) => {
  const s = await server(t)
  const replicas = await Promise.all([0, 1, 2].map((i) => replica(t, s, { onRedisError: 'local', replicas: 'auto', heartbeatMs: 100, replicaId: `pod-${i}` })))
  t.ok(await eventually(() => replicas.every((r) => r.limiter.replicaCount() === 3)), 'every replica counts 3')
  const keys = (await replicas[0]!.redis.keys('{chaperone}:replicas:*')).sort()
  t.same(keys, ['{chaperone}:replicas:pod-0', '{chaperone}:replicas:pod-1', '{chaperone}:replicas:pod-2'])
  const ttl = await replicas[0]!.redis.pttl('{chaperone}:replicas:pod-0')
  t.ok(ttl > 0 && ttl <= 300, `heartbeat keys expire (${ttl} ms)`)

  await s.kill()
  const outage = await Promise.all(replicas.map((r) => admitted(r.limiter, perMinute('chat:bob'), 30)))
  t.same(outage.map(allowedCount), [16, 16, 16])
  t.same(
    replicas.map((r) => r.limiter.replicaCount()),
    [3, 3, 3],
    'the count seen before the outage stands',
  )
})

t.test('close() stops the heartbeat and deletes its key; the others count one fewer', async (t) => {
  const s = await server(t)
  const a = await replica(t, s, { onRedisError: 'local', replicas: 'auto', heartbeatMs: 100, replicaId: 'a' })
  const b = await replica(t, s, { onRedisError: 'local', replicas: 'auto', heartbeatMs: 100, replicaId: 'b' })
  t.ok(await eventually(() => a.limiter.replicaCount() === 2 && b.limiter.replicaCount() === 2), 'both count 2')
  await b.limiter.close()
  t.equal(await a.redis.exists('{chaperone}:replicas:b'), 0, 'deleted at once, not left to expire')
  t.ok(await eventually(() => a.limiter.replicaCount() === 1), 'the other counts itself alone')
})

t.test('modeSeconds accumulates the time in each mode', async (t) => {
  const s = await server(t)
  const clock = manualClock()
  const r = await replica(t, s, { onRedisError: 'local', replicas: 1, probeMs: 10_000, clock: clock.now })
  clock.advance(1500)
  t.same(r.limiter.modeSeconds(), { shared: 1.5, local: 0, allow: 0, deny: 0 }, 'the current stretch counts')
  await s.kill()
  await r.limiter.acquire([perMinute('x')])
  clock.advance(2500)
  await r.limiter.acquire([perMinute('x')])
  clock.advance(500)
  t.same(r.limiter.modeSeconds(), { shared: 1.5, local: 3, allow: 0, deny: 0 })
  t.same(r.modes, ['local'])
})

t.test('the local limiter: shares, bound, expiry', async (t) => {
  let now = 1_700_000_000_000
  const third = new MemoryLimiter({ share: () => 3, now: () => now })
  t.equal(allowedCount(await admitted(third, perMinute('k'), 30)), 16, 'limit and burst divided by the replicas, floored')
  const tiny = await third.acquire([perMinute('t', { limit: 2, burst: 2 })])
  t.match(tiny, { allowed: true, mode: 'local', states: [{ remaining: 0 }] }, 'at least 1')

  const bounded = new MemoryLimiter({ maxKeys: 10, now: () => now })
  for (let i = 0; i < 25; i++) await bounded.acquire([perMinute(`user-${i}`, { limit: 1, burst: 1 })])
  t.equal(bounded.size, 10)
  t.ok((await bounded.acquire([perMinute('user-0', { limit: 1, burst: 1 })])).allowed, 'the oldest went: a full bucket again')
  t.notOk((await bounded.acquire([perMinute('user-24', { limit: 1, burst: 1 })])).allowed, 'the newest stayed')

  const expiring = new MemoryLimiter({ now: () => now })
  for (let i = 0; i < 20; i++) await expiring.acquire([perMinute(`e-${i}`, { limit: 10, periodMs: 1000 })])
  t.equal(expiring.size, 20)
  now += 1000
  await expiring.acquire([perMinute('late', { cost: 0 })])
  t.equal(expiring.size, 0, 'full buckets are dropped')

  const refused = await third.acquire([perMinute('k2', { limit: 30, burst: 30 }), perMinute('k', { limit: 30, burst: 30 })])
  t.notOk(refused.allowed)
  t.equal(refused.states[0]!.remaining, 10, 'the passing limit is not charged when another refuses')
})
