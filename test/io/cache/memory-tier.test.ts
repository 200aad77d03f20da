import t from 'tap'
import type { CacheEntry } from '../../../src/core/cache/types.js'
import { MemoryTier, entrySize } from '../../../src/io/cache/memory-tier.js'
import { mulberry32 } from '../../helpers/prng.js'

const T0 = 1_700_000_000_000

function clock() {
  let ms = T0
  return { now: () => ms, advance: (by: number) => void (ms += by) }
}

interface EntryOpts {
  bodyBytes?: number
  tags?: string[]
  createdAt?: number
  staleUntil?: number
  headers?: string[]
  events?: number
}

function entry(key: string, o: EntryOpts = {}): CacheEntry {
  const bodyBytes = o.bodyBytes ?? 100
  const events = o.events ?? 0
  return {
    meta: {
      key,
      route: 'chat',
      createdAt: o.createdAt ?? T0,
      freshUntil: (o.staleUntil ?? T0 + 60_000) - 1,
      staleUntil: o.staleUntil ?? T0 + 60_000,
      tags: o.tags ?? [],
      contentType: 'application/json',
      bytes: bodyBytes,
    },
    status: 200,
    headers: o.headers ?? ['content-type', 'application/json'],
    body: new Uint8Array(bodyBytes).fill(key.length % 256),
    ...(events > 0 && { events: { ends: Array.from({ length: events }, (_, i) => i + 1), at: Array.from({ length: events }, (_, i) => i) } }),
  }
}

/** The keys of the live entries, sorted. */
async function keys(tier: MemoryTier): Promise<string[]> {
  return (await tier.list({}, 1000)).map((m) => m.key).sort()
}

t.test('entrySize counts body, headers, key, tags and events on top of a fixed overhead', async (t) => {
  const base = entrySize(entry('k', { headers: [] }))
  t.equal(entrySize(entry('k', { headers: [], bodyBytes: 1100 })) - base, 1000, 'body bytes')
  t.equal(entrySize(entry('k', { headers: ['x-a', '12345'] })) - base, 8, 'header names and values')
  t.equal(entrySize(entry('kkk', { headers: [] })) - base, 2, 'key length')
  t.equal(entrySize(entry('k', { headers: [], tags: ['ab', 'cde'] })) - base, 5, 'tags')
  t.equal(entrySize(entry('k', { headers: [], events: 4 })) - base, 64, '16 bytes per event')
  t.ok(base >= 512 + 100, 'a fixed overhead besides the body')
})

t.test('the least recently used entry goes first, and a hit counts as a use', async (t) => {
  const size = entrySize(entry('a'))
  const evicted: [number, number][] = []
  // Room for four entries exactly: each is well under a quarter of the bound.
  const tier = new MemoryTier({ maxBytes: size * 4 + 10, now: clock().now, events: { evicted: (n, b) => void evicted.push([n, b]) } })
  for (const k of ['a', 'b', 'c', 'd']) await tier.set(entry(k))
  t.same(await keys(tier), ['a', 'b', 'c', 'd'])
  t.same(evicted, [], 'nothing evicted while it fits')
  t.ok(await tier.get('a'), 'a is used: b is now the oldest')
  await tier.set(entry('e'))
  t.same(await keys(tier), ['a', 'c', 'd', 'e'])
  t.same(evicted, [[1, size]], 'one eviction event with its count and bytes')
  t.equal(await tier.get('b'), undefined)
  await tier.set(entry('f'))
  t.same(await keys(tier), ['a', 'd', 'e', 'f'], 'then c, the next oldest')
  t.same(tier.stats(), { entries: 4, bytes: size * 4, maxBytes: size * 4 + 10 })
})

t.test('one big entry pushes out as many old ones as it needs, reported in one event', async (t) => {
  const small = entrySize(entry('a'))
  const evicted: [number, number][] = []
  const tier = new MemoryTier({ maxBytes: small * 12, now: clock().now, events: { evicted: (n, b) => void evicted.push([n, b]) } })
  for (const k of 'abcdefghijkl') await tier.set(entry(k))
  t.equal(tier.stats().bytes, small * 12)
  // Two and a half small entries: under a quarter of the bound, and three must go to fit it.
  const big = entry('z', { bodyBytes: 100 + small + Math.floor(small / 2) })
  t.equal(entrySize(big), 2 * small + Math.floor(small / 2))
  await tier.set(big)
  t.same(evicted, [[3, small * 3]], 'the three oldest, in one event')
  t.same(await keys(tier), [...'defghijklz'])
  t.equal(tier.stats().bytes, small * 9 + entrySize(big))
})

t.test('an entry over a quarter of the bound is not kept and evicts nothing', async (t) => {
  const evicted: number[] = []
  const tier = new MemoryTier({ maxBytes: 40_000, now: clock().now, events: { evicted: (n) => void evicted.push(n) } })
  for (const k of ['a', 'b', 'c']) await tier.set(entry(k, { bodyBytes: 9000 }))
  const before = tier.stats()
  await tier.set(entry('huge', { bodyBytes: 9_600 }))
  t.ok(entrySize(entry('huge', { bodyBytes: 9_600 })) > 10_000, 'the test entry is over maxBytes/4')
  t.equal(await tier.get('huge'), undefined)
  t.same(tier.stats(), before)
  t.same(evicted, [])
  const fits = entry('fits', { bodyBytes: 10_000 - entrySize(entry('fits', { bodyBytes: 0 })) })
  t.equal(entrySize(fits), 10_000)
  await tier.set(fits)
  t.ok(await tier.get('fits'), 'exactly a quarter is kept')
})

t.test('an oversized overwrite still removes the old answer under that key', async (t) => {
  const tier = new MemoryTier({ maxBytes: 40_000, now: clock().now })
  await tier.set(entry('k', { tags: ['t'] }))
  await tier.set(entry('k', { bodyBytes: 20_000, tags: ['t'] }))
  t.equal(await tier.get('k'), undefined)
  t.same(tier.stats(), { entries: 0, bytes: 0, maxBytes: 40_000 })
  t.same(await tier.list({ tag: 't' }, 10), [])
})

t.test('an overwrite replaces the accounting and the tags of the entry it replaces', async (t) => {
  const tier = new MemoryTier({ maxBytes: 100_000, now: clock().now })
  const first = entry('k', { bodyBytes: 5000, tags: ['old', 'both'] })
  const second = entry('k', { bodyBytes: 70, tags: ['new', 'both'], headers: ['x-long-header-name', 'v'.repeat(300)] })
  await tier.set(first)
  t.equal(tier.stats().bytes, entrySize(first))
  await tier.set(second)
  t.same(tier.stats(), { entries: 1, bytes: entrySize(second), maxBytes: 100_000 })
  t.equal((await tier.get('k'))?.body.byteLength, 70)
  t.same(await tier.list({ tag: 'old' }, 10), [], 'the old tag lost the key')
  t.same((await tier.list({ tag: 'new' }, 10)).map((m) => m.key), ['k'])
  t.same((await tier.list({ tag: 'both' }, 10)).map((m) => m.key), ['k'])
  t.equal(await tier.delete({ tag: 'old' }), 0)
  t.equal(await tier.delete({ tag: 'both' }), 1)
  t.same(tier.stats(), { entries: 0, bytes: 0, maxBytes: 100_000 })
})

t.test('the byte bound holds and the accounting stays exact under random sets, gets and deletes', async (t) => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const rand = mulberry32(seed)
    const maxBytes = 50_000
    let evictedBytes = 0
    const tier = new MemoryTier({ maxBytes, now: clock().now, events: { evicted: (_, b) => void (evictedBytes += b) } })
    /** The last entry set under each key, to recompute the bytes of what the tier still holds. */
    const last = new Map<string, CacheEntry>()
    let setBytes = 0
    let removedBytes = 0
    let broken: string | undefined
    for (let i = 0; i < 3000 && !broken; i++) {
      const key = `ns/chat/user/u${Math.floor(rand() * 60)}/${Math.floor(rand() * 4)}`
      const roll = rand()
      if (roll < 0.7) {
        // Mostly small, sometimes over the per-entry bound.
        const bodyBytes = rand() < 0.1 ? Math.floor(rand() * 20_000) : Math.floor(rand() * 3000)
        const e = entry(key, { bodyBytes, tags: rand() < 0.5 ? [`t${Math.floor(rand() * 5)}`] : [], events: Math.floor(rand() * 10) })
        const before = (await tier.get(key)) ? entrySize(last.get(key)!) : 0
        removedBytes += before
        await tier.set(e)
        last.set(key, e)
        if (await tier.get(key)) setBytes += entrySize(e)
      } else if (roll < 0.85) {
        await tier.get(key)
      } else {
        const sel = rand() < 0.5 ? { tag: `t${Math.floor(rand() * 5)}` } : { prefix: `ns/chat/user/u${Math.floor(rand() * 6)}` }
        const held = (await tier.list(sel, 1000)).map((m) => m.key)
        for (const k of held) removedBytes += entrySize(last.get(k)!)
        const gone = await tier.delete(sel)
        if (gone !== held.length) broken = `step ${i}: deleted ${gone}, listed ${held.length}`
      }
      const held = await tier.list({}, 1000)
      const expected = held.reduce((sum, m) => sum + entrySize(last.get(m.key)!), 0)
      const { bytes, entries } = tier.stats()
      if (bytes > maxBytes) broken = `step ${i}: ${bytes} bytes held over the bound`
      else if (bytes !== expected) broken = `step ${i}: ${bytes} bytes counted, ${expected} held`
      else if (entries !== held.length) broken = `step ${i}: ${entries} entries counted, ${held.length} held`
      else if (setBytes - removedBytes - evictedBytes !== bytes) broken = `step ${i}: stored minus removed minus evicted is not what is held`
    }
    t.equal(broken, undefined, `seed ${seed}`)
    t.ok(evictedBytes > 0, `seed ${seed}: the run did evict`)
  }
})

t.test('tags and prefixes select entries to delete and to list', async (t) => {
  const tier = new MemoryTier({ maxBytes: 1_000_000, now: clock().now })
  await tier.set(entry('v1/chat/user/alice/1', { tags: ['category:electronics'], createdAt: T0 + 1 }))
  await tier.set(entry('v1/chat/user/alice/2', { tags: ['category:books'], createdAt: T0 + 2 }))
  await tier.set(entry('v1/chat/user/bob/1', { tags: ['category:electronics', 'promo'], createdAt: T0 + 3 }))
  await tier.set(entry('v1/search/shared/-/1', { createdAt: T0 + 4 }))
  await tier.set(entry('v2/chat/user/alice/1', { tags: ['category:electronics'], createdAt: T0 + 5 }))

  const list = async (sel: { prefix?: string; tag?: string }, limit = 100) => (await tier.list(sel, limit)).map((m) => m.key)
  t.same(await list({ tag: 'category:electronics' }), ['v2/chat/user/alice/1', 'v1/chat/user/bob/1', 'v1/chat/user/alice/1'], 'by tag, newest first')
  t.same(await list({ prefix: 'v1/chat/' }), ['v1/chat/user/bob/1', 'v1/chat/user/alice/2', 'v1/chat/user/alice/1'])
  t.same(await list({ prefix: 'v1/', tag: 'category:electronics' }), ['v1/chat/user/bob/1', 'v1/chat/user/alice/1'], 'both: the intersection')
  t.same(await list({}, 2), ['v2/chat/user/alice/1', 'v1/search/shared/-/1'], 'up to the limit')
  t.same(await list({}, 0), [])
  t.same(await list({ tag: 'nothing' }), [])
  const [meta] = await tier.list({ prefix: 'v1/search/' }, 1)
  t.notOk(meta && 'body' in meta, 'metadata only')

  t.equal(await tier.delete({ tag: 'category:electronics' }), 3)
  t.same(await list({}), ['v1/search/shared/-/1', 'v1/chat/user/alice/2'])
  t.equal(await tier.delete({ prefix: 'v1/chat/user/alice/' }), 1)
  t.equal(await tier.delete({ key: 'v1/search/shared/-/1' }), 1)
  t.equal(await tier.delete({ key: 'v1/search/shared/-/1' }), 0, 'gone already')
  t.same(tier.stats(), { entries: 0, bytes: 0, maxBytes: 1_000_000 })
  t.same(await list({ tag: 'promo' }), [], 'the tag index forgot the deleted keys')
})

t.test('evicted entries leave the tag index too', async (t) => {
  const size = entrySize(entry('a', { tags: ['x'] }))
  const tier = new MemoryTier({ maxBytes: size * 4, now: clock().now })
  for (const k of 'abcd') await tier.set(entry(k, { tags: ['x'] }))
  await tier.set(entry('e', { tags: ['x'] }))
  await tier.set(entry('f', { tags: ['x'] }))
  t.same((await tier.list({ tag: 'x' }, 10)).map((m) => m.key).sort(), ['c', 'd', 'e', 'f'])
  t.equal(await tier.delete({ tag: 'x' }), 4)
  t.same(tier.stats().bytes, 0)
})

t.test('apply deletes at once, for invalidations from other replicas', async (t) => {
  const tier = new MemoryTier({ maxBytes: 1_000_000, now: clock().now })
  await tier.set(entry('a/1', { tags: ['t'] }))
  await tier.set(entry('a/2'))
  await tier.set(entry('b/1', { tags: ['t'] }))
  t.equal(tier.apply({ prefix: 'a/' }), 2)
  t.equal(tier.apply({ tag: 't' }), 1)
  t.equal(tier.stats().entries, 0)
})

t.test('an entry past staleUntil is a miss and leaves; expired entries are swept without lookups', async (t) => {
  const c = clock()
  const tier = new MemoryTier({ maxBytes: 10_000_000, now: c.now })
  await tier.set(entry('short', { staleUntil: T0 + 1000, tags: ['t'] }))
  await tier.set(entry('long', { staleUntil: T0 + 100_000 }))
  c.advance(999)
  t.ok(await tier.get('short'), 'served until staleUntil')
  c.advance(1)
  t.equal(await tier.get('short'), undefined, 'a miss at staleUntil')
  t.equal(tier.stats().entries, 1, 'and removed on that access')
  t.same(await tier.list({ tag: 't' }, 10), [])
  t.ok(await tier.get('long'))

  await tier.set(entry('already-gone', { staleUntil: T0 }))
  t.equal(tier.stats().entries, 1, 'an entry expired on arrival is not kept')

  for (let i = 0; i < 200; i++) await tier.set(entry(`e${i}`, { staleUntil: T0 + 2000 }))
  t.equal(tier.stats().entries, 201)
  c.advance(5000)
  t.same(await tier.list({}, 1000).then((l) => l.map((m) => m.key)), ['long'], 'listing skips expired entries')
  t.equal(await tier.delete({ prefix: 'e' }), 0, 'expired entries do not count as deleted')
  for (let i = 0; i < 200; i++) await tier.set(entry(`f${i}`, { staleUntil: T0 + 2000 }))
  t.equal(tier.stats().entries, 1, 'expired entries are not kept')

  for (let i = 0; i < 300; i++) await tier.set(entry(`g${i}`, { staleUntil: T0 + 8000 }))
  t.equal(tier.stats().entries, 301)
  c.advance(10_000)
  // Each set looks at 16 entries: 40 sets make a full round over the 301 and the new ones.
  for (let i = 0; i < 40; i++) await tier.set(entry(`h${i}`, { staleUntil: T0 + 100_000 }))
  t.equal(tier.stats().entries, 41, 'sets swept every expired entry without a lookup')
  const live = ['long', ...Array.from({ length: 40 }, (_, i) => `h${i}`)]
  t.equal(tier.stats().bytes, live.reduce((sum, k) => sum + entrySize(entry(k)), 0), 'and their bytes')
})

t.test('expired entries at the LRU end make room without being counted as evictions', async (t) => {
  const c = clock()
  const size = entrySize(entry('a'))
  const evicted: number[] = []
  const tier = new MemoryTier({ maxBytes: size * 4, now: c.now, events: { evicted: (n) => void evicted.push(n) } })
  await tier.set(entry('a', { staleUntil: T0 + 10 }))
  for (const k of 'bcd') await tier.set(entry(k))
  c.advance(10)
  await tier.set(entry('e'))
  t.same(evicted, [], 'a had expired: no eviction')
  t.same(await keys(tier), ['b', 'c', 'd', 'e'])
})

t.test('a body that is a view into a larger buffer is copied, so the bound is real memory', async (t) => {
  const tier = new MemoryTier({ maxBytes: 1_000_000, now: clock().now })
  const pool = new Uint8Array(100_000).fill(7)
  const view = pool.subarray(500, 600)
  await tier.set({ ...entry('k'), body: view })
  const got = await tier.get('k')
  t.equal(got?.body.byteLength, 100)
  t.equal(got?.body.buffer.byteLength, 100, 'its own buffer, not the pool')
  t.ok(got?.body.every((b) => b === 7))
  const own = entry('own')
  await tier.set(own)
  t.equal((await tier.get('own'))?.body, own.body, 'a body with its own buffer is kept as is')
})

t.test('a bound that is not a number of bytes is refused', async (t) => {
  t.throws(() => new MemoryTier({ maxBytes: Number.NaN }), RangeError)
  t.throws(() => new MemoryTier({ maxBytes: Infinity }), RangeError)
  t.throws(() => new MemoryTier({ maxBytes: -1 }), RangeError)
})
