/**
 * The cache exchange over a fake store and a fake origin (both ports): coalescing of identical
 * misses, the fill lock and its bounded wait, private answers, stale entries and their refresh.
 */
import t from 'tap'
import { CACHE_STATUS_HEADER, fetchThrough, serveEntry, type ExchangeDeps, type ExchangePlan } from '../../../src/core/cache/exchange.js'
import type { CacheEntry, CacheMetricsPort, CacheStore, EntryUsage, LockResult } from '../../../src/core/cache/types.js'
import type { ForwardRequest, InFlight, Origin, ResponseSink } from '../../../src/core/chain/origin.js'
import { ChaperoneError } from '../../../src/core/errors.js'

type Ev = readonly ['head', number, string[]] | readonly ['data', string] | readonly ['end'] | readonly ['error', string]

function recorder() {
  const events: Ev[] = []
  const r = {
    events,
    sink: {
      onHead(status, headers) {
        events.push(['head', status, headers])
        return true
      },
      onData(chunk) {
        events.push(['data', chunk.toString()])
        return true
      },
      onEnd() {
        events.push(['end'])
      },
      onError(err) {
        events.push(['error', err.message])
      },
    } satisfies ResponseSink,
    body: () => events.filter((e) => e[0] === 'data').map((e) => e[1]).join(''),
    done: () => events.some((e) => e[0] === 'end' || e[0] === 'error'),
    ended: () => events.some((e) => e[0] === 'end'),
    /** The x-chaperone-cache value of the head it got. */
    cache: () => {
      const head = events.find((e) => e[0] === 'head') as readonly ['head', number, string[]] | undefined
      if (!head) return undefined
      const h = head[2]
      for (let i = 0; i < h.length; i += 2) if (h[i] === CACHE_STATUS_HEADER) return h[i + 1]
      return null
    },
    header: (name: string) => {
      const head = events.find((e) => e[0] === 'head') as readonly ['head', number, string[]] | undefined
      const h = head?.[2] ?? []
      for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1]
      return undefined
    },
  }
  return r
}

type LockMode = 'acquire' | 'held' | 'unavailable'

/** A fake of the store port: a map, a scripted fill lock, and a log of the calls in order. */
function fakeStore(lockMode: LockMode | (() => LockMode) = 'acquire') {
  const entries = new Map<string, CacheEntry>()
  const log: string[] = []
  const store: CacheStore & { entries: typeof entries; log: typeof log; lockMode: typeof lockMode; setDelayMs: number } = {
    entries,
    log,
    lockMode,
    setDelayMs: 0,
    async get(key) {
      log.push('get')
      return entries.get(key)
    },
    async set(entry) {
      log.push('set')
      if (store.setDelayMs > 0) await sleep(store.setDelayMs)
      entries.set(entry.meta.key, entry)
      log.push('set:done')
    },
    async lock(): Promise<LockResult> {
      const mode = typeof store.lockMode === 'function' ? store.lockMode() : store.lockMode
      log.push(`lock:${mode}`)
      if (mode === 'held') return { kind: 'held' }
      if (mode === 'unavailable') return { kind: 'unavailable' }
      return {
        kind: 'acquired',
        lock: {
          renew: async () => true,
          release: async () => void log.push('release'),
        },
      }
    },
    async delete() {
      return 0
    },
    async list() {
      return []
    },
  }
  return store
}

interface Call {
  readonly req: ForwardRequest
  readonly sink: ResponseSink
  aborted: ChaperoneError | undefined | false
  /** Answers the whole exchange. */
  answer(status: number, headers: string[], chunks: string[]): void
}

/** A fake upstream: records each forward() and lets the test answer it, never inside forward(). */
function fakeOrigin() {
  const calls: Call[] = []
  const origin: Origin & { calls: Call[] } = {
    calls,
    forward(req, sink): InFlight {
      const call: Call = {
        req,
        sink,
        aborted: false,
        answer(status, headers, chunks) {
          if (call.aborted !== false) return
          sink.onHead(status, headers, () => {})
          for (const c of chunks) {
            if (call.aborted !== false) return
            sink.onData(Buffer.from(c))
          }
          if (call.aborted === false) sink.onEnd()
        },
      }
      calls.push(call)
      return { abort: (reason) => void (call.aborted = reason) }
    },
  }
  return origin
}

function metricsRecorder() {
  const lookups: string[] = []
  const saved: (EntryUsage | undefined)[] = []
  const stored: number[] = []
  const notStored: string[] = []
  const m: CacheMetricsPort = {
    lookup: (_route, result) => void lookups.push(result),
    saved: (_route, usage) => void saved.push(usage),
    stored: (_route, bytes) => void stored.push(bytes),
    notStored: (_route, reason) => void notStored.push(reason),
  }
  return { m, lookups, saved, stored, notStored }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const tick = () => new Promise<void>((r) => setImmediate(r))

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(2)) if (cond()) return true
  return cond()
}

const chatChunk = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`
const usageChunk = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } })}\n\n`
const stream = (text: string) => [chatChunk(text), usageChunk, 'data: [DONE]\n\n']
const SSE = ['content-type', 'text/event-stream']

function plan(o: Partial<ExchangePlan> = {}): ExchangePlan {
  return {
    key: 'v1/r/shared//k1',
    route: 'r',
    tags: [],
    ttlMs: 60_000,
    ttlJitter: 0,
    staleMs: 60_000,
    maxEntryBytes: 1 << 20,
    honorNoCache: false,
    pacing: 'instant',
    coalesce: true,
    lockTtlMs: 3000,
    lockWaitMs: 5000,
    ...o,
  }
}

function setup(lockMode: LockMode | (() => LockMode) = 'acquire') {
  const store = fakeStore(lockMode)
  const origin = fakeOrigin()
  const metrics = metricsRecorder()
  const logs: string[] = []
  const deps: ExchangeDeps = {
    store,
    metrics: metrics.m,
    log: { debug() {}, info: (_o, msg) => void logs.push(msg ?? ''), warn: (_o, msg) => void logs.push(msg ?? ''), error() {} },
    now: Date.now,
    random: () => 0.5,
  }
  return { store, origin, metrics, deps, logs }
}

const req = (who = 'a'): ForwardRequest => ({ method: 'POST', path: '/v1/chat/completions', headers: ['authorization', `Bearer ${who}`], body: new Uint8Array() })

function entryOf(body: string, o: { freshUntil?: number; staleUntil?: number; key?: string } = {}): CacheEntry {
  const now = Date.now()
  return {
    meta: {
      key: o.key ?? 'v1/r/shared//k1',
      route: 'r',
      createdAt: now - 5000,
      freshUntil: o.freshUntil ?? now + 60_000,
      staleUntil: o.staleUntil ?? now + 120_000,
      tags: [],
      contentType: 'text/event-stream',
      bytes: Buffer.byteLength(body),
      usage: { input: 1, output: 2 },
    },
    status: 200,
    headers: SSE,
    body: Buffer.from(body),
  }
}

t.test('N identical misses: one origin call, 1 miss + N-1 coalesced, stored once before the lock goes', async (t) => {
  const { store, origin, metrics, deps } = setup()
  store.setDelayMs = 20
  const p = plan()
  const sinks = Array.from({ length: 5 }, recorder)
  sinks.forEach((s, i) => fetchThrough(p, deps, req(String(i)), s.sink, origin))
  t.same(metrics.lookups, ['miss', 'coalesced', 'coalesced', 'coalesced', 'coalesced'])
  t.ok(await until(() => origin.calls.length === 1))
  t.same(origin.calls[0]!.req, req('0'), 'the first request is the one forwarded')
  const chunks = stream('the answer')
  origin.calls[0]!.answer(200, [...SSE], chunks)
  t.ok(await until(() => sinks.every((s) => s.done())))
  for (const s of sinks) t.equal(s.body(), chunks.join(''), 'every client got the whole answer')
  t.same(sinks.map((s) => s.cache()), ['miss', 'coalesced', 'coalesced', 'coalesced', 'coalesced'])
  t.ok(await until(() => store.log.includes('release')))
  t.same(store.log, ['lock:acquire', 'set', 'set:done', 'release'], 'the entry is stored before the lock is released')
  t.equal(store.entries.size, 1)
  t.equal(Buffer.from(store.entries.get(p.key)!.body).toString(), chunks.join(''))
  t.same(metrics.stored.length, 1)
  t.ok(await until(() => metrics.saved.length === 4))
  t.same(metrics.saved, Array(4).fill({ input: 7, output: 5 }), 'each coalesced request saved the upstream usage')
  t.equal(origin.calls.length, 1)

  // The flight is gone once done: the next miss fetches again.
  fetchThrough(p, deps, req(), recorder().sink, origin)
  t.ok(await until(() => origin.calls.length === 2))
})

t.test('the in-flight byte budget is given back once an answer is stored: misses keep being stored', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const one = stream('an answer').join('')
  // Room for one recording at a time, in a registry of its own (a fresh store).
  const small: ExchangeDeps = { ...deps, flightBytes: Buffer.byteLength(one) + 10 }
  for (const k of ['k1', 'k2', 'k3']) {
    const sink = recorder()
    fetchThrough(plan({ key: k }), small, req(k), sink.sink, origin)
    t.ok(await until(() => origin.calls.length === ['k1', 'k2', 'k3'].indexOf(k) + 1))
    origin.calls.at(-1)!.answer(200, [...SSE], stream('an answer'))
    t.ok(await until(() => sink.done() && store.entries.has(k)), `${k} stored`)
  }
  t.equal(metrics.stored.length, 3)
  // Two at once: the second cannot record while the first holds the budget.
  const a = recorder()
  const b = recorder()
  fetchThrough(plan({ key: 'a' }), small, req('a'), a.sink, origin)
  fetchThrough(plan({ key: 'b' }), small, req('b'), b.sink, origin)
  t.ok(await until(() => origin.calls.length === 5))
  origin.calls[3]!.answer(200, [...SSE], stream('an answer'))
  origin.calls[4]!.answer(200, [...SSE], stream('an answer'))
  t.ok(await until(() => a.done() && b.done()))
  t.equal(b.body(), one, 'the client without room still got its answer')
  t.ok(await until(() => store.entries.has('a')))
  t.notOk(store.entries.has('b'), 'but it was not stored')
  t.ok(metrics.notStored.some((r) => r === 'too_large'))
})

t.test('coalesce off: each request its own origin call, and no lock', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const p = plan({ coalesce: false })
  fetchThrough(p, deps, req('a'), recorder().sink, origin)
  fetchThrough(p, deps, req('b'), recorder().sink, origin)
  t.ok(await until(() => origin.calls.length === 2))
  t.same(metrics.lookups, ['miss', 'miss'])
  t.notOk(store.log.some((l) => l.startsWith('lock')))
})

t.test('lock held elsewhere: poll the store until the entry appears, replay it, never call the origin', async (t) => {
  const { store, origin, metrics, deps } = setup('held')
  const p = plan()
  const a = recorder()
  const b = recorder()
  fetchThrough(p, deps, req('a'), a.sink, origin)
  fetchThrough(p, deps, req('b'), b.sink, origin)
  t.ok(await until(() => store.log.filter((l) => l === 'get').length >= 2), 'it polls')
  t.notOk(a.done())
  // Another replica fills it.
  const body = stream('from elsewhere').join('')
  store.entries.set(p.key, entryOf(body))
  t.ok(await until(() => a.done() && b.done()))
  t.equal(a.body(), body)
  t.equal(b.body(), body)
  t.ok(a.ended() && b.ended())
  t.equal(origin.calls.length, 0, 'no origin call')
  t.notOk(store.log.includes('set'), 'nothing stored again')
  t.same(metrics.lookups, ['miss', 'coalesced'])
})

t.test('lock held, then freed: acquire it and fetch', async (t) => {
  let n = 0
  const { store, origin, deps } = setup(() => (++n <= 2 ? 'held' : 'acquire'))
  const p = plan()
  const a = recorder()
  fetchThrough(p, deps, req(), a.sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
  t.same(
    store.log.filter((l) => l.startsWith('lock')),
    ['lock:held', 'lock:held', 'lock:acquire'],
  )
  origin.calls[0]!.answer(200, [...SSE], stream('mine'))
  t.ok(await until(() => store.log.includes('release')))
  t.ok(a.ended())
  t.equal(store.entries.size, 1)
})

t.test('lock held past lockWait: fetch without it', async (t) => {
  const { store, origin, deps, logs } = setup('held')
  const p = plan({ lockWaitMs: 60 })
  const a = recorder()
  fetchThrough(p, deps, req(), a.sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
  t.ok(logs.includes('cache fill lock still held elsewhere; fetching without it'))
  origin.calls[0]!.answer(200, [...SSE], stream('anyway'))
  t.ok(await until(() => store.entries.size === 1), 'still stored')
  t.ok(a.ended())
  t.notOk(store.log.includes('release'), 'no lock to release')
})

t.test('every waiting client leaving during the wait: no origin call, even if the lock frees up', async (t) => {
  let mode: LockMode = 'held'
  const { store, origin, deps } = setup(() => mode)
  const p = plan()
  const a = fetchThrough(p, deps, req('a'), recorder().sink, origin)
  const b = fetchThrough(p, deps, req('b'), recorder().sink, origin)
  t.ok(await until(() => store.log.includes('get')), 'waiting')
  a.abort()
  b.abort()
  mode = 'acquire'
  t.ok(await until(() => store.log.includes('release') || origin.calls.length > 0))
  t.equal(origin.calls.length, 0, 'nobody wants the answer: the upstream is not asked')
  t.ok(store.log.includes('release'), 'the lock it got is handed back')

  // Leaving before the first lock answer: the same.
  const s2 = setup('acquire')
  const c = fetchThrough(p, s2.deps, req('c'), recorder().sink, s2.origin)
  c.abort()
  t.ok(await until(() => s2.store.log.includes('release')))
  t.equal(s2.origin.calls.length, 0)
})

t.test('a private answer (Set-Cookie): coalesced followers are evicted and fetch their own', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const p = plan()
  const sinks = ['a', 'b', 'c'].map(() => recorder())
  const reqs = ['a', 'b', 'c'].map(req)
  sinks.forEach((s, i) => fetchThrough(p, deps, reqs[i]!, s.sink, origin))
  t.ok(await until(() => origin.calls.length === 1))
  origin.calls[0]!.answer(200, [...SSE, 'set-cookie', 'session=a'], stream('for a only'))
  t.equal(origin.calls.length, 3, 'each follower asked the origin itself')
  t.equal(origin.calls[1]!.req, reqs[1], 'with its own request')
  t.equal(origin.calls[2]!.req, reqs[2])
  t.equal(sinks[0]!.header('set-cookie'), 'session=a')
  t.same(sinks[1]!.events, [], 'a follower never sees the cookie')
  origin.calls[1]!.answer(200, [...SSE, 'set-cookie', 'session=b'], stream('for b'))
  origin.calls[2]!.answer(200, [...SSE], stream('for c'))
  t.equal(sinks[1]!.header('set-cookie'), 'session=b')
  t.equal(sinks[1]!.cache(), 'miss')
  t.equal(sinks[2]!.body(), stream('for c').join(''))
  t.ok(sinks.every((s) => s.ended()))
  await tick()
  await sleep(10)
  t.equal(store.entries.size, 0, 'nothing stored')
  t.same(metrics.notStored, ['set_cookie'])
  t.same(metrics.saved, [], 'no follower was saved an upstream request')

  // A follower that left before the head is not fetched for.
  const s2 = setup()
  fetchThrough(p, s2.deps, req('a'), recorder().sink, s2.origin)
  const gone = fetchThrough(p, s2.deps, req('b'), recorder().sink, s2.origin)
  t.ok(await until(() => s2.origin.calls.length === 1))
  gone.abort()
  s2.origin.calls[0]!.answer(200, [...SSE, 'set-cookie', 'x=1'], stream('x'))
  t.equal(s2.origin.calls.length, 1)
})

t.test('a follower aborting its own fetch after eviction aborts that fetch', async (t) => {
  const { origin, deps } = setup()
  const p = plan()
  fetchThrough(p, deps, req('a'), recorder().sink, origin)
  const b = fetchThrough(p, deps, req('b'), recorder().sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
  origin.calls[0]!.answer(200, [...SSE, 'cache-control', 'private'], stream('a'))
  t.equal(origin.calls.length, 2)
  b.abort(new ChaperoneError('upstream_error', 'client left'))
  t.not(origin.calls[1]!.aborted, false)
})

t.test('a failed flight: followers get the error, nothing stored, nothing counted as saved', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const p = plan()
  const a = recorder()
  const b = recorder()
  fetchThrough(p, deps, req('a'), a.sink, origin)
  fetchThrough(p, deps, req('b'), b.sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
  const call = origin.calls[0]!
  call.sink.onHead(200, [...SSE], () => {})
  call.sink.onData(Buffer.from(chatChunk('partial')))
  call.sink.onError(new ChaperoneError('upstream_error', 'reset'))
  t.ok(await until(() => store.log.includes('release')))
  t.same(a.events.at(-1), ['error', 'reset'])
  t.same(b.events.at(-1), ['error', 'reset'])
  t.equal(store.entries.size, 0)
  t.same(metrics.notStored, ['aborted'])
  await sleep(10)
  t.same(metrics.saved, [], 'an error is not an answer saved')
})

t.test('an answer too big to store still reaches every follower, and is counted as too_large', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const p = plan({ maxEntryBytes: 64 })
  const a = recorder()
  const b = recorder()
  fetchThrough(p, deps, req('a'), a.sink, origin)
  fetchThrough(p, deps, req('b'), b.sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
  const chunks = stream('a long answer that does not fit in sixty-four bytes')
  origin.calls[0]!.answer(200, [...SSE], chunks)
  t.ok(await until(() => a.ended() && b.ended()))
  t.equal(b.body(), chunks.join(''))
  t.ok(await until(() => metrics.notStored.length === 1))
  t.same(metrics.notStored, ['too_large'])
  t.equal(store.entries.size, 0)
})

t.test('serveEntry fresh: a hit, with its age, and no refresh', async (t) => {
  const { origin, deps } = setup()
  const e = entryOf('data: x\n\n')
  const r = recorder()
  serveEntry(e, false, plan(), deps, req(), r.sink, origin)
  t.same(r.events, [])
  t.ok(await until(() => r.ended()))
  t.equal(r.cache(), 'hit')
  t.equal(r.header('age'), '5')
  t.equal(r.body(), 'data: x\n\n')
  await sleep(10)
  t.equal(origin.calls.length, 0)
})

t.test('serveEntry stale: replayed as stale, one background refresh for two hits, the refresh stores', async (t) => {
  const { store, origin, metrics, deps } = setup()
  const p = plan()
  const old = entryOf('data: old\n\n', { freshUntil: Date.now() - 1 })
  store.entries.set(p.key, old)
  const a = recorder()
  const b = recorder()
  serveEntry(old, true, p, deps, req('a'), a.sink, origin)
  serveEntry(old, true, p, deps, req('b'), b.sink, origin)
  t.ok(await until(() => a.ended() && b.ended()))
  t.equal(a.cache(), 'stale')
  t.equal(b.cache(), 'stale')
  t.equal(a.body(), 'data: old\n\n')
  t.ok(await until(() => origin.calls.length === 1))
  await sleep(20)
  t.equal(origin.calls.length, 1, 'one refresh for both stale hits')
  t.same(origin.calls[0]!.req, req('a'), 'the refresh forwards the request that found the entry stale')
  const fresh = stream('new')
  origin.calls[0]!.answer(200, [...SSE], fresh)
  t.ok(await until(() => store.log.includes('release')))
  t.equal(Buffer.from(store.entries.get(p.key)!.body).toString(), fresh.join(''), 'the refresh stored the new answer')
  t.ok(store.entries.get(p.key)!.meta.freshUntil > Date.now())
  t.same(metrics.stored.length, 1)
  t.same(metrics.lookups, [], 'serveEntry itself counts no lookup (the filter does)')

  // Done: a later stale hit refreshes again.
  serveEntry(old, true, p, deps, req('c'), recorder().sink, origin)
  t.ok(await until(() => origin.calls.length === 2))
})

t.test('a refresh while another replica holds the lock does not call the origin', async (t) => {
  let mode: LockMode = 'held'
  const { store, origin, deps } = setup(() => mode)
  const p = plan()
  const old = entryOf('data: old\n\n', { freshUntil: Date.now() - 1 })
  const r = recorder()
  serveEntry(old, true, p, deps, req(), r.sink, origin)
  t.ok(await until(() => r.ended()))
  t.ok(await until(() => store.log.includes('lock:held')))
  await sleep(50)
  t.equal(origin.calls.length, 0)
  // It is over: the next stale hit may refresh (once the lock is free).
  mode = 'acquire'
  serveEntry(old, true, p, deps, req(), recorder().sink, origin)
  t.ok(await until(() => origin.calls.length === 1))
})

t.test('a request that joins a refresh is not handed a private answer', async (t) => {
  const { origin, metrics, deps } = setup()
  const p = plan()
  const old = entryOf('data: old\n\n', { freshUntil: Date.now() - 1 })
  serveEntry(old, true, p, deps, req('stale-hit'), recorder().sink, origin)
  // A client asking for a fresh answer (no-cache) while the refresh is in flight joins it.
  const x = recorder()
  fetchThrough(p, deps, req('x'), x.sink, origin)
  t.same(metrics.lookups, ['coalesced'])
  t.ok(await until(() => origin.calls.length === 1))
  origin.calls[0]!.answer(200, [...SSE, 'set-cookie', 'session=stale-hit'], stream('private'))
  t.equal(origin.calls.length, 2, 'the joiner fetched its own')
  t.equal(origin.calls[1]!.req.headers[1], 'Bearer x')
  t.same(x.events, [], 'it never saw the other request\'s cookie')
  origin.calls[1]!.answer(200, [...SSE], stream('its own'))
  t.equal(x.body(), stream('its own').join(''))
})

t.test('a request that joins a refresh while the lock is held elsewhere waits for the new entry', async (t) => {
  const { store, origin, deps } = setup('held')
  const p = plan()
  const old = entryOf('data: old\n\n', { freshUntil: Date.now() - 1 })
  store.entries.set(p.key, old)
  serveEntry(old, true, p, deps, req('stale-hit'), recorder().sink, origin)
  const x = recorder()
  fetchThrough(p, deps, req('x'), x.sink, origin)
  t.ok(await until(() => store.log.filter((l) => l === 'get').length >= 2))
  t.notOk(x.done(), 'neither failed nor answered with the stale entry it asked to skip')
  const body = 'data: new\n\n'
  store.entries.set(p.key, entryOf(body))
  t.ok(await until(() => x.done()))
  t.equal(x.body(), body)
  t.equal(origin.calls.length, 0)
})
