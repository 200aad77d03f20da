import { once } from 'node:events'
import t from 'tap'
import type { Redis } from 'ioredis'
import type { Revocation } from '../../../src/core/ports.js'
import { connectRedis } from '../../../src/io/redis/connect.js'
import { RedisRevocationStore } from '../../../src/io/revocation/redis-store.js'
import { RevocationStoreFullError } from '../../../src/io/revocation/revocation-entry.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js'

const ISS = 'https://idp.example'
const HASH = '{chaperone}:revocations'
const VERSION = '{chaperone}:revocations:version'
const nowSec = () => Math.floor(Date.now() / 1000)

const jti = (id: string, extra: Partial<Revocation> = {}): Revocation =>
  ({ kind: 'jti', jti: id, expiresAt: nowSec() + 3600, createdAt: nowSec(), ...extra }) as Revocation
const subject = (sub: string, revokedBefore: number, extra: Partial<Revocation> = {}): Revocation =>
  ({ kind: 'subject', subject: sub, revokedBefore, expiresAt: nowSec() + 3600, createdAt: nowSec(), ...extra }) as Revocation

type Teardown = Pick<typeof t, 'teardown'>

/** `eventually` for a condition that has to ask Redis. */
async function eventuallyAsync(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!(await cond())) {
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 20))
  }
  return true
}

interface Replica {
  store: RedisRevocationStore
  redis: Redis
  log: ReturnType<typeof captureLog>
  clientLog: ReturnType<typeof captureLog>
}

async function replica(t: Teardown, server: RedisServer, opts: { now?: () => number; maxEntries?: number } = {}): Promise<Replica> {
  const clientLog = captureLog()
  const redis = connectRedis(server.url, { name: 'revocations-test', log: clientLog })
  t.teardown(() => redis.disconnect())
  if (redis.status !== 'ready') await once(redis, 'ready')
  const log = captureLog()
  const store = new RedisRevocationStore({ redis, log, ...opts })
  t.teardown(() => store.close())
  await store.start()
  return { store, redis, log, clientLog }
}

async function setup(t: Teardown, opts: { now?: () => number; maxEntries?: number } = {}) {
  const server = await startRedisServer()
  t.teardown(() => server.stop())
  return { server, a: await replica(t, server, opts), b: await replica(t, server, opts) }
}

t.test('a revocation added on one replica is enforced on another within a second', async (t) => {
  const { a, b } = await setup(t)
  t.equal(b.store.staleness() < 1000, true, 'in sync after start')
  await a.store.add(jti('j1', { reason: 'leaked' }))
  t.ok(a.store.isRevoked({ issuer: ISS, jti: 'j1' }), 'the writer enforces it at once, without waiting for a poll')
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, jti: 'j1' }), 1000), 'the other replica within 1 s')
  t.match(await b.store.list(), [{ kind: 'jti', jti: 'j1', reason: 'leaked' }])
  t.notOk(b.store.isRevoked({ issuer: ISS, jti: 'j2' }))
})

t.test('a subject entry covers tokens issued before revokedBefore, and tokens without iat', async (t) => {
  const { a, b } = await setup(t)
  const cut = nowSec()
  await a.store.add(subject('alice', cut))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: cut - 1 })), 'issued before')
  t.notOk(b.store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: cut }), 'issued at the cut: a fresh login')
  t.notOk(b.store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: cut + 60 }), 'issued after')
  t.ok(b.store.isRevoked({ issuer: ISS, subject: 'alice' }), 'no iat')
  t.notOk(b.store.isRevoked({ issuer: ISS, subject: 'bob', issuedAt: cut - 1 }))
})

t.test('issuer scoping, with issuers that hold the field separator', async (t) => {
  const { a, b } = await setup(t)
  // Stored naively, both would be field "j:https://a:b" and the second would overwrite the first.
  await a.store.add(jti('//a:b', { issuer: 'https' }))
  await a.store.add(jti('b', { issuer: 'https://a' }))
  await a.store.add(subject('u1', nowSec(), { issuer: 'https://tenant-a' }))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: 'https://tenant-a', subject: 'u1' })))
  t.ok(b.store.isRevoked({ issuer: 'https', jti: '//a:b' }))
  t.ok(b.store.isRevoked({ issuer: 'https://a', jti: 'b' }))
  t.notOk(b.store.isRevoked({ issuer: 'https', jti: 'b' }), 'a scoped jti covers its issuer only')
  t.notOk(b.store.isRevoked({ issuer: 'https://tenant-b', subject: 'u1' }), 'same subject, other tenant')
  t.equal((await b.store.list()).length, 3, 'no entry overwrote another')
})

t.test('expired entries stop matching, and a reload prunes them without bumping the version', async (t) => {
  let ms = Date.now()
  const now = () => ms
  const { a, b } = await setup(t, { now })
  const t0 = Math.floor(ms / 1000)
  await a.store.add(jti('short', { expiresAt: t0 + 10 }))
  await a.store.add(jti('long', { expiresAt: t0 + 3600 }))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, jti: 'short' })))
  ms += 10_000
  t.notOk(b.store.isRevoked({ issuer: ISS, jti: 'short' }), 'expired at expiresAt, reload or not')
  t.notOk(a.store.isRevoked({ issuer: ISS, jti: 'short' }))
  t.equal(await a.redis.hexists(HASH, 'j::short'), 1, 'still in the hash until a reload')

  await a.store.add(jti('third', { expiresAt: t0 + 3600 }))
  t.ok(await eventuallyAsync(async () => (await a.redis.hexists(HASH, 'j::short')) === 0), 'pruned by the reload the write caused')
  t.equal(await a.redis.get(VERSION), '3', 'three writes; the prune is not one')
  t.same((await b.store.list()).map((e) => (e.kind === 'jti' ? e.jti : '')).sort(), ['long', 'third'])
})

t.test('remove with an issuer takes that scope; without one every scope; every replica follows', async (t) => {
  const { a, b } = await setup(t)
  await a.store.add(jti('j', { issuer: 'https://a' }))
  await a.store.add(jti('j', { issuer: 'https://b' }))
  await a.store.add(jti('j*'))
  await a.store.add(subject('alice', nowSec()))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, subject: 'alice' })))
  t.ok(b.store.isRevoked({ issuer: 'https://a', jti: 'j' }))

  t.equal(await b.store.remove('jti', 'j', 'https://a'), 1)
  t.notOk(b.store.isRevoked({ issuer: 'https://a', jti: 'j' }), 'the writer follows at once')
  t.ok(await eventually(() => !a.store.isRevoked({ issuer: 'https://a', jti: 'j' })), 'and the other replica')
  t.ok(a.store.isRevoked({ issuer: 'https://b', jti: 'j' }), 'other scopes stay')

  await a.store.add(jti('j'))
  t.equal(await a.store.remove('jti', 'j'), 2, 'the unscoped and https://b entries, not "j*"')
  t.ok(await eventually(() => !b.store.isRevoked({ issuer: 'https://b', jti: 'j' }) && !b.store.isRevoked({ issuer: ISS, jti: 'j' })))
  t.ok(b.store.isRevoked({ issuer: ISS, jti: 'j*' }), 'a glob character in a key is not a pattern')
  t.equal(await a.store.remove('subject', 'alice'), 1)
  t.equal(await a.store.remove('subject', 'alice'), 0)
  t.ok(await eventually(() => !b.store.isRevoked({ issuer: ISS, subject: 'alice' })))
})

t.test('redis killed: writes fail, checks answer from the last view, staleness grows; restarted empty: the view follows', async (t) => {
  const { server, a, b } = await setup(t)
  await a.store.add(jti('j1'))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, jti: 'j1' })))

  await server.kill()
  await t.rejects(a.store.add(jti('j2')), 'never pretends a write succeeded')
  t.notOk(a.store.isRevoked({ issuer: ISS, jti: 'j2' }), 'a failed write is not enforced locally either')
  await t.rejects(a.store.remove('jti', 'j1'))
  await t.rejects(b.store.list())
  t.ok(await eventually(() => b.store.staleness() > 1500, 10_000), 'staleness grows while redis is away')
  t.ok(b.store.isRevoked({ issuer: ISS, jti: 'j1' }), 'the last view stays in force')
  t.ok(a.store.isRevoked({ issuer: ISS, jti: 'j1' }))
  t.equal(b.log.messages('warn').filter((m) => /cannot sync/.test(m)).length, 1, 'the outage is logged once, not every poll')
  t.equal(b.clientLog.messages('warn').filter((m) => /unreachable/.test(m)).length, 1, 'connection errors too, not every retry')

  await server.restart()
  t.ok(await eventually(() => !b.store.isRevoked({ issuer: ISS, jti: 'j1' }) && b.store.staleness() < 1000, 10_000), 'an empty redis means an empty list')
  t.ok(await eventually(() => !a.store.isRevoked({ issuer: ISS, jti: 'j1' })))
  t.match(b.log.messages('info'), [/in sync with redis again/])
  t.match(b.clientLog.messages('info'), [/connected/, /connected/])
  await a.store.add(jti('j3'))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, jti: 'j3' })), 'and writes flow again')
})

t.test('a store started while redis is away answers from an empty view with infinite staleness', async (t) => {
  const server = await startRedisServer()
  t.teardown(() => server.stop())
  const log = captureLog()
  const redis = connectRedis(server.url, { name: 'revocations-test', log: captureLog() })
  t.teardown(() => redis.disconnect())
  await server.kill()
  const store = new RedisRevocationStore({ redis, log })
  t.teardown(() => store.close())
  await store.start()
  t.equal(store.staleness(), Infinity)
  t.notOk(store.isRevoked({ issuer: ISS, jti: 'j1' }))
  t.match(log.messages('warn'), [/cannot sync/])
})

t.test('a flushed redis (version key gone) is a change: the view empties', async (t) => {
  const { server, a, b } = await setup(t)
  await a.store.add(subject('alice', nowSec()))
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, subject: 'alice' })))
  await server.flush()
  t.ok(await eventually(() => !b.store.isRevoked({ issuer: ISS, subject: 'alice' })), 'the other replica')
  t.ok(await eventually(() => !a.store.isRevoked({ issuer: ISS, subject: 'alice' })), 'the writer')
})

t.test('a hung redis makes writes fail within the command timeout', async (t) => {
  const { server, a } = await setup(t)
  server.pause()
  t.teardown(() => server.resume())
  await t.rejects(a.store.add(jti('j1')), /timed out/)
  server.resume()
  await t.resolves(a.store.add(jti('j1')))
})

t.test('malformed entries in the hash are skipped and logged, the rest load', async (t) => {
  const { a, b } = await setup(t)
  await a.redis.hset(HASH, {
    'j::bad-json': '{not json',
    'j::bad-shape': JSON.stringify({ kind: 'jti', jti: 'bad-shape', expiresAt: 'soon', createdAt: 0 }),
    'j::elsewhere': JSON.stringify({ kind: 'jti', jti: 'not-elsewhere', expiresAt: nowSec() + 3600, createdAt: 0 }),
    'j::good': JSON.stringify({ kind: 'jti', jti: 'good', expiresAt: nowSec() + 3600, createdAt: 0 }),
  })
  await a.redis.incr(VERSION)
  t.ok(await eventually(() => b.store.isRevoked({ issuer: ISS, jti: 'good' })))
  t.notOk(b.store.isRevoked({ issuer: ISS, jti: 'bad-shape' }))
  t.notOk(b.store.isRevoked({ issuer: ISS, jti: 'not-elsewhere' }), 'an entry under another key\'s field is not trusted')
  t.match(b.log.entries.find((e) => /malformed/.test(e.msg ?? ''))?.obj, { skipped: 3 })
  t.same((await b.store.list()).map((e) => (e.kind === 'jti' ? e.jti : '')), ['good'])
})

t.test('maxEntries bounds what a replica loads and what it adds', async (t) => {
  const { a, b } = await setup(t, { maxEntries: 2 })
  await a.store.add(jti('j1'))
  await a.store.add(jti('j2'))
  await t.rejects(a.store.add(jti('j3')), RevocationStoreFullError)
  await t.resolves(a.store.add(jti('j2', { reason: 'replaced' })), 'replacing an entry needs no room')
  // Another writer (an older replica, a script) went past the bound.
  await a.redis.hset(HASH, 'j::j3', JSON.stringify({ kind: 'jti', jti: 'j3', expiresAt: nowSec() + 3600, createdAt: 0 }))
  await a.redis.incr(VERSION)
  t.ok(await eventually(() => b.log.messages('error').some((m) => /more unexpired revocations/.test(m))))
  t.equal((await b.store.list()).length, 2)
})

t.test('keyPrefix moves both keys under its own hash tag', async (t) => {
  const server = await startRedisServer()
  t.teardown(() => server.stop())
  const redis = connectRedis(server.url, { name: 'revocations-test', log: captureLog() })
  t.teardown(() => redis.disconnect())
  await once(redis, 'ready')
  const store = new RedisRevocationStore({ redis, log: captureLog(), keyPrefix: 'tenant7' })
  t.teardown(() => store.close())
  await store.start()
  await store.add(jti('j1', { issuer: 'https://i' }))
  t.same((await redis.keys('*')).sort(), ['{tenant7}:revocations', '{tenant7}:revocations:version'])
  t.equal(await redis.hexists('{tenant7}:revocations', 'j:https%3A%2F%2Fi:j1'), 1)
})
