/**
 * The cache filter over a fake store and a metrics recorder (ports): route matching, every
 * bypass reason, scopes in the key, tags, hits, stale and expired entries, and config errors.
 */
import t from 'tap'
import { PRINCIPAL_STATE, type Principal } from '../../../../src/core/chain/principal.js'
import type { Filter, RequestContext } from '../../../../src/core/chain/types.js'
import type { ForwardRequest, InFlight, Origin, OriginInterceptor, ResponseSink } from '../../../../src/core/chain/origin.js'
import type { CacheEntry, CacheMetricsPort, CacheStore } from '../../../../src/core/cache/types.js'
import { compilePolicies } from '../../../../src/core/config/compile.js'
import { formatConfigError } from '../../../../src/core/config/errors.js'
import { CACHE_STATE } from '../../../../src/core/filters/cache/filter.js'
import { cacheFactory } from '../../../../src/core/filters/cache/index.js'
import { cacheSchema } from '../../../../src/core/filters/cache/schema.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'
import { bufferedBody } from '../../../../src/core/http/request-body.js'
import type { Ports } from '../../../../src/core/ports.js'

const NOW = Date.UTC(2030, 0, 1)

function fakeStore() {
  const entries = new Map<string, CacheEntry>()
  const gets: string[] = []
  const sets: CacheEntry[] = []
  const store: CacheStore = {
    async get(key) {
      gets.push(key)
      return entries.get(key)
    },
    async set(entry) {
      sets.push(entry)
      entries.set(entry.meta.key, entry)
    },
    async lock() {
      return { kind: 'unavailable' }
    },
    async delete() {
      return 0
    },
    async list() {
      return []
    },
  }
  return { store, entries, gets, sets }
}

function metricsRecorder() {
  const lookups: Array<[string, string, string?]> = []
  const saved: unknown[] = []
  const m: CacheMetricsPort = {
    lookup: (route, result, reason) => void lookups.push(reason === undefined ? [route, result] : [route, result, reason]),
    saved: (_route, usage) => void saved.push(usage),
    stored() {},
    notStored() {},
  }
  return { m, lookups, saved }
}

function build(routes: unknown[], extra: Record<string, unknown> = {}) {
  const s = fakeStore()
  const metrics = metricsRecorder()
  const ports: Ports = { cache: s.store, cacheMetrics: metrics.m, now: () => new Date(NOW), random: () => 0.5 }
  const filter = cacheFactory.compile(cacheSchema.parse({ routes, ...extra }), ports)
  return { filter, metrics, ...s }
}

interface Req {
  path?: string
  method?: string
  principal?: Principal
  /** A value to send as JSON, or raw text. */
  body?: unknown
  raw?: string
  contentType?: string
  headers?: Record<string, string | string[]>
  rawHeaders?: string[]
  intercept?: boolean
}

type Ctx = RequestContext & { interceptor: OriginInterceptor | undefined; upstreamHeaders: HeaderEditList }

function ctx(o: Req = {}): Ctx {
  const path = o.path ?? '/v1/chat/completions'
  const state = new Map<string, unknown>()
  if (o.principal) state.set(PRINCIPAL_STATE, o.principal)
  const text = o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined)
  const c: Ctx = {
    id: 'r',
    snapshot: { version: 1, digest: 'd' },
    request: { method: o.method ?? 'POST', url: path, path, query: '', headers: o.headers ?? {}, rawHeaders: o.rawHeaders ?? [], remoteAddress: '10.0.0.1', clientIp: '10.0.0.1', protocol: 'http' },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    state,
    upstreamHeaders: new HeaderEditList(),
    interceptor: undefined,
    ...(text !== undefined ? { body: bufferedBody(new TextEncoder().encode(text), o.contentType ?? 'application/json', undefined) } : {}),
  }
  if (o.intercept !== false) c.interceptUpstream = (i) => void (c.interceptor = i)
  return c
}

const alice: Principal = { subject: 'alice', roles: ['guest', 'analyst'], tenant: 'acme', claims: {} }
const bob: Principal = { subject: 'bob', roles: ['analyst', 'guest'], tenant: 'acme', claims: {} }
const ask = (content = 'hi', extra: Record<string, unknown> = {}) => ({ model: 'm', temperature: 0, messages: [{ role: 'user', content }], ...extra })

/** Runs the filter; it must always let the request through (a hit stands in for the upstream, not the chain). */
async function run(f: Filter, c: Ctx) {
  const v = await f.onRequest!(c)
  if (v.kind !== 'continue') throw new Error(`the cache filter refused: ${JSON.stringify(v)}`)
  return c.state.get(CACHE_STATE) as { route: string; result: string; reason?: string; key?: string } | undefined
}

/** A fake upstream and a recording sink, to see what an interceptor does with a request. */
function exchange(interceptor: OriginInterceptor, answer?: { headers: string[]; body: string }) {
  const forwarded: ForwardRequest[] = []
  const events: string[] = []
  const heads: string[][] = []
  const origin: Origin = {
    forward(req, sink): InFlight {
      forwarded.push(req)
      if (answer) {
        queueMicrotask(() => {
          sink.onHead(200, [...answer.headers], () => {})
          sink.onData(Buffer.from(answer.body))
          sink.onEnd()
        })
      }
      return { abort() {} }
    },
  }
  const sink: ResponseSink = {
    onHead(status, headers) {
      heads.push(headers)
      events.push(`head ${status}`)
      return true
    },
    onData(c) {
      events.push(`data ${c.toString()}`)
      return true
    },
    onEnd() {
      events.push('end')
    },
    onError(e) {
      events.push(`error ${e.message}`)
    },
  }
  interceptor({ method: 'POST', path: '/v1/chat/completions', headers: [], body: null }, sink, origin)
  const cacheHeader = () => {
    const h = heads[0] ?? []
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'x-chaperone-cache') return h[i + 1]
    return undefined
  }
  return { forwarded, events, cacheHeader }
}

const settle = () => new Promise<void>((r) => setTimeout(r, 20))
const JSON_ANSWER = { headers: ['content-type', 'application/json'], body: JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 4 } }) }

function entryFor(key: string, o: { freshUntil: number; staleUntil: number }): CacheEntry {
  const body = JSON_ANSWER.body
  return {
    meta: { key, route: 'chat', createdAt: NOW - 10_000, freshUntil: o.freshUntil, staleUntil: o.staleUntil, tags: [], contentType: 'application/json', bytes: body.length, usage: { input: 3, output: 4 } },
    status: 200,
    headers: JSON_ANSWER.headers,
    body: Buffer.from(body),
  }
}

t.test('routes match by path and method; the first matching route applies', async (t) => {
  const { filter, metrics, gets } = build([
    { name: 'chat', match: { paths: ['/v1/chat/**'] }, scope: 'shared' },
    { name: 'models', match: { paths: ['/v1/models'], methods: ['get'] }, scope: 'shared' },
    { name: 'rest', match: { paths: ['/v1/**'], methods: ['post'] }, scope: 'shared' },
  ])
  t.equal((await run(filter, ctx({ body: ask() })))?.route, 'chat')
  t.equal((await run(filter, ctx({ path: '/v1/embeddings', body: ask() })))?.route, 'rest', 'the next route when the first does not match')
  t.equal(await run(filter, ctx({ path: '/v2/chat/completions', body: ask() })), undefined, 'no route: untouched')
  const get = ctx({ path: '/v1/chat/completions', method: 'GET' })
  t.equal(await run(filter, get), undefined, 'a GET on a POST route: untouched')
  t.equal(get.interceptor, undefined)
  const models = ctx({ path: '/v1/models', method: 'GET' })
  t.match(await run(filter, models), { route: 'models', result: 'miss' }, 'methods are case-insensitive in the policy; a bodiless GET is keyed on its path')
  t.ok(models.interceptor, 'and intercepted')
  t.same(gets.length, 3)
  t.same(metrics.lookups, [], 'misses are counted when they run')
  // Without an upstream to stand in for (a WebSocket upgrade), nothing happens.
  const noIntercept = ctx({ body: ask(), intercept: false })
  t.equal(await run(filter, noIntercept), undefined)
})

t.test('each bypass reason: counted, recorded, and the upstream left alone', async (t) => {
  const { filter, metrics, gets } = build([
    { name: 'user', match: { paths: ['/user'] } },
    { name: 'tenant', match: { paths: ['/tenant'] }, scope: 'tenant' },
    { name: 'role', match: { paths: ['/role'] }, scope: 'role' },
    { name: 'warm', match: { paths: ['/warm'] }, scope: 'shared', maxTemperature: 1 },
  ])
  const cases: Array<[string, Req]> = [
    ['no_body', { path: '/user', principal: alice }],
    ['not_json', { path: '/user', principal: alice, raw: 'hello', contentType: 'text/plain' }],
    ['not_json', { path: '/user', principal: alice, raw: '{"model":', contentType: 'application/json' }],
    ['not_json', { path: '/user', principal: alice, body: [ask()] }],
    ['duplicate_keys', { path: '/user', principal: alice, raw: '{"model":"m","temperature":0,"messages":[],"model":"n"}' }],
    ['duplicate_keys', { path: '/user', principal: alice, raw: '{"model":"m","temperature":0,"messages":[{"role":"user","content":"a","content":"b"}]}' }],
    ['temperature', { path: '/user', principal: alice, body: ask('hi', { temperature: 0.2 }) }],
    ['temperature', { path: '/user', principal: alice, body: { model: 'm', messages: [] } }],
    ['temperature', { path: '/warm', body: ask('hi', { temperature: 1.5 }) }],
    ['no_subject', { path: '/user', body: ask() }],
    ['no_subject', { path: '/user', principal: { roles: ['guest'], claims: {} }, body: ask() }],
    ['no_tenant', { path: '/tenant', principal: { subject: 'x', roles: [], claims: {} }, body: ask() }],
    ['no_principal', { path: '/role', body: ask() }],
    ['client_no_store', { path: '/user', principal: alice, body: ask(), rawHeaders: ['Cache-Control', 'no-store'] }],
    ['client_no_store', { path: '/user', principal: alice, body: ask(), rawHeaders: ['cache-control', 'max-age=0, no-store'] }],
  ]
  for (const [reason, req] of cases) {
    metrics.lookups.length = 0
    const c = ctx(req)
    const state = await run(filter, c)
    const route = req.path!.slice(1)
    t.same(state, { route, result: 'bypass', reason }, `${reason}: ${req.raw ?? JSON.stringify(req.body) ?? 'no body'}`)
    t.same(metrics.lookups, [[route, 'bypass', reason]])
    t.equal(c.interceptor, undefined, `${reason}: the request goes upstream as is`)
  }
  t.same(gets, [], 'no lookup for any of them')

  // The same requests, fixed, are cached.
  t.equal((await run(filter, ctx({ path: '/warm', body: { model: 'm', messages: [] } })))?.result, 'miss', 'no temperature counts as 1: allowed up to maxTemperature 1')
  t.equal((await run(filter, ctx({ path: '/warm', body: ask('x', { temperature: 1 }) })))?.result, 'miss', 'at the bound')
  t.equal((await run(filter, ctx({ path: '/tenant', principal: alice, body: ask() })))?.result, 'miss')
  t.equal((await run(filter, ctx({ path: '/role', principal: { roles: [], claims: {} }, body: ask() })))?.result, 'miss', 'no roles is a role set too')
})

t.test('the client\'s Cache-Control: no-cache skips the lookup but the answer is fetched through the cache', async (t) => {
  const { filter, gets, sets, metrics } = build([{ name: 'chat', match: { paths: ['/v1/chat/**'] }, scope: 'shared' }])
  for (const raw of [['cache-control', 'no-cache'], ['Cache-Control', 'max-age=0'], ['pragma', 'no-cache']]) {
    const c = ctx({ body: ask(raw.join(':')), rawHeaders: raw })
    const state = await run(filter, c)
    t.equal(state?.result, 'miss', raw.join(': '))
    t.ok(c.interceptor, 'still intercepted, so the fresh answer is stored')
    const x = exchange(c.interceptor!, JSON_ANSWER)
    await settle()
    t.equal(x.forwarded.length, 1)
    t.equal(x.cacheHeader(), 'miss')
  }
  t.same(gets, [], 'never looked up')
  t.equal(sets.length, 3, 'each fresh answer stored')
  t.same(
    metrics.lookups.map((l) => l[1]),
    ['miss', 'miss', 'miss'],
  )
  // With honorClientCacheControl off, the client's directives are ignored.
  const off = build([{ name: 'chat', match: { paths: ['/v1/chat/**'] }, scope: 'shared', honorClientCacheControl: false }])
  const c = ctx({ body: ask(), rawHeaders: ['cache-control', 'no-store'] })
  t.equal((await run(off.filter, c))?.result, 'miss')
  t.equal(off.gets.length, 1)
})

t.test('scopes put the right scope in the key', async (t) => {
  const { filter } = build([
    { name: 'u', match: { paths: ['/u'] }, scope: 'user' },
    { name: 't', match: { paths: ['/t'] }, scope: 'tenant' },
    { name: 'r', match: { paths: ['/r'] }, scope: 'role' },
    { name: 's', match: { paths: ['/s'] }, scope: 'shared' },
  ], { keyVersion: 3 })
  const keyOf = async (path: string, principal?: Principal, content = 'hi') => (await run(filter, ctx({ path, principal, body: ask(content) })))!.key!
  const segments = (k: string) => k.split('/')

  const ua = await keyOf('/u', alice)
  const ub = await keyOf('/u', bob)
  t.same(segments(ua).slice(0, 4), ['v3', 'u', 'user', 'alice'])
  t.match(segments(ua)[4], /^[0-9a-f]{64}$/)
  t.equal(segments(ua).length, 5)
  t.not(ua, ub, 'two users never share an entry')
  t.not(segments(ua)[4], segments(ub)[4], 'the scope is in the hash too, not only in the prefix')

  const ta = await keyOf('/t', alice)
  t.same(segments(ta).slice(0, 4), ['v3', 't', 'tenant', 'acme'])
  t.equal(await keyOf('/t', bob), ta, 'one tenant, one entry')
  t.not(await keyOf('/t', { ...bob, tenant: 'other' }), ta)

  const ra = await keyOf('/r', alice)
  t.same(segments(ra).slice(0, 4), ['v3', 'r', 'role', encodeURIComponent('analyst,guest')], 'sorted roles')
  t.equal(await keyOf('/r', bob), ra, 'the same set of roles in another order: the same entry')
  t.not(await keyOf('/r', { ...bob, roles: ['guest'] }), ra)

  const sa = await keyOf('/s', alice)
  t.same(segments(sa).slice(0, 4), ['v3', 's', 'shared', ''])
  t.equal(await keyOf('/s', bob), sa, 'shared: everyone')
  t.equal(await keyOf('/s'), sa, 'even without a principal')
  t.not(await keyOf('/s', alice, 'other'), sa, 'the prompt is keyed')

  const odd = await keyOf('/u', { subject: 'a/b c', roles: [], claims: {} })
  t.equal(segments(odd)[3], 'a%2Fb%20c', 'the scope value is URI-encoded: a "/" cannot forge a prefix')
  t.equal(segments(odd).length, 5)
})

t.test('tags: the route\'s and those of the tags header', async (t) => {
  const { filter, sets } = build([{ name: 'chat', match: { paths: ['/v1/chat/**'] }, scope: 'shared', tags: ['faq'], tagsHeader: 'X-Cache-Tags' }])
  const send = async (content: string, headers: Record<string, string | string[]>) => {
    const c = ctx({ body: ask(content), headers })
    await run(filter, c)
    exchange(c.interceptor!, JSON_ANSWER)
    await settle()
    return sets.at(-1)!.meta.tags
  }
  t.same(await send('a', { 'x-cache-tags': 'category:electronics, sale,,  ' }), ['faq', 'category:electronics', 'sale'])
  t.same(await send('b', { 'x-cache-tags': ['one', 'two,three'] }), ['faq', 'one', 'two', 'three'], 'repeated headers')
  t.same(await send('c', {}), ['faq'], 'no header: the route\'s tags')
  const many = Array.from({ length: 40 }, (_, i) => `t${i}`).join(',')
  t.equal((await send('d', { 'x-cache-tags': many })).length, 1 + 16, 'at most 16 from the header')
  t.same(await send('e', { 'x-cache-tags': `${'x'.repeat(129)},ok` }), ['faq', 'ok'], 'an over-long tag is dropped')
})

t.test('varyHeaders key on request headers; cache routes ask the upstream for identity encoding', async (t) => {
  const { filter } = build([
    { name: 'lang', match: { paths: ['/lang'] }, scope: 'shared', varyHeaders: ['Accept-Language'] },
    { name: 'plain', match: { paths: ['/plain'] }, scope: 'shared' },
  ])
  const keyOf = async (path: string, headers: Record<string, string>) => {
    const c = ctx({ path, body: ask(), headers })
    const state = await run(filter, c)
    return { key: state!.key!, edits: c.upstreamHeaders.apply(['Accept-Encoding', 'gzip', 'x', 'y']) }
  }
  const fr = await keyOf('/lang', { 'accept-language': 'fr' })
  const de = await keyOf('/lang', { 'accept-language': 'de' })
  const none = await keyOf('/lang', {})
  t.not(fr.key, de.key, 'a different language is a different entry')
  t.not(fr.key, none.key)
  t.equal(fr.key, (await keyOf('/lang', { 'accept-language': 'fr' })).key, 'the same language: the same entry')
  t.equal((await keyOf('/plain', { 'accept-language': 'fr' })).key, (await keyOf('/plain', { 'accept-language': 'de' })).key, 'headers are not keyed unless listed')
  t.same(fr.edits, ['x', 'y', 'accept-encoding', 'identity'], 'stored bytes are never compressed for one client')
  const bypassed = ctx({ path: '/plain', body: ask('hi', { temperature: 1 }) })
  await run(filter, bypassed)
  t.same(bypassed.upstreamHeaders.apply(['Accept-Encoding', 'gzip']), ['Accept-Encoding', 'gzip'], 'a bypassed request keeps its own')
})

t.test('a hit stands in for the upstream; stale is served and refreshed; past staleUntil is a miss', async (t) => {
  const { filter, entries, metrics } = build([{ name: 'chat', match: { paths: ['/v1/chat/**'] }, scope: 'shared', staleWhileRevalidate: '1m' }])
  const first = ctx({ body: ask() })
  const key = (await run(filter, first))!.key!
  t.equal(metrics.lookups.length, 0)

  entries.set(key, entryFor(key, { freshUntil: NOW + 1000, staleUntil: NOW + 2000 }))
  const hit = ctx({ body: ask() })
  t.same(await run(filter, hit), { route: 'chat', result: 'hit', key, ageMs: 10_000 })
  t.same(metrics.lookups, [['chat', 'hit']])
  t.same(metrics.saved, [{ input: 3, output: 4 }], 'the tokens the answer cost are saved')
  const h = exchange(hit.interceptor!)
  await settle()
  t.equal(h.forwarded.length, 0, 'served from the entry: the upstream is not asked')
  t.same(h.events, ['head 200', `data ${JSON_ANSWER.body}`, 'end'])
  t.equal(h.cacheHeader(), 'hit')

  entries.set(key, entryFor(key, { freshUntil: NOW, staleUntil: NOW + 2000 }))
  const stale = ctx({ body: ask() })
  t.same(await run(filter, stale), { route: 'chat', result: 'stale', key, ageMs: 10_000 })
  const s = exchange(stale.interceptor!, JSON_ANSWER)
  await settle()
  t.equal(s.cacheHeader(), 'stale')
  t.same(s.events.slice(1), [`data ${JSON_ANSWER.body}`, 'end'])
  t.equal(s.forwarded.length, 1, 'and refreshed in the background')

  entries.set(key, entryFor(key, { freshUntil: NOW - 2000, staleUntil: NOW }))
  const expired = ctx({ body: ask() })
  t.same(await run(filter, expired), { route: 'chat', result: 'miss', key }, 'past staleUntil: a miss')
  const m = exchange(expired.interceptor!, JSON_ANSWER)
  await settle()
  t.equal(m.forwarded.length, 1)
  t.equal(m.cacheHeader(), 'miss')
  t.same(
    metrics.lookups.map((l) => l[1]),
    ['hit', 'stale', 'miss'],
  )
})

t.test('without a store or without routes the filter does nothing', async (t) => {
  const noStore = cacheFactory.compile(cacheSchema.parse({ routes: [{ match: { paths: ['/x'] } }] }), {})
  t.equal(noStore.onRequest, undefined)
  const noRoutes = cacheFactory.compile(cacheSchema.parse({}), { cache: fakeStore().store })
  t.equal(noRoutes.onRequest, undefined)
  const { filter } = build([{ match: { paths: ['/x'] }, scope: 'shared' }, { match: { paths: ['/y'] }, scope: 'shared' }])
  t.equal(filter.needsRequestBody, true)
  t.equal((await run(filter, ctx({ path: '/y', body: ask() })))?.route, 'route-1', 'unnamed routes are named by their index')
})

t.test('config errors name the path', async (t) => {
  const compile = (cache: string) =>
    compilePolicies([{ name: 'p.yaml', content: `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  cache:\n${cache}` }], [cacheFactory], { cache: fakeStore().store }, { version: 1, loadedAt: new Date(0) })
  const errors = (cache: string) => {
    const r = compile(cache)
    return r.ok ? [] : r.errors.map(formatConfigError)
  }
  t.ok(compile('    routes:\n      - match: { paths: [/v1/chat/completions] }\n        ttl: 10m\n        lockWait: 2s\n').ok, 'a valid route compiles')
  t.match(errors('    routes:\n      - match: { paths: [/a] }\n        ttl: 10 minutes\n'), [/^p\.yaml:spec\.cache\.routes\[0\]\.ttl: expected a duration/])
  t.match(errors('    routes:\n      - match: { paths: [/a] }\n      - match: { paths: [/b] }\n        lockWait: -1s\n'), [/^p\.yaml:spec\.cache\.routes\[1\]\.lockWait: /])
  t.match(errors('    routes:\n      - match: { paths: [/a] }\n        staleWhileRevalidate: 8d\n'), [/^p\.yaml:spec\.cache\.routes\[0\]\.staleWhileRevalidate: must be between/])
  t.match(errors('    routes:\n      - match: { paths: [/a] }\n        ttl: 500ms\n'), [/routes\[0\]\.ttl: must be between 1000 ms/])
  t.match(errors('    routes:\n      - name: faq\n        match: { paths: [/a] }\n      - name: faq\n        match: { paths: [/b] }\n'), [/^p\.yaml:spec\.cache\.routes\[1\]\.name: .*"faq".*(defined twice|already defined)/])
  t.match(errors('    routes:\n      - match: { paths: [/a] }\n        scope: everyone\n'), [/routes\[0\]\.scope/])
  t.match(errors('    routes:\n      - match: { paths: [/a], methods: [DELETE] }\n'), [/routes\[0\]\.match\.methods\[0\]/])

  // The factory's own check, e.g. when an unnamed route's default name is taken.
  const twice = () => cacheFactory.compile(cacheSchema.parse({ routes: [{ match: { paths: ['/a'] } }, { name: 'route-0', match: { paths: ['/b'] } }] }), { cache: fakeStore().store })
  t.throws(twice, { errors: [{ path: ['routes', 1, 'name'], message: /"route-0" is defined twice/ }] })
  const badPath = () => cacheFactory.compile(cacheSchema.parse({ routes: [{ match: { paths: ['/ok', 'no-slash'] } }] }), { cache: fakeStore().store })
  t.throws(badPath, { errors: [{ path: ['routes', 0, 'match', 'paths', 1] }] })

  // The schema alone says the same.
  const r = cacheSchema.safeParse({ routes: [{ match: { paths: ['/a'] }, lockTtl: 'soon' }] })
  t.notOk(r.success)
  if (!r.success) t.same(r.error.issues.map((i) => i.path), [['routes', 0, 'lockTtl']])
  const parsed = cacheSchema.parse({ routes: [{ match: { paths: ['/a'] }, ttl: '90s', lockWait: 2 }] })
  t.equal(parsed.routes[0]!.ttl, 90_000, 'a duration with a unit')
  t.equal(parsed.routes[0]!.lockWait, 2000, 'a number of seconds')
  t.equal(parsed.routes[0]!.scope, 'user', 'user scope unless chosen')
})
