import t from 'tap'
import { hmacKey, pseudonym, spanHash, spanHashKey, subjectKeyId, type HmacKey } from '../../src/core/audit/pseudonym.js'
import { GlobalPseudonymizer, PerSubjectPseudonymizer, ForgetUnsupportedError, subjectKeyName, type PerSubjectOptions } from '../../src/io/audit/pseudonymizer.js'
import { audit, decision, KEY, logFiles, readRecords, startWriter } from '../helpers/audit.js'
import { eventually } from '../helpers/eventually.js'
import { allKeys, redisClient } from '../helpers/redis-client.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { tmpDir } from '../helpers/tmp-dir.js'

const K = hmacKey(KEY)
const one = async (p: { resolve(s: ReadonlySet<string>): Promise<ReadonlyMap<string, { subject: string | null; marker?: string; spanKey: HmacKey }>> }, s: string) => (await p.resolve(new Set([s]))).get(s)!

t.test('global pseudonyms: deterministic under one key, unrelated under another, never the subject', async (t) => {
  const a = new GlobalPseudonymizer(KEY)
  const b = new GlobalPseudonymizer(KEY)
  const other = new GlobalPseudonymizer(Buffer.from('another key of at least thirty-two bytes!!'))
  const alice = await one(a, 'alice@example.com')
  t.match(alice.subject, /^[0-9a-f]{32}$/)
  t.equal((await one(b, 'alice@example.com')).subject, alice.subject, 'same key, same pseudonym (another replica)')
  t.not((await one(other, 'alice@example.com')).subject, alice.subject)
  t.not((await one(a, 'bob@example.com')).subject, alice.subject)
  t.equal(alice.subject, pseudonym(K, 'alice@example.com'))
  t.equal(alice.marker, undefined)
  t.equal(a.anonymous.subject, null)
  await t.rejects(a.forget('alice@example.com'), ForgetUnsupportedError)
})

t.test('derived values never coincide: key id, pseudonym, span hash', async (t) => {
  const s = 'alice@example.com'
  const id = subjectKeyId(K, s)
  t.not(id.slice(0, 32), pseudonym(K, s), 'a Redis key name is not the global pseudonym')
  t.not(spanHash(spanHashKey(K), s), pseudonym(K, s), 'hashing the subject as matched text does not give its pseudonym')
})

t.test('per-subject keys in Redis', async (t) => {
  const server = await startRedisServer()
  t.teardown(() => server.stop())
  const redis = await redisClient(t, server.url, 'audit-a')
  const redisB = await redisClient(t, server.url, 'audit-b')
  let now = 1_000_000
  const base: PerSubjectOptions = { globalKey: KEY, redis, keyPrefix: 'chaperone', onRedisError: 'drop-subject', cacheEntries: 100, cacheTtlMs: 60_000, timeoutMs: 200, probeMs: 1000, now: () => now }
  const a = new PerSubjectPseudonymizer(base)
  const b = new PerSubjectPseudonymizer({ ...base, redis: redisB })

  t.test('one key per subject, created on first use, shared by replicas, without TTL', async (t) => {
    const p1 = await one(a, 'alice@example.com')
    t.match(p1.subject, /^[0-9a-f]{32}$/)
    t.not(p1.subject, pseudonym(K, 'alice@example.com'), 'not the global pseudonym')
    t.equal((await one(b, 'alice@example.com')).subject, p1.subject, 'the other replica reads the same key')
    const name = subjectKeyName('chaperone', K, 'alice@example.com')
    t.match(name, /^\{chaperone\}:audit:subject-key:[0-9a-f]{64}$/)
    t.equal(await redis.ttl(name), -1, 'kept without TTL')
    t.equal(Buffer.from((await redis.get(name))!, 'base64').length, 32)
    t.notOk((await allKeys(redis)).some((k) => k.includes('alice')), 'no key names the subject')
    const many = await a.resolve(new Set(['u1', 'u2', 'u3', 'alice@example.com']))
    t.equal(new Set([...many.values()].map((p) => p.subject)).size, 4, 'a batch resolves several subjects at once')
  })

  t.test('forget() deletes the key: old pseudonyms and span hashes can no longer be linked', async (t) => {
    const before = await one(a, 'carol@example.com')
    const spanBefore = spanHash(before.spanKey, 'carol@example.com')
    const name = subjectKeyName('chaperone', K, 'carol@example.com')
    t.equal(await a.forget('carol@example.com'), true)
    t.equal(await redis.exists(name), 0, 'the key is gone')
    const after = await one(a, 'carol@example.com')
    t.not(after.subject, before.subject, 'a new, unlinkable pseudonym')
    t.not(spanHash(after.spanKey, 'carol@example.com'), spanBefore, 'and new span hashes for the same text')
    t.equal(await redis.exists(name), 1, 'a new key was made for the returning subject')
    // The other replica cached the old key: it keeps it until cacheTtlMs, then reads the new one.
    const bBefore = await one(b, 'dave@example.com')
    await a.forget('dave@example.com')
    t.equal((await one(b, 'dave@example.com')).subject, bBefore.subject, 'a replica may use its cached key until it expires')
    now += 60_001
    const bAfter = await one(b, 'dave@example.com')
    t.not(bAfter.subject, bBefore.subject, 'then it takes the new key')
    t.equal(bAfter.subject, (await one(a, 'dave@example.com')).subject)
    t.equal(await a.forget('nobody@example.com'), false, 'forgetting an unknown subject says so')
  })

  t.test('Redis down: onRedisError decides, counted; Redis back: keys again', async (t) => {
    const fallbacks: [number, string][] = []
    const g = new PerSubjectPseudonymizer({ ...base, onRedisError: 'global', onFallback: (n, p) => fallbacks.push([n, p]) })
    const d = new PerSubjectPseudonymizer({ ...base, redis: redisB })
    const known = await one(g, 'erin@example.com')
    server.pause()
    const hung = await one(g, 'frank@example.com')
    t.same({ subject: hung.subject, marker: hung.marker }, { subject: pseudonym(K, 'frank@example.com'), marker: 'global' }, 'a hung Redis times out into the global pseudonym, marked')
    const dropped = await one(d, 'frank@example.com')
    t.same({ subject: dropped.subject, marker: dropped.marker }, { subject: null, marker: 'dropped' }, 'drop-subject writes no subject, marked')
    t.equal((await one(g, 'erin@example.com')).subject, known.subject, 'cached keys keep working')
    t.same(g.stats(), { fallbacks: 1, redisErrors: 1 })
    t.same(fallbacks, [[1, 'global']])
    // While Redis is known to be down, subjects go straight to the fallback (no wait per batch).
    const started = performance.now()
    await one(g, 'gina@example.com')
    t.equal(g.stats().redisErrors, 1, 'no new attempt within probeMs')
    t.ok(performance.now() - started < 1000)
    server.resume()
    now += 1001
    t.ok(await eventually(() => redis.status === 'ready'))
    const back = await one(g, 'frank@example.com')
    t.equal(back.marker, undefined)
    t.match(back.subject, /^[0-9a-f]{32}$/)
    await server.kill()
    now += 1001
    t.equal((await one(g, 'henry@example.com')).marker, 'global', 'a dead Redis too')
  })
})

t.test('through the writer: records carry per-subject pseudonyms, forget() via the writer, fallbacks in stats', async (t) => {
  const server = await startRedisServer()
  t.teardown(() => server.stop())
  const redis = await redisClient(t, server.url, 'audit-w')
  const root = await tmpDir(t)
  const pseudonymizer = new PerSubjectPseudonymizer({ globalKey: KEY, redis, keyPrefix: 'chaperone', onRedisError: 'drop-subject', cacheEntries: 100, cacheTtlMs: 0, timeoutMs: 200 })
  const w = await startWriter({ root, writer: 'pod-a', pseudonymizer })
  w.emit(decision(1, { subject: 'ivan@example.com' }))
  t.ok(await w.drain(5000))
  t.equal(await w.forget('ivan@example.com'), true)
  w.emit(decision(2, { subject: 'ivan@example.com' }))
  w.emit(decision(3, { subject: null }))
  t.ok(await w.drain(5000))
  await server.kill()
  w.emit(decision(4, { subject: 'ivan@example.com' }))
  t.ok(await w.close(5000))
  const d = (await readRecords(await logFiles(root, 'pod-a'))).filter((r) => r.kind === 'decision')
  t.match(d[0]!.subject, /^[0-9a-f]{32}$/)
  t.match(d[1]!.subject, /^[0-9a-f]{32}$/)
  t.not(d[1]!.subject, d[0]!.subject, 'after forget, records of the subject no longer share its old pseudonym')
  t.same([d[2]!.subject, d[2]!.pseudonym], [null, undefined], 'anonymous')
  t.same([d[3]!.subject, d[3]!.pseudonym], [null, 'dropped'], 'Redis down: dropped, marked')
  t.same(w.stats().pseudonyms, { fallbacks: 1, redisErrors: 1 })
  t.equal((await audit(['verify', ...(await logFiles(root, 'pod-a'))])).code, 0)
})
