import t from 'tap'
import type { Redis } from 'ioredis'
import type { CacheEntry, CacheEntryMeta, CacheSelector } from '../../../src/core/cache/types.js'
import { encodeEntry } from '../../../src/io/cache/codec.js'
import { RedisTier } from '../../../src/io/cache/redis-tier.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'
import { allKeys, redisClient } from '../../helpers/redis-client.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'

type Teardown = Pick<typeof t, 'teardown'>

const MAX_ENTRY_BYTES = 1 << 20
const ENTRY = (key: string) => `{chaperone}:cache:e:${key}`
const TAG = (tag: string) => `{chaperone}:cache:t:${tag}`
const LOCK = (key: string) => `{chaperone}:cache:l:${key}`
const CHANNEL = '{chaperone}:cache:invalidate'

interface EntryOpts {
  tags?: string[]
  createdAt?: number
  staleInMs?: number
  body?: string
}

function entry(key: string, opts: EntryOpts = {}): CacheEntry {
  const now = Date.now()
  const body = new TextEncoder().encode(opts.body ?? `{"answer":"for ${key}"}`)
  return {
    meta: {
      key,
      route: 'chat',
      createdAt: opts.createdAt ?? now,
      freshUntil: now + 30_000,
      staleUntil: now + (opts.staleInMs ?? 60_000),
      tags: opts.tags ?? [],
      contentType: 'application/json',
      bytes: body.length,
      usage: { input: 12, output: 34 },
      model: 'gpt-x',
    },
    status: 200,
    headers: ['content-type', 'application/json', 'x-upstream', 'mock'],
    body,
  }
}

async function server(t: Teardown): Promise<RedisServer> {
  const s = await startRedisServer()
  t.teardown(() => s.stop())
  return s
}

interface Replica {
  tier: RedisTier
  redis: Redis
  corrupt: () => number
  invalidations: CacheSelector[]
  log: ReturnType<typeof captureLog>
}

async function replica(
  t: Teardown,
  s: RedisServer,
  opts: { now?: () => number; subscribe?: boolean; keyPrefix?: string; commandTimeoutMs?: number } = {},
): Promise<Replica> {
  const redis = await redisClient(t, s.url, 'cache-test', opts.commandTimeoutMs)
  let corrupt = 0
  const invalidations: CacheSelector[] = []
  const log = captureLog()
  const tier = new RedisTier({
    redis,
    maxEntryBytes: MAX_ENTRY_BYTES,
    events: { corrupt: () => void corrupt++ },
    log,
    ...(opts.now && { now: opts.now }),
    ...(opts.keyPrefix !== undefined && { keyPrefix: opts.keyPrefix }),
    ...(opts.subscribe && { onInvalidate: (sel: CacheSelector) => void invalidations.push(sel) }),
  })
  t.teardown(() => tier.close())
  return { tier, redis, corrupt: () => corrupt, invalidations, log }
}

/** Resolves once the channel has `n` subscribers (a tier subscribes once its connection is ready). */
async function subscribers(redis: Redis, n: number): Promise<boolean> {
  const deadline = performance.now() + 5000
  for (;;) {
    const [, count] = (await redis.pubsub('NUMSUB', CHANNEL)) as [string, number]
    if (Number(count) === n) return true
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('round trip: what was set comes back whole, stored as one hash of meta and blob', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s)
  const sse: CacheEntry = {
    ...entry('ns/chat/user/alice/abc', { tags: ['category:electronics', 'team a'], body: 'data: {"a":1}\n\ndata: [DONE]\n\n' }),
    events: { ends: [15, 29], at: [3, 40] },
  }
  await tier.set(sse)
  const back = await tier.get('ns/chat/user/alice/abc')
  t.same(back?.meta, sse.meta)
  t.same(back?.headers, sse.headers)
  t.equal(back?.status, 200)
  t.same(Buffer.from(back!.body), Buffer.from(sse.body))
  t.same(back?.events, sse.events)

  t.same((await redis.hkeys(ENTRY('ns/chat/user/alice/abc'))).sort(), ['b', 'm'])
  t.same(JSON.parse((await redis.hget(ENTRY('ns/chat/user/alice/abc'), 'm'))!), sse.meta, 'm holds the meta alone')
  t.same(await redis.smembers(TAG('category:electronics')), ['ns/chat/user/alice/abc'])
  t.same(await redis.smembers(TAG('team a')), ['ns/chat/user/alice/abc'])
  t.equal(await tier.get('ns/chat/user/bob/abc'), undefined, 'another key is a miss')
})

t.test('the entry expires at staleUntil; a tag set outlives each of its entries', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s)
  await tier.set(entry('long', { tags: ['x'], staleInMs: 600_000 }))
  const pttl = await redis.pttl(ENTRY('long'))
  t.ok(pttl > 590_000 && pttl <= 600_000, `PTTL ${pttl} ≈ staleUntil - now`)
  const tagTtl = await redis.pttl(TAG('x'))
  t.ok(tagTtl > 590_000 && tagTtl <= 600_000, `a fresh tag set gets the entry's expiry (${tagTtl})`)

  await tier.set(entry('short', { tags: ['x', 'y'], staleInMs: 60_000 }))
  t.ok((await redis.pttl(TAG('x'))) > 590_000, 'a shorter entry does not shorten the tag set')
  const yTtl = await redis.pttl(TAG('y'))
  t.ok(yTtl > 50_000 && yTtl <= 60_000, `the other tag set follows the short entry (${yTtl})`)
  await tier.set(entry('longer', { tags: ['y'], staleInMs: 900_000 }))
  t.ok((await redis.pttl(TAG('y'))) > 890_000, 'a longer entry extends it')
  t.same((await redis.smembers(TAG('y'))).sort(), ['longer', 'short'])

  await tier.set(entry('gone', { tags: ['z'], staleInMs: -1 }))
  t.same(await redis.exists(ENTRY('gone'), TAG('z')), 0, 'an entry already past staleUntil is not written, nor its tags')
})

t.test('an entry past staleUntil on this replica\'s clock is a miss, whatever redis says', async (t) => {
  const s = await server(t)
  let skew = 0
  const { tier, redis } = await replica(t, s, { now: () => Date.now() + skew })
  await tier.set(entry('k', { staleInMs: 60_000 }))
  t.ok(await tier.get('k'))
  skew = 120_000
  t.equal(await tier.get('k'), undefined)
  t.equal(await redis.exists(ENTRY('k')), 1, 'left for redis to expire: another replica may still serve it')
  t.same(await tier.list({}, 10), [], 'nor listed')
})

t.test('a corrupt entry is a miss: deleted and counted', async (t) => {
  const s = await server(t)
  const r = await replica(t, s)
  await r.tier.set(entry('garbage', { tags: ['t'] }))
  await r.redis.hset(ENTRY('garbage'), 'b', Buffer.from('not a blob at all'))
  t.equal(await r.tier.get('garbage'), undefined)
  t.equal(await r.redis.exists(ENTRY('garbage')), 0, 'deleted')
  t.equal(r.corrupt(), 1)

  await r.tier.set(entry('flipped', { body: 'x'.repeat(4000) }))
  const blob = (await r.redis.hgetBuffer(ENTRY('flipped'), 'b'))!
  // First, middle and last byte: header, payload and trailer each covered by the check.
  for (const at of [0, Math.floor(blob.length / 2), blob.length - 1]) {
    const bad = Buffer.from(blob)
    bad[at] = bad[at]! ^ 0x01
    await r.redis.hset(ENTRY('flipped'), 'm', '{}', 'b', bad)
    const before = r.corrupt()
    t.equal(await r.tier.get('flipped'), undefined, `byte ${at} of ${blob.length} flipped`)
    t.equal(await r.redis.exists(ENTRY('flipped')), 0)
    t.equal(r.corrupt(), before + 1)
  }

  // A sound blob under another key's name would hand one user's answer to another.
  await r.redis.hset(ENTRY('bob/q'), 'm', '{}', 'b', await encodeEntry(entry('alice/q')))
  t.equal(await r.tier.get('bob/q'), undefined)
  t.equal(await r.redis.exists(ENTRY('bob/q')), 0)
  t.equal(r.corrupt(), 5)
  t.equal(r.log.messages('warn').filter((m) => /corrupt/.test(m)).length, 1, 'logged once, counted every time')

  await r.tier.set(entry('garbage'))
  t.ok(await r.tier.get('garbage'), 'the key is usable again')
})

t.test('delete by key, by tag and by prefix: counts, and only what was selected', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s)
  for (const key of ['ns/a*b/1', 'ns/a*b/2', 'ns/axb/1', 'ns/a[b]/1', 'ns/ab/1', 'ns/a\\b/1', 'other/1']) {
    await tier.set(entry(key, { tags: key.startsWith('ns/') ? ['ns'] : ['other'] }))
  }
  t.equal(await tier.delete({ key: 'ns/ab/1' }), 1)
  t.equal(await tier.delete({ key: 'ns/ab/1' }), 0, 'already gone')
  t.equal(await tier.get('ns/ab/1'), undefined)

  t.equal(await tier.delete({ prefix: 'ns/a*' }), 2, 'a * in the prefix is a literal *')
  t.equal(await tier.delete({ prefix: 'ns/a[b]' }), 1, 'brackets are literal')
  t.equal(await tier.delete({ prefix: 'ns/a\\' }), 1, 'a backslash is literal')
  t.ok(await tier.get('ns/axb/1'), 'ns/axb matched none of them')
  t.ok(await tier.get('other/1'))

  t.equal(await tier.delete({ tag: 'ns' }), 1, 'the one ns entry left; members already deleted do not count')
  t.equal(await redis.exists(TAG('ns')), 0, 'the emptied tag set goes')
  t.ok(await tier.get('other/1'), 'other tags untouched')
  t.same((await allKeys(redis)).sort(), [ENTRY('other/1'), TAG('other')])
})

t.test('delete by tag spares an entry rewritten without the tag', async (t) => {
  const s = await server(t)
  const { tier } = await replica(t, s)
  await tier.set(entry('k1', { tags: ['old'] }))
  await tier.set(entry('k2', { tags: ['old'] }))
  await tier.set(entry('k1', { tags: ['new'] }))
  t.equal(await tier.delete({ tag: 'old' }), 1)
  t.ok(await tier.get('k1'), 'k1 no longer carries the tag')
  t.equal(await tier.get('k2'), undefined)
  t.same((await tier.list({ tag: 'old' }, 10)).map((m) => m.key), [], 'nor is it listed under it')
  t.same((await tier.list({ tag: 'new' }, 10)).map((m) => m.key), ['k1'])
})

t.test('delete by tag and by prefix work through more entries than one batch', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s)
  const keys = Array.from({ length: 1200 }, (_, i) => `bulk/${i}`)
  // A few at a time: a thousand writes at once would queue behind the compressor past the command timeout.
  for (let i = 0; i < keys.length; i += 20) {
    await Promise.all(keys.slice(i, i + 20).map((k, j) => tier.set(entry(k, { tags: (i + j) % 2 === 0 ? ['even'] : [] }))))
  }
  t.equal(await tier.delete({ tag: 'even' }), 600)
  t.equal(await tier.delete({ prefix: 'bulk/' }), 600)
  t.same(await allKeys(redis), [])
})

t.test('every delete reaches every replica\'s onInvalidate, the deleting one too; malformed messages are ignored', async (t) => {
  const s = await server(t)
  const a = await replica(t, s, { subscribe: true })
  const b = await replica(t, s, { subscribe: true })
  const plain = await replica(t, s)
  t.ok(await subscribers(a.redis, 2), 'both tiers subscribed')

  await plain.redis.publish(CHANNEL, 'not json')
  await plain.redis.publish(CHANNEL, JSON.stringify({ key: 'k', tag: 't' }))
  await plain.redis.publish(CHANNEL, JSON.stringify({ key: 7 }))
  await plain.redis.publish(CHANNEL, JSON.stringify({ path: 'x' }))
  const sels: CacheSelector[] = [{ key: 'ns/k' }, { tag: 'category:electronics' }, { prefix: 'ns/*' }]
  for (const sel of sels) await a.tier.delete(sel)
  await plain.tier.delete({ key: 'from a tier without a subscriber' })
  const all = [...sels, { key: 'from a tier without a subscriber' }]
  t.ok(await eventually(() => a.invalidations.length === 4 && b.invalidations.length === 4), 'every delete, and only those')
  t.same(b.invalidations, all, 'in order')
  t.same(a.invalidations, all)
  t.equal(b.log.messages('warn').filter((m) => /malformed/.test(m)).length, 1, 'malformed messages logged once')
  t.equal(plain.invalidations.length, 0)

  await b.tier.close()
  t.ok(await subscribers(a.redis, 1), 'close ends the subscriber')
  await a.tier.delete({ key: 'after close' })
  t.ok(await eventually(() => a.invalidations.length === 5))
  t.equal(b.invalidations.length, 4)
})

t.test('the subscriber comes back after a redis restart', async (t) => {
  const s = await server(t)
  const a = await replica(t, s, { subscribe: true })
  t.ok(await subscribers(a.redis, 1))
  await s.restart()
  t.ok(await eventually(() => a.redis.status === 'ready', 10_000))
  t.ok(await subscribers(a.redis, 1), 'subscribed again')
  await a.tier.delete({ tag: 'after restart' })
  t.ok(await eventually(() => a.invalidations.length === 1))
  t.same(a.invalidations, [{ tag: 'after restart' }])
})

t.test('fill lock: one owner at a time, released and renewed by its owner only', async (t) => {
  const s = await server(t)
  const a = await replica(t, s)
  const b = await replica(t, s)

  const first = await a.tier.lock('k', 60_000)
  t.equal(first.kind, 'acquired')
  t.same(await b.tier.lock('k', 60_000), { kind: 'held' }, 'another replica')
  t.same(await a.tier.lock('k', 60_000), { kind: 'held' }, 'the same replica, another request')
  t.equal((await a.tier.lock('other', 60_000)).kind, 'acquired', 'locks are per key')
  const pttl = await a.redis.pttl(LOCK('k'))
  t.ok(pttl > 50_000 && pttl <= 60_000, `PX ttl (${pttl})`)
  if (first.kind !== 'acquired') return

  t.equal(await first.lock.renew(120_000), true)
  t.ok((await a.redis.pttl(LOCK('k'))) > 110_000, 'renew extends it')
  await first.lock.release()
  t.equal(await a.redis.exists(LOCK('k')), 0)
  t.equal(await first.lock.renew(60_000), false, 'a released lock is not renewed')

  // Taken over after expiry: the old owner must neither release nor renew the new owner's lock.
  const old = await a.tier.lock('k', 50)
  t.equal(old.kind, 'acquired')
  let next = await b.tier.lock('k', 60_000)
  const deadline = performance.now() + 5000
  while (next.kind !== 'acquired' && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
    next = await b.tier.lock('k', 60_000)
  }
  t.equal(next.kind, 'acquired', 'taken again once it expired')
  if (old.kind !== 'acquired' || next.kind !== 'acquired') return
  const token = await a.redis.get(LOCK('k'))
  await old.lock.release()
  t.equal(await a.redis.get(LOCK('k')), token, 'a release by the old owner leaves the new one\'s lock')
  t.equal(await old.lock.renew(60_000), false, 'the old owner learns it lost the lock')
  t.equal(await a.redis.get(LOCK('k')), token)
  t.equal(await next.lock.renew(60_000), true)
  await next.lock.release()
  t.equal((await a.tier.lock('k', 60_000)).kind, 'acquired')
  await t.rejects(a.tier.lock('k2', 0), RangeError)
})

t.test('list: metadata of live entries only, never bodies, newest first, within the limit', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s)
  const now = Date.now()
  for (let i = 0; i < 5; i++) await tier.set(entry(`ns/u/${i}`, { createdAt: now - i * 1000, tags: i % 2 === 0 ? ['even'] : [] }))
  await tier.set(entry('other/u/9', { tags: ['even'] }))
  await redis.hset(ENTRY('ns/u/garbled'), 'm', '{"key":', 'b', 'x')
  await redis.hset(ENTRY('ns/u/elsewhere'), 'm', JSON.stringify(entry('ns/u/0').meta), 'b', 'x')
  await redis.sadd(TAG('even'), 'ns/u/missing')

  const monitor = await redis.monitor()
  t.teardown(() => monitor.disconnect())
  const commands: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => void commands.push(args))

  const listed = await tier.list({ prefix: 'ns/' }, 100)
  t.same(
    listed.map((m) => m.key),
    ['ns/u/0', 'ns/u/1', 'ns/u/2', 'ns/u/3', 'ns/u/4'],
    'newest first; garbled meta and meta naming another key skipped',
  )
  const expected: CacheEntryMeta = entry('ns/u/0', { createdAt: now, tags: ['even'] }).meta
  t.same(Object.keys(listed[0]!).sort(), Object.keys(expected).sort(), 'meta fields only')

  t.equal((await tier.list({ prefix: 'ns/' }, 2)).length, 2)
  t.equal((await tier.list({}, 3)).length, 3)
  t.same(await tier.list({}, 0), [])
  t.same((await tier.list({ tag: 'even' }, 100)).map((m) => m.key).sort(), ['ns/u/0', 'ns/u/2', 'ns/u/4', 'other/u/9'], 'a member without an entry is skipped')
  t.same((await tier.list({ tag: 'even', prefix: 'ns/' }, 100)).map((m) => m.key), ['ns/u/0', 'ns/u/2', 'ns/u/4'], 'tag and prefix')
  t.same(await tier.list({ tag: 'nope' }, 100), [])

  await redis.echo('listing done')
  t.ok(await eventually(() => commands.some((c) => c[0]?.toLowerCase() === 'echo')))
  const reads = commands.filter((c) => c[0]?.toLowerCase() === 'hget')
  t.ok(reads.length > 0, 'meta read with HGET')
  t.ok(reads.every((c) => c[2] === 'm'), 'no body field read')
  t.notOk(commands.some((c) => ['hgetall', 'hmget', 'hvals'].includes(c[0]!.toLowerCase())))
})

t.test('keyPrefix moves every key under its own hash tag', async (t) => {
  const s = await server(t)
  const { tier, redis } = await replica(t, s, { keyPrefix: 'tenant7' })
  await tier.set(entry('k', { tags: ['t'] }))
  const got = await tier.lock('k', 60_000)
  t.equal(got.kind, 'acquired')
  t.same((await allKeys(redis)).sort(), ['{tenant7}:cache:e:k', '{tenant7}:cache:l:k', '{tenant7}:cache:t:t'])
})

t.test('redis killed: every method rejects instead of hanging; release still resolves', async (t) => {
  const s = await server(t)
  const { tier } = await replica(t, s)
  await tier.set(entry('k', { tags: ['t'] }))
  const held = await tier.lock('held', 60_000)
  await s.kill()
  await t.rejects(tier.get('k'))
  await t.rejects(tier.set(entry('k2')))
  await t.rejects(tier.delete({ key: 'k' }))
  await t.rejects(tier.delete({ tag: 't' }))
  await t.rejects(tier.delete({ prefix: '' }))
  await t.rejects(tier.list({}, 10))
  await t.rejects(tier.list({ tag: 't' }, 10))
  await t.rejects(tier.lock('k', 1000))
  if (held.kind === 'acquired') {
    await t.rejects(held.lock.renew(1000))
    await t.resolves(held.lock.release())
  } else t.fail('lock not acquired')
})

t.test('a hung redis: methods reject within the command timeout', async (t) => {
  const s = await server(t)
  const { tier } = await replica(t, s, { commandTimeoutMs: 200, subscribe: true })
  await tier.set(entry('k'))
  s.pause()
  t.teardown(() => s.resume())
  await t.rejects(tier.get('k'), /timed out/)
  await t.rejects(tier.set(entry('k2')), /timed out/)
  await t.rejects(tier.list({}, 10), /timed out/)
  await t.rejects(tier.lock('k', 1000), /timed out/)
  s.resume()
  t.ok(await tier.get('k'), 'serving again once redis answers')
})
