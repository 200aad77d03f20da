/** The rate-limit filter over a fake store port: keys, tiers, matching, headers, the 429. */
import t from 'tap'
import type { RequestContext, Verdict } from '../../../../src/core/chain/types.js'
import { PRINCIPAL_STATE, type Principal } from '../../../../src/core/chain/principal.js'
import { rateLimitsFactory } from '../../../../src/core/filters/rateLimits/index.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'
import { bufferedBody } from '../../../../src/core/http/request-body.js'
import type { LimitDecision, LimitSpec, RateLimitStore } from '../../../../src/core/ports.js'

/** A fake of the store port: records what it was asked and refuses the limits named in `refuse`. */
function fakeStore(refuse: string[] = [], mode: LimitDecision['mode'] = 'shared') {
  const calls: LimitSpec[][] = []
  const store: RateLimitStore = {
    async acquire(specs) {
      calls.push([...specs])
      const states = specs.map((s) => ({ name: s.name, allowed: !refuse.includes(s.name), remaining: refuse.includes(s.name) ? 0 : s.burst - 1, resetMs: 1500, retryAfterMs: refuse.includes(s.name) ? 2500 : 0, shadow: s.shadow }))
      return { allowed: states.every((s) => s.allowed || s.shadow), states, mode }
    },
  }
  return { store, calls }
}

function build(limits: unknown[], store: RateLimitStore, random = () => 0) {
  return rateLimitsFactory.compile(rateLimitsFactory.schema.parse(limits), { rateLimits: store, random })
}

function ctx(o: { principal?: Principal; path?: string; method?: string; ip?: string; body?: unknown } = {}): RequestContext {
  const path = o.path ?? '/v1/chat/completions'
  const state = new Map<string, unknown>()
  if (o.principal) state.set(PRINCIPAL_STATE, o.principal)
  return {
    id: 'r',
    snapshot: { version: 1, digest: 'd' },
    request: { method: o.method ?? 'POST', url: path, path, query: '', headers: {}, rawHeaders: [], remoteAddress: '10.0.0.1', clientIp: o.ip ?? '10.0.0.1', protocol: 'http' },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    state,
    upstreamHeaders: new HeaderEditList(),
    ...(o.body !== undefined ? { body: bufferedBody(new TextEncoder().encode(JSON.stringify(o.body)), 'application/json', undefined) } : {}),
  }
}

const alice: Principal = { subject: 'alice', roles: ['analyst', 'guest'], tenant: 'acme', tier: 'gold', claims: {} }
const bob: Principal = { subject: 'bob', roles: ['guest'], claims: {} }

t.test('keys: one bucket per subject; anonymous callers by address; global shared', async (t) => {
  const { store, calls } = fakeStore()
  const f = build([{ name: 'per-user', key: ['subject'], rate: '60/minute' }, { name: 'all', key: ['global'], rate: '1000/second' }], store)
  await f.onRequest!(ctx({ principal: alice }))
  await f.onRequest!(ctx({ principal: bob }))
  await f.onRequest!(ctx({ ip: '1.1.1.1' }))
  await f.onRequest!(ctx({ ip: '2.2.2.2' }))
  const userKeys = calls.map((c) => c[0]!.key)
  t.equal(new Set(userKeys).size, 4, 'alice, bob and two anonymous addresses: four buckets')
  t.equal(new Set(calls.map((c) => c[1]!.key)).size, 1, 'the global limit is one bucket')
  t.ok(userKeys.every((k) => k.startsWith('per-user:') && k.length < 40), 'keys are bounded digests, not raw values')
  t.match(calls[0]![0], { limit: 60, periodMs: 60_000, burst: 60, cost: 1, shadow: false })
})

t.test('tiers: tenant override, then the most generous role or tier, then the base rate', async (t) => {
  const { store, calls } = fakeStore()
  const f = build([{ name: 'l', key: ['subject'], rate: '10/minute', byRole: { analyst: '120/minute', guest: '20/minute' }, byTier: { gold: '60/minute' }, byTenant: { big: '10000/hour' } }], store)
  await f.onRequest!(ctx({ principal: alice }))
  await f.onRequest!(ctx({ principal: bob }))
  await f.onRequest!(ctx({}))
  await f.onRequest!(ctx({ principal: { ...bob, tenant: 'big' } }))
  t.same(calls.map((c) => [c[0]!.limit, c[0]!.periodMs]), [[120, 60_000], [20, 60_000], [10, 60_000], [10000, 3_600_000]])
})

t.test('match: paths and methods select the limits that apply; none applies, no store call', async (t) => {
  const { store, calls } = fakeStore()
  const f = build([{ name: 'chat', key: ['ip'], rate: '5/s', match: { paths: ['/v1/chat/**'], methods: ['post'] } }], store)
  t.same(await f.onRequest!(ctx({ path: '/v1/models', method: 'GET' })), { kind: 'continue' })
  t.same(await f.onRequest!(ctx({ path: '/v1/chat/completions', method: 'GET' })), { kind: 'continue' })
  t.equal(calls.length, 0)
  await f.onRequest!(ctx())
  t.equal(calls.length, 1)
})

t.test('429: names the failed limit, Retry-After with jitter, RateLimit headers; admitted responses get the headers too', async (t) => {
  const { store } = fakeStore(['per-user'])
  const f = build([{ name: 'per-user', key: ['subject'], rate: '60/minute', burst: 10 }, { name: 'daily', key: ['subject'], rate: '1000/day' }], store, () => 0.99)
  const v = (await f.onRequest!(ctx({ principal: alice }))) as Extract<Verdict, { kind: 'error' }>
  t.equal(v.code, 'rate_limited')
  t.same(v.fields, { limit: 'per-user' })
  t.equal(v.headers!['retry-after'], '4', '2.5 s rounds up to 3, plus up to a fifth (at least 1 s) of jitter')
  t.equal(v.headers!['ratelimit-policy'], '"per-user";q=60;w=60, "daily";q=1000;w=86400')
  t.equal(v.headers!.ratelimit, '"per-user";r=0;t=2, "daily";r=999;t=2')
  const ok = build([{ name: 'per-user', key: ['subject'], rate: '60/minute' }], fakeStore().store)
  const c = ctx({ principal: alice })
  t.same(await ok.onRequest!(c), { kind: 'continue' })
  const head = { status: 200, headers: {} as Record<string, string | string[]> }
  ok.onResponseHead!(c, head)
  t.same(head.headers, { 'ratelimit-policy': '"per-user";q=60;w=60', ratelimit: '"per-user";r=59;t=2' })
})

t.test('shadow: evaluated and counted, never refuses, not advertised', async (t) => {
  const { store } = fakeStore(['trial'])
  const seen: [string, boolean, boolean, string][] = []
  const f = rateLimitsFactory.compile(rateLimitsFactory.schema.parse([{ name: 'trial', key: ['ip'], rate: '1/minute', shadow: true }]), {
    rateLimits: store,
    rateLimitMetrics: { decision: (...a) => void seen.push(a) },
  })
  const c = ctx()
  t.same(await f.onRequest!(c), { kind: 'continue' })
  t.same(seen, [['trial', false, true, 'shared']])
  const head = { status: 200, headers: {} as Record<string, string | string[]> }
  f.onResponseHead!(c, head)
  t.same(head.headers, {}, 'no RateLimit headers for a limit that never refuses')
})

t.test('model keys read the JSON body; a model-keyed limit makes the body needed', async (t) => {
  const { store, calls } = fakeStore()
  const f = build([{ name: 'per-model', key: ['model'], rate: '5/s' }], store)
  t.equal(f.needsRequestBody, true)
  await f.onRequest!(ctx({ body: { model: 'a' } }))
  await f.onRequest!(ctx({ body: { model: 'b' } }))
  await f.onRequest!(ctx({ body: { model: 'a' } }))
  t.equal(calls[0]![0]!.key, calls[2]![0]!.key)
  t.not(calls[0]![0]!.key, calls[1]![0]!.key)
  t.equal(build([{ name: 'x', key: ['ip'], rate: '5/s' }], store).needsRequestBody, false)
})

t.test('config errors name the key', async (t) => {
  for (const [bad, why] of [
    [[{ name: 'a', key: ['ip'], rate: '5 per second' }], 'rate syntax'],
    [[{ name: 'a', key: ['ip'], rate: '0/s' }], 'zero rate'],
    [[{ name: 'a', key: ['ip', 'ip'], rate: '5/s' }], 'repeated key part'],
    [[{ name: 'a', key: ['cookie'], rate: '5/s' }], 'unknown key part'],
    [[{ name: 'a', key: [], rate: '5/s' }], 'empty key'],
  ] as const) t.notOk(rateLimitsFactory.schema.safeParse(bad).success, why)
  t.throws(() => build([{ name: 'a', key: ['ip'], rate: '5/s' }, { name: 'a', key: ['ip'], rate: '5/s' }], fakeStore().store), /defined twice/)
  t.throws(() => build([{ name: 'a', key: ['ip'], rate: '5/s', match: { paths: ['/a%2Fb'] } }], fakeStore().store), /canonicalization/)
})

t.test('a store that throws (a bug) admits, and says so in the log', async (t) => {
  const errors: object[] = []
  const f = build([{ name: 'a', key: ['ip'], rate: '5/s' }], { acquire: () => Promise.reject(new Error('boom')) })
  const c = { ...ctx(), log: { debug() {}, info() {}, warn() {}, error: (o: object) => void errors.push(o) } }
  t.same(await f.onRequest!(c), { kind: 'continue' })
  t.equal(errors.length, 1)
})

t.test('concurrency: leases first; the one over the limit is refused without spending rate', async (t) => {
  const { store, calls } = fakeStore()
  let held = 0
  const released: number[] = []
  const withLeases: RateLimitStore = {
    ...store,
    async lease(_key, max) {
      if (held >= max) return undefined
      const n = ++held
      return { release: async () => void (released.push(n), held--) }
    },
  }
  const f = build([{ name: 'streams', key: ['subject'], concurrency: 2 }, { name: 'per-user', key: ['subject'], rate: '60/minute' }], withLeases)
  const c1 = ctx({ principal: alice })
  const c2 = ctx({ principal: alice })
  t.same(await f.onRequest!(c1), { kind: 'continue' })
  t.same(await f.onRequest!(c2), { kind: 'continue' })
  const third = (await f.onRequest!(ctx({ principal: alice }))) as Extract<Verdict, { kind: 'error' }>
  t.equal(third.code, 'rate_limited')
  t.same(third.fields, { limit: 'streams' })
  t.equal(calls.length, 2, 'the refused request spent no rate')
  f.onComplete!(c1, { kind: 'completed', status: 200 })
  await new Promise((r) => setImmediate(r))
  t.same(released, [1], 'completion releases the lease')
  t.same(await f.onRequest!(ctx({ principal: alice })), { kind: 'continue' }, 'a slot is free again')
})

t.test('penalty: a boxed key is refused first; otherwise moderation gets a reporter', async (t) => {
  const { reportAbuse } = await import('../../../../src/core/chain/abuse.js')
  const reports: [string, number, number][] = []
  const boxed = new Map<string, number>()
  const penalties = {
    async boxedFor(key: string) {
      return boxed.get(key) ?? 0
    },
    async report(key: string, points: number, cfg: { threshold: number }) {
      reports.push([key, points, cfg.threshold])
      return { boxedForMs: 0 }
    },
  }
  const { store, calls } = fakeStore()
  const f = rateLimitsFactory.compile(rateLimitsFactory.schema.parse([{ name: 'abuse', key: ['subject'], penalty: { threshold: 30 } }, { name: 'per-user', key: ['subject'], rate: '60/minute' }]), { rateLimits: store, penalties, random: () => 0 })
  const c = ctx({ principal: alice })
  t.same(await f.onRequest!(c), { kind: 'continue' })
  reportAbuse(c.state, 10)
  t.equal(reports.length, 1)
  t.match(reports[0], [/^abuse:/, 10, 30])
  boxed.set(reports[0]![0], 4200)
  const v = (await f.onRequest!(ctx({ principal: alice }))) as Extract<Verdict, { kind: 'error' }>
  t.equal(v.code, 'abuse_penalty')
  t.same(v.fields, { limit: 'abuse' })
  t.equal(v.headers!['retry-after'], '5')
  t.equal(calls.length, 1, 'a boxed request spends no rate')
  t.same(await f.onRequest!(ctx({ principal: bob })), { kind: 'continue' }, 'another subject is not boxed')
  reportAbuse(new Map(), 10)
  t.equal(reports.length, 1, 'no reporter, no report')
})

t.test('tokens: reserve prompt + max_tokens, reconcile to the reported usage, give all back on an upstream error', async (t) => {
  const adjusted: [string, number][] = []
  const { store, calls } = fakeStore()
  const s: RateLimitStore = { ...store, adjust: async (spec, delta) => void adjusted.push([spec.name, delta]) }
  const f = build([{ name: 'daily', key: ['subject'], tokens: '100000/day', defaultMaxTokens: 50 }], s)
  const body = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there, how are you?' }] }
  const c = ctx({ principal: alice, body })
  t.same(await f.onRequest!(c), { kind: 'continue' })
  const reserved = calls[0]![0]!.cost
  t.ok(reserved > 100 && reserved < 130, `prompt tokens plus max_tokens reserved (${reserved})`)
  const tr = f.responseTransform!(c, { status: 200, headers: { 'content-type': 'application/json' } })!
  const out: unknown[] = []
  await tr.transform({ kind: 'json', body: { choices: [], usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } } }, (u) => out.push(u))
  t.equal(out.length, 1, 'the body passes through')
  f.onComplete!(c, { kind: 'completed', status: 200 })
  await new Promise((r) => setImmediate(r))
  t.same(adjusted, [['daily', 42 - reserved]], 'the unused part goes back')

  adjusted.length = 0
  const e = ctx({ principal: alice, body })
  await f.onRequest!(e)
  t.equal(f.responseTransform!(e, { status: 500, headers: { 'content-type': 'application/json' } }), undefined)
  f.onComplete!(e, { kind: 'completed', status: 500 })
  await new Promise((r) => setImmediate(r))
  t.same(adjusted, [['daily', -calls[1]![0]!.cost]], 'an error status gives the whole reservation back')

  const none = ctx({ principal: alice, body: { not: 'an llm request' } })
  const before = calls.length
  await f.onRequest!(none)
  t.equal(calls.length, before, 'a body that is no LLM request costs no tokens')
})
