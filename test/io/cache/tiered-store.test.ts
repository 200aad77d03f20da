import { setImmediate as tick } from 'node:timers/promises'
import t from 'tap'
import type { CacheEntry, CacheEntryMeta, CacheSelector, FillLock, LockResult } from '../../../src/core/cache/types.js'
import { MemoryTier } from '../../../src/io/cache/memory-tier.js'
import type { CacheStoreEvents } from '../../../src/io/cache/tier.js'
import { TieredStore, type SharedTier } from '../../../src/io/cache/tiered-store.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'

const T0 = 1_700_000_000_000
const TIMEOUT_MS = 20
const PROBE_MS = 1000

// Recorded here, not left to the runner: a late rejection must not surface at all.
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => void unhandled.push(reason))

function entry(key: string, o: { createdAt?: number; tags?: string[]; body?: string } = {}): CacheEntry {
  const body = new TextEncoder().encode(o.body ?? `answer for ${key}`)
  return {
    meta: {
      key,
      route: 'chat',
      createdAt: o.createdAt ?? T0,
      freshUntil: T0 + 30_000,
      staleUntil: T0 + 60_000,
      tags: o.tags ?? [],
      contentType: 'application/json',
      bytes: body.byteLength,
    },
    status: 200,
    headers: ['content-type', 'application/json'],
    body,
  }
}

type Mode = 'answer' | 'hang' | 'fail'

interface Hung {
  op: string
  resolve(): void
  reject(err: Error): void
}

/**
 * The shared-tier port, faked: it answers from a Map, fails at once, or hangs until the test
 * settles the call (late, after the store has given up on it).
 */
class FakeShared implements SharedTier {
  mode: Mode = 'answer'
  readonly calls: string[] = []
  readonly entries = new Map<string, CacheEntry>()
  readonly hung: Hung[] = []
  lockResult: LockResult = { kind: 'held' }

  get(key: string): Promise<CacheEntry | undefined> {
    return this.run('get', () => this.entries.get(key))
  }

  set(e: CacheEntry): Promise<void> {
    return this.run('set', () => void this.entries.set(e.meta.key, e))
  }

  delete(sel: CacheSelector): Promise<number> {
    return this.run('delete', () => {
      let gone = 0
      for (const [key, e] of this.entries) {
        const hit = 'key' in sel ? key === sel.key : 'tag' in sel ? e.meta.tags.includes(sel.tag) : key.startsWith(sel.prefix)
        if (hit && this.entries.delete(key)) gone++
      }
      return gone
    })
  }

  list(sel: { readonly prefix?: string; readonly tag?: string }, limit: number): Promise<readonly CacheEntryMeta[]> {
    return this.run('list', () =>
      [...this.entries.values()]
        .map((e) => e.meta)
        .filter((m) => (sel.prefix === undefined || m.key.startsWith(sel.prefix)) && (sel.tag === undefined || m.tags.includes(sel.tag)))
        .slice(0, limit),
    )
  }

  lock(_key: string, _ttlMs: number): Promise<LockResult> {
    return this.run('lock', () => this.lockResult)
  }

  private run<T>(op: string, answer: () => T): Promise<T> {
    this.calls.push(op)
    if (this.mode === 'fail') return Promise.reject(new Error('connect ECONNREFUSED (fake)'))
    if (this.mode === 'hang') return new Promise<T>((resolve, reject) => void this.hung.push({ op, resolve: () => resolve(answer()), reject }))
    return Promise.resolve(answer())
  }
}

function recorder() {
  const l2Errors: string[] = []
  let corrupt = 0
  const events: CacheStoreEvents = {
    l2Error: (op, kind) => void l2Errors.push(`${op}:${kind}`),
    corrupt: () => void corrupt++,
    evicted: () => undefined,
  }
  return { events, l2Errors, corrupt: () => corrupt }
}

function setup(opts: { l2?: boolean; maxPendingWrites?: number } = {}) {
  let ms = 0
  const l1 = new MemoryTier({ maxBytes: 1_000_000, now: () => T0 })
  const l2 = opts.l2 === false ? undefined : new FakeShared()
  const rec = recorder()
  const log = captureLog()
  const store = new TieredStore({
    l1,
    l2,
    timeoutMs: TIMEOUT_MS,
    probeMs: PROBE_MS,
    events: rec.events,
    log,
    clock: () => ms,
    ...(opts.maxPendingWrites !== undefined && { maxPendingWrites: opts.maxPendingWrites }),
  })
  return { store, l1, l2: l2!, ...rec, log, advance: (by: number) => void (ms += by) }
}

/** Lets late results and any rejection they would leave unhandled surface. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await tick()
}

t.test('without a shared tier: memory only, locks unavailable', async (t) => {
  const { store, l2Errors } = setup({ l2: false })
  t.same(store.health(), { shared: 'none' })
  t.equal(await store.get('k'), undefined)
  await store.set(entry('k', { tags: ['x'] }))
  t.equal((await store.get('k'))?.meta.key, 'k')
  t.same(await store.lock('k', 1000), { kind: 'unavailable' })
  t.same((await store.list({ tag: 'x' }, 10)).map((m) => m.key), ['k'])
  t.equal(await store.delete({ tag: 'x' }), 1)
  t.equal(await store.get('k'), undefined)
  t.same(l2Errors, [])
})

t.test('an L2 hit is promoted into memory', async (t) => {
  const { store, l1, l2 } = setup()
  l2.entries.set('k', entry('k'))
  t.equal((await store.get('k'))?.meta.key, 'k')
  t.same(l2.calls, ['get'])
  t.equal(l1.stats().entries, 1)
  t.equal((await store.get('k'))?.meta.key, 'k')
  t.same(l2.calls, ['get'], 'the second read is served from memory')
  t.equal(await store.get('other'), undefined)
  t.same(l2.calls, ['get', 'get'], 'a miss in both asks L2 once')
  t.same(store.health(), { shared: 'up' })
})

t.test('an L2 answer under another key is a corrupt miss and is not promoted', async (t) => {
  const { store, l1, l2, corrupt } = setup()
  l2.entries.set('k', entry('someone-else'))
  t.equal(await store.get('k'), undefined)
  t.equal(corrupt(), 1)
  t.equal(l1.stats().entries, 0)
})

t.test('a hung L2 is a miss after the timeout, then skipped for probeMs, then tried again', async (t) => {
  const { store, l1, l2, l2Errors, log, advance } = setup()
  l2.mode = 'hang'
  t.equal(await store.get('k'), undefined, 'the request gets a miss')
  t.same(l2.calls, ['get'])
  t.same(l2Errors, ['get:timeout'])
  t.same(store.health(), { shared: 'down' })

  advance(PROBE_MS - 1)
  t.equal(await store.get('k'), undefined)
  await store.set(entry('k2'))
  t.same(await store.lock('k', 1000), { kind: 'unavailable' })
  t.same((await store.list({}, 10)).map((m) => m.key), ['k2'], 'listing from memory alone')
  t.same(l2.calls, ['get'], 'no call at all while skipped: get, set, lock and list alike')
  t.equal((await store.get('k2'))?.meta.key, 'k2', 'memory keeps serving')
  t.same(l2Errors, ['get:timeout'], 'skipped calls are no errors')

  advance(1)
  l2.mode = 'answer'
  l2.entries.set('k', entry('k'))
  t.equal((await store.get('k'))?.meta.key, 'k', 'after probeMs one request tries L2 again')
  t.same(l2.calls, ['get', 'get'])
  t.same(store.health(), { shared: 'up' })
  t.equal(l1.stats().entries, 2, 'and its hit is promoted')
  await store.set(entry('k3'))
  await store.idle()
  t.ok(l2.entries.has('k3'), 'writes reach L2 again')

  t.equal(log.messages('warn').length, 1, 'going down is logged once')
  t.equal(log.messages('info').length, 1, 'coming back is logged once')
  t.match(log.messages('warn')[0], /memory only/)
  t.match(log.messages('info')[0], /answers again/)
})

t.test('while probing, one request tries L2 and the others skip it', async (t) => {
  const { store, l2, l2Errors, advance } = setup()
  l2.mode = 'fail'
  t.equal(await store.get('a'), undefined)
  t.same(l2Errors, ['get:error'], 'an error is counted')
  advance(PROBE_MS)
  l2.mode = 'hang'
  const gets = await Promise.all(Array.from({ length: 5 }, (_, i) => store.get(`k${i}`)))
  t.same(gets, [undefined, undefined, undefined, undefined, undefined])
  t.same(l2.calls, ['get', 'get'], 'five concurrent requests, one probe')
  t.same(l2Errors, ['get:error', 'get:timeout'])
  t.same(store.health(), { shared: 'down' }, 'a failed probe keeps it down')
  advance(PROBE_MS - 1)
  await store.get('k')
  t.equal(l2.calls.length, 2, 'and restarts the wait')
})

t.test('a failure that began before L2 came back does not take it down again', async (t) => {
  const { store, l2, l2Errors, advance } = setup()
  l2.mode = 'fail'
  await store.get('a')
  advance(PROBE_MS)
  l2.mode = 'answer'
  await store.get('b')
  t.same(store.health(), { shared: 'up' })
  l2.mode = 'fail'
  await store.get('c')
  t.same(store.health(), { shared: 'down' }, 'a new failure after recovery does')
  t.same(l2Errors, ['get:error', 'get:error'])
})

t.test('a late rejection or answer from a timed-out call is dropped quietly', async (t) => {
  const { store, l1, l2, advance } = setup()
  l2.mode = 'hang'
  t.equal(await store.get('k'), undefined)
  l2.hung.shift()!.reject(new Error('late failure'))
  advance(PROBE_MS)
  t.equal(await store.get('k'), undefined)
  l2.entries.set('k', entry('k'))
  l2.hung.shift()!.resolve()
  await settle()
  t.same(unhandled, [], 'no unhandled rejection')
  t.equal(l1.stats().entries, 0, 'a late answer is not promoted')
})

t.test('set writes memory at once, waits for L2 at most the timeout, and never rejects', async (t) => {
  const { store, l1, l2, l2Errors, advance } = setup()
  l2.mode = 'hang'
  const setting = store.set(entry('a'))
  await settle()
  t.equal(l1.stats().entries, 1, 'in memory before L2 answers')
  t.same(l2.calls, ['set'])
  await setting
  t.same(l2Errors, ['set:timeout'], 'set resolved once the L2 write timed out, and it is counted')
  t.same(store.health(), { shared: 'down' })
  l2.hung.shift()!.reject(new Error('late'))

  advance(PROBE_MS)
  l2.mode = 'fail'
  await store.set(entry('b'))
  await store.idle()
  t.same(l2Errors, ['set:timeout', 'set:error'])
  t.equal(l1.stats().entries, 2)

  advance(PROBE_MS)
  l2.mode = 'answer'
  await store.set(entry('c'))
  await store.idle()
  t.ok(l2.entries.has('c'))
  await settle()
  t.same(unhandled, [])
})

t.test('L2 writes in flight are bounded; past the bound an entry stays in memory only', async (t) => {
  const { store, l1, l2, l2Errors } = setup({ maxPendingWrites: 2 })
  l2.mode = 'hang'
  const writes = [store.set(entry('a')), store.set(entry('b')), store.set(entry('c'))]
  await settle()
  t.same(l2.calls, ['set', 'set'], 'the third write did not go out')
  t.same(l2Errors, ['set:timeout'], 'and is counted as L2 not keeping pace')
  t.equal(l1.stats().entries, 3)
  await Promise.all(writes)
  await store.idle()
  for (const h of l2.hung.splice(0)) h.resolve()
})

t.test('delete clears memory even when L2 fails, and says other replicas may still serve', async (t) => {
  const { store, l1, l2, l2Errors, log } = setup()
  await store.set(entry('v1/chat/a'))
  await store.set(entry('v1/chat/b'))
  await store.set(entry('v1/other/c'))
  await store.idle()
  l2.mode = 'fail'
  t.equal(await store.delete({ prefix: 'v1/chat/' }), 2, 'the memory count')
  t.equal(l1.stats().entries, 1)
  t.equal(await store.get('v1/chat/a'), undefined)
  t.same(l2Errors.filter((e) => e.startsWith('delete')), ['delete:error'])
  t.match(log.messages('warn').at(-1), /other replicas may serve/)
  t.same(store.health(), { shared: 'down' })

  const callsBefore = l2.calls.length
  l2.mode = 'answer'
  t.equal(await store.delete({ prefix: 'v1/' }), 3, 'L2 still held all three, memory one: the larger count')
  t.equal(l2.calls.length, callsBefore + 1, 'an invalidation tries L2 even while requests skip it')
  t.same(store.health(), { shared: 'up' }, 'and its success brings L2 back')
  t.equal(l1.stats().entries, 0)
  t.equal(l2.entries.size, 0)
})

t.test('delete with a hung L2 resolves with the memory count after the timeout', async (t) => {
  const { store, l1, l2, l2Errors } = setup()
  await store.set(entry('a', { tags: ['x'] }))
  await store.idle()
  l2.mode = 'hang'
  t.equal(await store.delete({ tag: 'x' }), 1)
  t.same(l2Errors, ['delete:timeout'])
  t.equal(l1.stats().entries, 0)
  l2.hung.shift()!.reject(new Error('late'))
  await settle()
  t.same(unhandled, [])
})

t.test('invalidateLocal clears memory only', async (t) => {
  const { store, l1, l2 } = setup()
  await store.set(entry('a'))
  await store.idle()
  l2.calls.length = 0
  t.equal(store.invalidateLocal({ key: 'a' }), 1)
  t.equal(l1.stats().entries, 0)
  t.same(l2.calls, [], 'nothing sent to L2: the invalidation came from there')
  t.ok(l2.entries.has('a'))
})

t.test('an L2 read that overlaps an invalidation is served but not promoted', async (t) => {
  const { store, l1, l2 } = setup()
  l2.entries.set('k', entry('k'))
  l2.mode = 'hang'
  const reading = store.get('k')
  t.ok(await eventually(() => l2.hung.length === 1), 'the read reached L2')
  store.invalidateLocal({ key: 'k' })
  l2.hung.shift()!.resolve()
  t.equal((await reading)?.meta.key, 'k')
  t.equal(l1.stats().entries, 0, 'memory does not keep what the invalidation may have meant to remove')
})

t.test('list merges L2 and memory, without duplicates, newest first, up to the limit', async (t) => {
  const { store, l1, l2, advance } = setup()
  await l1.set(entry('a', { createdAt: T0 + 1 }))
  await l1.set(entry('b', { createdAt: T0 + 2 }))
  l2.entries.set('b', entry('b', { createdAt: T0 + 2 }))
  l2.entries.set('c', entry('c', { createdAt: T0 + 3 }))
  const keys = async (limit: number) => (await store.list({}, limit)).map((m) => m.key)
  t.same(await keys(10), ['c', 'b', 'a'])
  t.same(await keys(2), ['c', 'b'])
  t.same(await keys(0), [])
  l2.mode = 'fail'
  t.same(await keys(10), ['b', 'a'], 'L2 failing: memory alone')
  advance(1)
  t.same(await keys(10), ['b', 'a'])
  t.same(l2.calls.filter((c) => c === 'list').length, 3, 'skipped after the failure')
})

t.test('locks go through L2, bounded by the timeout, and a late lock is released', async (t) => {
  const { store, l2, l2Errors, advance } = setup()
  const seen: string[] = []
  const fake: FillLock = {
    renew: async (ttl) => (seen.push(`renew ${ttl}`), true),
    release: async () => void seen.push('release'),
  }
  t.same(await store.lock('k', 5000), { kind: 'held' })
  l2.lockResult = { kind: 'acquired', lock: fake }
  const got = await store.lock('k', 5000)
  t.equal(got.kind, 'acquired')
  if (got.kind === 'acquired') {
    t.equal(await got.lock.renew(3000), true)
    await got.lock.release()
  }
  t.same(seen, ['renew 3000', 'release'])

  l2.mode = 'hang'
  t.same(await store.lock('k', 5000), { kind: 'unavailable' }, 'a hung lock call is unavailable')
  t.same(l2Errors, ['lock:timeout'])
  l2.hung.shift()!.resolve()
  await settle()
  t.same(seen, ['renew 3000', 'release', 'release'], 'the lock won too late is handed back')

  advance(PROBE_MS)
  l2.mode = 'fail'
  t.same(await store.lock('k', 5000), { kind: 'unavailable' }, 'a failing lock call is unavailable')
  t.same(l2Errors, ['lock:timeout', 'lock:error'])
})

t.test('a lock whose L2 goes away renews as lost and releases without rejecting', async (t) => {
  const { store, l2, l2Errors } = setup()
  const failing: FillLock = {
    renew: () => Promise.reject(new Error('connection lost')),
    release: () => Promise.reject(new Error('connection lost')),
  }
  l2.lockResult = { kind: 'acquired', lock: failing }
  const got = await store.lock('k', 5000)
  t.equal(got.kind, 'acquired')
  if (got.kind !== 'acquired') return
  t.equal(await got.lock.renew(1000), false)
  await got.lock.release()
  t.same(l2Errors, ['lock:error'], 'the release was skipped: the breaker opened on the failed renew')
  await settle()
  t.same(unhandled, [])
})
