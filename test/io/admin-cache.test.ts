import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import type { CacheEntry } from '../../src/core/cache/types.js'
import { handleCache, MAX_LIST_LIMIT, MAX_SELECTOR_LENGTH, type CacheAdmin, type CacheAdminReply } from '../../src/io/admin-cache.js'
import { MemoryTier, entrySize } from '../../src/io/cache/memory-tier.js'
import { CacheStats } from '../../src/io/cache/stats.js'
import { TieredStore } from '../../src/io/cache/tiered-store.js'
import { WarmJobs, type WarmJobView } from '../../src/io/cache/warm.js'
import { captureLog } from '../helpers/capture-log.js'
import { eventually } from '../helpers/eventually.js'

const T0 = 1_700_000_000_000
const SECRET = 'SECRET-ANSWER-TEXT'
const HASH = 'a'.repeat(64)

const KEYS = {
  aliceChat1: `v1/chat/user/alice/${HASH.replace(/^a/, '1')}`,
  aliceChat2: `v1/chat/user/alice/${HASH.replace(/^a/, '2')}`,
  bobChat: `v1/chat/user/bob/${HASH.replace(/^a/, '3')}`,
  sharedSummary: `v1/summary/shared/-/${HASH.replace(/^a/, '4')}`,
} as const

function entry(key: string, o: { createdAt?: number; tags?: string[]; route?: string; usage?: boolean } = {}): CacheEntry {
  const body = new TextEncoder().encode(`{"answer":"${SECRET} for ${key}"}`)
  return {
    meta: {
      key,
      route: o.route ?? key.split('/')[1]!,
      createdAt: o.createdAt ?? T0,
      freshUntil: T0 + 60_000,
      staleUntil: T0 + 120_000,
      tags: o.tags ?? [],
      contentType: 'application/json',
      bytes: body.byteLength,
      model: 'gpt-test',
      ...(o.usage ? { usage: { input: 12, output: 34 } } : {}),
    },
    status: 200,
    headers: ['content-type', 'application/json'],
    body,
  }
}

interface Fixture {
  admin: CacheAdmin
  stats: CacheStats
  store: TieredStore
  call(method: string, url: string, body?: unknown): Promise<CacheAdminReply>
  readBodyCalls(): number
  keysLeft(): Promise<string[]>
}

/** A real TieredStore over a real MemoryTier, no shared tier, with the four entries of KEYS. */
async function fixture(t: { teardown(fn: () => unknown): void }, opts: { maxBytes?: number; warm?: WarmJobs } = {}): Promise<Fixture> {
  const stats = new CacheStats()
  const l1 = new MemoryTier({ maxBytes: opts.maxBytes ?? 1024 * 1024, now: () => T0 + 1000, events: stats })
  const store = new TieredStore({ l1, timeoutMs: 50, probeMs: 1000, events: stats, log: captureLog() })
  await store.set(entry(KEYS.aliceChat1, { createdAt: T0 + 4, tags: ['category:electronics', 'lang:en'], usage: true }))
  await store.set(entry(KEYS.aliceChat2, { createdAt: T0 + 3, tags: ['category:books'] }))
  await store.set(entry(KEYS.bobChat, { createdAt: T0 + 2, tags: ['category:electronics'] }))
  await store.set(entry(KEYS.sharedSummary, { createdAt: T0 + 1 }))
  const dispatcher = new Agent()
  t.teardown(() => dispatcher.close())
  const warm = opts.warm ?? new WarmJobs({ proxyUrl: () => 'http://127.0.0.1:9', log: captureLog(), dispatcher })
  const admin: CacheAdmin = { store, stats, memory: () => l1.stats(), health: () => store.health(), warm }
  let bodyReads = 0
  return {
    admin,
    stats,
    store,
    call(method, url, body) {
      const u = new URL(url, 'http://admin')
      return handleCache(admin, method, u.pathname.slice('/admin/cache'.length), u.searchParams, async () => {
        bodyReads++
        return body
      })
    },
    readBodyCalls: () => bodyReads,
    async keysLeft() {
      return (await store.list({}, 1000)).map((m) => m.key).sort()
    },
  }
}

t.test('GET /admin/cache/stats reports route counters, memory and the shared tier', async (t) => {
  const f = await fixture(t)
  const { stats } = f
  for (let i = 0; i < 3; i++) stats.lookup('chat', 'hit')
  stats.lookup('chat', 'stale')
  stats.lookup('chat', 'coalesced')
  stats.lookup('chat', 'miss')
  stats.lookup('chat', 'bypass', 'temperature')
  stats.lookup('chat', 'bypass', 'temperature')
  stats.lookup('chat', 'bypass', 'no_scope')
  stats.saved('chat', { input: 100, output: 40 })
  stats.saved('chat', { input: 20, output: 2 })
  stats.saved('chat', undefined)
  stats.stored('chat', 1000)
  stats.stored('chat', 234)
  stats.notStored('chat', 'set_cookie')
  stats.lookup('summary', 'miss')
  stats.l2Error('get', 'timeout')
  stats.l2Error('get', 'timeout')
  stats.l2Error('set', 'error')
  stats.corrupt()

  const out = await f.call('GET', '/admin/cache/stats')
  t.equal(out.status, 200)
  t.same(out.body, {
    routes: {
      chat: {
        lookups: { hit: 3, stale: 1, coalesced: 1, miss: 1, bypass: 3 },
        hitRatio: 5 / 6,
        bypassReasons: { temperature: 2, no_scope: 1 },
        upstreamRequestsSaved: 3,
        tokensSaved: { input: 120, output: 42 },
        stored: 2,
        storedBytes: 1234,
        notStored: { set_cookie: 1 },
      },
      summary: {
        lookups: { hit: 0, stale: 0, coalesced: 0, miss: 1, bypass: 0 },
        hitRatio: 0,
        bypassReasons: {},
        upstreamRequestsSaved: 0,
        tokensSaved: { input: 0, output: 0 },
        stored: 0,
        storedBytes: 0,
        notStored: {},
      },
    },
    memory: { ...f.admin.memory(), evictions: 0, evictedBytes: 0 },
    shared: { status: 'none', errors: { 'get:timeout': 2, 'set:error': 1 }, corruptEntries: 1 },
  })
  const mem = (out.body as { memory: { entries: number; bytes: number; maxBytes: number } }).memory
  t.equal(mem.entries, 4, 'the four entries in memory')
  t.ok(mem.bytes > 0 && mem.maxBytes === 1024 * 1024)

  // The reply is a copy: counters that move on do not change a reply already made.
  stats.lookup('chat', 'hit')
  t.equal((out.body as { routes: { chat: { lookups: { hit: number } } } }).routes.chat.lookups.hit, 3)
})

t.test('stats count evictions of the memory tier', async (t) => {
  const stats = new CacheStats()
  const five = ['1', '2', '3', '4', '5'].map((n) => entry(`v1/chat/user/carol/${HASH.replace(/^a/, n)}`))
  const one = entrySize(five[0]!)
  t.ok(five.every((e) => entrySize(e) === one), 'equal sizes')
  // Room for exactly four: the fifth pushes the least recently used one out.
  const l1 = new MemoryTier({ maxBytes: one * 4, now: () => T0 + 1000, events: stats })
  const store = new TieredStore({ l1, timeoutMs: 50, probeMs: 1000, events: stats, log: captureLog() })
  for (const e of five) await store.set(e)
  const admin: CacheAdmin = { store, stats, memory: () => l1.stats(), health: () => store.health(), warm: new WarmJobs({ proxyUrl: () => 'http://127.0.0.1:9', log: captureLog() }) }
  const out = (await handleCache(admin, 'GET', '/stats', new URLSearchParams(), async () => undefined)).body as { memory: Record<string, number> }
  t.same(out.memory, { entries: 4, bytes: one * 4, maxBytes: one * 4, evictions: 1, evictedBytes: one })
})

t.test('GET /admin/cache/entries lists metadata, never bodies', async (t) => {
  const f = await fixture(t)
  // Even a meta object carrying more than CacheEntryMeta cannot leak through the listing.
  const leaky = entry(`v1/chat/user/dave/${HASH.replace(/^a/, '6')}`, { createdAt: T0 + 5 })
  await f.store.set({ ...leaky, meta: Object.assign({ body: SECRET, b: SECRET }, leaky.meta) })

  const out = await f.call('GET', '/admin/cache/entries')
  t.equal(out.status, 200)
  const body = out.body as { entries: Record<string, unknown>[]; limit: number }
  t.equal(body.limit, 100, 'the default limit')
  t.same(
    body.entries.map((e) => e.key),
    [leaky.meta.key, KEYS.aliceChat1, KEYS.aliceChat2, KEYS.bobChat, KEYS.sharedSummary],
    'every entry, newest first',
  )
  for (const e of body.entries) {
    t.notOk('body' in e || 'b' in e || 'headers' in e || 'events' in e, `${e.key as string}: metadata only`)
  }
  t.notOk(JSON.stringify(out.body).includes(SECRET), 'no body text anywhere in the reply')
  t.same(body.entries[1], {
    key: KEYS.aliceChat1,
    route: 'chat',
    createdAt: T0 + 4,
    freshUntil: T0 + 60_000,
    staleUntil: T0 + 120_000,
    tags: ['category:electronics', 'lang:en'],
    contentType: 'application/json',
    bytes: entry(KEYS.aliceChat1).body.byteLength,
    usage: { input: 12, output: 34 },
    model: 'gpt-test',
  })
})

t.test('entries are selected by prefix, tag, both, and bounded by limit', async (t) => {
  const f = await fixture(t)
  const keys = async (q: string) => {
    const out = await f.call('GET', `/admin/cache/entries${q}`)
    t.equal(out.status, 200, q)
    return (out.body as { entries: { key: string }[] }).entries.map((e) => e.key)
  }
  t.same(await keys('?prefix=v1/chat/user/alice/'), [KEYS.aliceChat1, KEYS.aliceChat2])
  t.same(await keys('?tag=category:electronics'), [KEYS.aliceChat1, KEYS.bobChat])
  t.same(await keys('?prefix=v1/chat/user/bob/&tag=category:electronics'), [KEYS.bobChat], 'both must hold')
  t.same(await keys('?prefix=v1/chat/user/bob/&tag=category:books'), [])
  t.same(await keys('?prefix=&tag='), [KEYS.aliceChat1, KEYS.aliceChat2, KEYS.bobChat, KEYS.sharedSummary], 'empty means absent')
  t.same(await keys('?limit=2'), [KEYS.aliceChat1, KEYS.aliceChat2])
  const capped = await f.call('GET', '/admin/cache/entries?limit=5000')
  t.equal((capped.body as { limit: number }).limit, MAX_LIST_LIMIT, 'a limit above the cap is clamped, and says so')
  t.equal((await f.call('GET', `/admin/cache/entries?limit=${MAX_LIST_LIMIT}`)).status, 200)
})

t.test('entries: bad parameters are refused, each one named', async (t) => {
  const f = await fixture(t)
  for (const q of ['?limit=0', '?limit=-1', '?limit=abc', '?limit=1.5', '?limit=1e3']) {
    const out = await f.call('GET', `/admin/cache/entries${q}`)
    t.equal(out.status, 400, q)
    t.match(out.body, { error: 'bad_request', errors: [/^limit: /] }, q)
  }
  const long = 'x'.repeat(MAX_SELECTOR_LENGTH + 1)
  const out = await f.call('GET', `/admin/cache/entries?prefix=${long}&tag=${long}&limit=0`)
  t.equal(out.status, 400)
  t.equal((out.body as { errors: string[] }).errors.length, 3, 'every problem listed')
  t.match(await f.call('GET', '/admin/cache/entries?tag=a&tag=b'), { status: 400, body: { errors: [/^tag: /] } })
})

t.test('DELETE /admin/cache removes exactly what the selector selects', async (t) => {
  const all = Object.values(KEYS).sort()
  const cases: [string, number, string[]][] = [
    [`key=${encodeURIComponent(KEYS.aliceChat2)}`, 1, [KEYS.aliceChat2]],
    ['tag=category:electronics', 2, [KEYS.aliceChat1, KEYS.bobChat]],
    [`prefix=${encodeURIComponent('v1/chat/user/alice/')}`, 2, [KEYS.aliceChat1, KEYS.aliceChat2]],
    ['prefix=v1/', 4, all],
    ['key=v1/chat/user/alice/nothing-here', 0, []],
    ['tag=category:garden', 0, []],
  ]
  for (const [q, deleted, gone] of cases) {
    const f = await fixture(t)
    const out = await f.call('DELETE', `/admin/cache?${q}`)
    const [name, value] = q.split('=') as [string, string]
    t.same(out, { status: 200, body: { deleted, selector: { [name]: decodeURIComponent(value) } } }, q)
    t.same(await f.keysLeft(), all.filter((k) => !gone.includes(k)), `${q}: the others stay`)
  }
})

t.test('DELETE /admin/cache: a selector that is missing, doubled, empty or too long is refused and deletes nothing', async (t) => {
  const f = await fixture(t)
  const long = 'x'.repeat(MAX_SELECTOR_LENGTH + 1)
  const bad = ['', '?other=1', `?key=${KEYS.bobChat}&tag=category:books`, '?tag=a&tag=b', '?prefix=v1/&key=k&tag=t', '?key=', '?prefix=', '?tag=', `?prefix=${long}`, `?key=${long}`]
  for (const q of bad) {
    const out = await f.call('DELETE', `/admin/cache${q}`)
    t.equal(out.status, 400, q || '(no query)')
    t.match(out.body, { error: 'bad_request', errors: [String] }, q)
  }
  t.equal((await f.keysLeft()).length, 4, 'nothing deleted')
  const atLimit = await f.call('DELETE', `/admin/cache?prefix=${'x'.repeat(MAX_SELECTOR_LENGTH)}`)
  t.same(atLimit, { status: 200, body: { deleted: 0, selector: { prefix: 'x'.repeat(MAX_SELECTOR_LENGTH) } } }, 'exactly at the bound is fine')
})

t.test('wrong methods are 405 with allow; unknown paths are 404', async (t) => {
  const f = await fixture(t)
  const cases: [string, string, string][] = [
    ['GET', '/admin/cache', 'DELETE'],
    ['POST', '/admin/cache', 'DELETE'],
    ['POST', '/admin/cache/stats', 'GET'],
    ['DELETE', '/admin/cache/entries', 'GET'],
    ['DELETE', '/admin/cache/warm', 'GET, POST'],
    ['PUT', '/admin/cache/warm', 'GET, POST'],
    ['DELETE', '/admin/cache/warm/some-id', 'GET'],
  ]
  for (const [method, path, allow] of cases) {
    t.same(await f.call(method, path), { status: 405, body: { error: 'method_not_allowed' }, headers: { allow } }, `${method} ${path}`)
  }
  for (const path of ['/admin/cache/nope', '/admin/cache/stats/', '/admin/cache/entries/x', '/admin/cache/warm/', '/admin/cache/warm/unknown']) {
    const out = await f.call('GET', path)
    t.equal(out.status, 404, path)
    t.match(out.body, { error: 'not_found' })
  }
  t.equal(f.readBodyCalls(), 0, 'no body read for a request that is refused before it')
  t.equal((await f.keysLeft()).length, 4)
})

t.test('POST /admin/cache/warm: every problem listed, with its place', async (t) => {
  const f = await fixture(t)
  const out = await f.call('POST', '/admin/cache/warm', {
    requests: [
      { path: '/ok' },
      { path: 'v1/chat/completions' },
      { method: 'PUT', path: '/x' },
      { method: 'GET', path: '/x', body: { a: 1 } },
      { path: '/x', headers: { 'content-length': '5', 'bad name': 'v', 'x-ok': 'line\r\nbreak' } },
      { path: '/x', extra: true },
      { path: '/has space' },
      { path: '/x#frag' },
      'not an object',
    ],
    concurrency: 17,
    other: 1,
  })
  t.equal(out.status, 400)
  const errors = (out.body as { errors: string[] }).errors
  const at = (prefix: string) => errors.filter((e) => e.startsWith(prefix))
  t.equal(at('requests[0]').length, 0, 'the valid request has no error')
  t.equal(at('requests[1].path: ').length, 1)
  t.equal(at('requests[2].method: ').length, 1)
  t.equal(at('requests[3].body: ').length, 1)
  t.same(
    at('requests[4].headers'),
    [
      'requests[4].headers.content-length: set by the HTTP client, not allowed here',
      'requests[4].headers["bad name"]: not a header name',
      'requests[4].headers.x-ok: must not contain CR, LF or NUL',
    ],
    'a forbidden header, a bad name and a bad value, each named',
  )
  t.equal(at('requests[5]').length, 1, 'an unknown field')
  t.equal(at('requests[6].path: ').length, 1)
  t.equal(at('requests[7].path: ').length, 1)
  t.equal(at('requests[8]').length, 1)
  t.equal(at('concurrency: ').length, 1)
  t.equal(at('(body): ').length, 1, 'the unknown top-level field')
  t.equal(f.admin.warm.list().length, 0, 'no job started')

  const tooMany = await f.call('POST', '/admin/cache/warm', { requests: Array.from({ length: 1001 }, () => ({ path: '/x' })) })
  t.match(tooMany, { status: 400, body: { errors: [/^requests: /] } })
  t.match(await f.call('POST', '/admin/cache/warm', { requests: [] }), { status: 400, body: { errors: [/^requests: /] } })
  t.match(await f.call('POST', '/admin/cache/warm', undefined), { status: 400, body: { errors: ['(body): expected a JSON object'] } }, 'not JSON')
  t.match(await f.call('POST', '/admin/cache/warm', { requests: [{ path: '/x' }], concurrency: 0 }), { status: 400, body: { errors: [/^concurrency: /] } })
  t.equal(f.admin.warm.list().length, 0)
})

/** A proxy stand-in: every answer is a cache hit, except /hold which waits until released. */
async function startProxy() {
  const seen: { method: string; url: string; body: string }[] = []
  const held: http.ServerResponse[] = []
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c)
    seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(parts).toString('utf8') })
    if (req.url?.startsWith('/hold')) return void held.push(res)
    res.writeHead(200, { 'x-chaperone-cache': 'hit' }).end('{}')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    held,
    async close() {
      for (const r of held.splice(0)) r.end()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

t.test('POST /admin/cache/warm starts a job whose progress GET /admin/cache/warm/<id> shows', async (t) => {
  const proxy = await startProxy()
  const dispatcher = new Agent()
  // In this order: the agent's close waits for the held requests, which the proxy's close ends.
  t.teardown(async () => {
    await proxy.close()
    await dispatcher.close()
  })
  const f = await fixture(t, { warm: new WarmJobs({ proxyUrl: () => proxy.url, log: captureLog(), dispatcher, maxJobs: 2 }) })
  const out = await f.call('POST', '/admin/cache/warm', {
    requests: [{ path: '/v1/chat/completions', headers: { authorization: 'Bearer alice' }, body: { model: 'm' } }, { method: 'get', path: '/v1/models' }],
    concurrency: 1,
  })
  t.equal(out.status, 202)
  const { id, total, status } = out.body as { id: string; total: number; status: string }
  t.equal(total, 2)
  t.equal(status, `/admin/cache/warm/${id}`)
  t.same(out.headers, { location: status })
  t.ok(await eventually(() => f.admin.warm.get(id)?.finished === true))
  const job = await f.call('GET', status)
  t.match(job, { status: 200, body: { id, total: 2, done: 2, alreadyCached: 2, failed: 0, errors: [], finished: true } })
  t.same(
    proxy.seen.map((s) => [s.method, s.url, s.body]),
    [
      ['POST', '/v1/chat/completions', '{"model":"m"}'],
      ['GET', '/v1/models', ''],
    ],
    'method defaults to POST, is case-insensitive, and the body goes as JSON',
  )
  const list = await f.call('GET', '/admin/cache/warm')
  t.same(list, { status: 200, body: { jobs: [(job.body as WarmJobView)] } })

  // Both slots running: a third job is refused rather than queued without a bound.
  t.equal((await f.call('POST', '/admin/cache/warm', { requests: [{ path: '/hold/1' }] })).status, 202)
  t.equal((await f.call('POST', '/admin/cache/warm', { requests: [{ path: '/hold/2' }] })).status, 202)
  t.ok(await eventually(() => proxy.held.length === 2))
  const refused = await f.call('POST', '/admin/cache/warm', { requests: [{ path: '/x' }] })
  t.match(refused, { status: 429, body: { error: 'too_many_requests' }, headers: { 'retry-after': String } })
})
