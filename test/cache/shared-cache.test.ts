/**
 * The cache shared through a real redis-server by two Chaperone replicas: coalescing across
 * replicas with the fill lock, a lock holder that died, a corrupt shared entry, and Redis slow or
 * down (the memory tier keeps serving and no request fails).
 */
import t from 'tap'
import http from 'node:http'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { chatStream, startLlmUpstream, type LlmUpstream } from '../helpers/llm-upstream.js'
import { eventually } from '../helpers/eventually.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { allKeys, redisClient } from '../helpers/redis-client.js'
import { createSseParser } from '../../src/core/sse/parser.js'
import { cacheKey, DEFAULT_IGNORE_FIELDS } from '../../src/core/cache/key.js'
import { createTextNormalizer } from '../../src/core/cache/normalize-text.js'
import { taggedKey } from '../../src/io/redis/keys.js'

type Teardown = Pick<typeof t, 'teardown'>

const PATH = '/v1/chat/completions'
const PREFIX = 'cache-e2e'

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: shared-cache }
spec:
  cache:
    routes:
      - name: faq
        match: { paths: [${PATH}] }
        scope: shared
        lockWait: 20s
      # A short lock, so that a dead holder's lock expires within the test. Never this short in
      # production: a holder whose event loop stalls longer than lockTtl loses its lock.
      - name: orphans
        match: { paths: [/orphans/chat/completions] }
        scope: shared
        lockTtl: 1s
        lockWait: 20s
      - name: impatient
        match: { paths: [/impatient/chat/completions] }
        scope: shared
        lockWait: 800ms
`

const ask = (content: string) => ({ model: 'm', temperature: 0, stream: true, messages: [{ role: 'user', content }] })

/** The key the filter computes for `ask(content)` on a shared route. */
function keyOf(route: string, path: string, content: string): string {
  const normalize = createTextNormalizer({ nfc: true, whitespace: true, caseFold: false, numbers: false, dates: false })
  return cacheKey({ namespace: 'v1', route, method: 'POST', path, query: '', scopeKind: 'shared', scopeValue: '', body: ask(content) }, { normalize, ignoreFields: DEFAULT_IGNORE_FIELDS }).key
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (await cond()) return true
  return false
}

function events(body: string): string[] {
  return createSseParser().push(Buffer.from(body)).map((e) => e.data)
}

/** The text an OpenAI chat stream carries. */
function text(body: string): string {
  return events(body)
    .filter((d) => d.startsWith('{'))
    .map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '')
    .join('')
}

async function replicas(t: Teardown, redis: RedisServer, up: LlmUpstream, count: number, commandTimeoutMs = 200): Promise<Stack[]> {
  const out: Stack[] = []
  for (let i = 0; i < count; i++) {
    const s = await startStack({
      files: { 'policy.yaml': POLICY },
      upstream: up.url,
      adjust: (c) => ({ ...c, redis: { url: redis.url, keyPrefix: PREFIX }, cache: { ...c.cache, commandTimeoutMs, probeMs: 200 } }),
    })
    t.teardown(() => s.close())
    out.push(s)
  }
  return out
}

async function stats(s: Stack): Promise<any> {
  const res = await fetch(s.chaperone.adminUrl + '/admin/cache/stats', { headers: { authorization: 'Bearer test-token' } })
  return res.json()
}

function poster(agent: http.Agent) {
  return (s: Stack, path: string, content: string) =>
    new Promise<{ status: number; cache: string | undefined; body: string }>((resolve, reject) => {
      const body = JSON.stringify(ask(content))
      const req = http.request(s.chaperone.proxyUrl + path, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cache: res.headers['x-chaperone-cache'] as string | undefined, body: Buffer.concat(parts).toString() }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
}

t.test('1,000 identical misses over two replicas make one upstream request', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const up = await startLlmUpstream(() => ({ chunks: chatStream('one answer for all ') }))
  t.teardown(() => up.close())
  const [a, b] = await replicas(t, redis, up, 2, 1000)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 })
  t.teardown(() => agent.destroy())
  const post = poster(agent)
  up.hold()
  const first = post(a!, PATH, 'burst')
  t.ok(await eventually(() => up.requests.length === 1, 10_000), 'replica A holds the lock and asked the upstream')
  const rest = [...Array.from({ length: 499 }, () => post(a!, PATH, 'burst')), ...Array.from({ length: 500 }, () => post(b!, PATH, 'burst'))]
  const waiting = async () => {
    const [sa, sb] = await Promise.all([stats(a!), stats(b!)])
    return (sa.routes.faq?.lookups.coalesced ?? 0) + (sb.routes.faq?.lookups.coalesced ?? 0) + (sb.routes.faq?.lookups.miss ?? 0)
  }
  for (let i = 0; i < 400 && (await waiting()) < 999; i++) await new Promise((r) => setTimeout(r, 25))
  t.equal(await waiting(), 999, 'every request joined a flight: A\'s fetch, or B\'s wait for it')
  up.release()
  const replies = await Promise.all([first, ...rest])
  t.equal(up.requests.length, 1, 'exactly one upstream request across both replicas')
  t.ok(replies.every((r) => r.status === 200))
  const expected = events(replies[0]!.body)
  t.equal(text(replies[0]!.body), 'one answer for all ')
  t.ok(replies.every((r) => JSON.stringify(events(r.body)) === JSON.stringify(expected)), 'the same events everywhere')
  // And afterwards both replicas hit.
  t.equal((await post(b!, PATH, 'burst')).cache, 'hit')
  t.equal((await post(a!, PATH, 'burst')).cache, 'hit')
})

t.test('a lock holder that died: the waiters fetch once its lock expires, or after lockWait', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const up = await startLlmUpstream(() => ({ chunks: chatStream('recovered ') }))
  t.teardown(() => up.close())
  const [a] = await replicas(t, redis, up, 1)
  const client = await redisClient(t, redis.url, 'test')
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const post = poster(agent)

  // What a replica that crashed mid-fetch leaves behind: its lock, no longer renewed.
  await client.set(taggedKey(PREFIX, 'cache', 'l', keyOf('orphans', '/orphans/chat/completions', 'orphan')), 'dead-replica', 'PX', 1500)
  const started = Date.now()
  const replies = await Promise.all(Array.from({ length: 20 }, () => post(a!, '/orphans/chat/completions', 'orphan')))
  t.ok(Date.now() - started >= 1000, 'they waited for the dead holder')
  t.ok(replies.every((r) => r.status === 200 && text(r.body) === 'recovered '))
  t.equal(up.requests.length, 1, 'one of them took the lock over and fetched for all')

  // A lock that will not expire soon (a holder stuck rather than dead): lockWait bounds the wait.
  await client.set(taggedKey(PREFIX, 'cache', 'l', keyOf('impatient', '/impatient/chat/completions', 'stuck')), 'stuck-replica', 'PX', 60_000)
  const r = await post(a!, '/impatient/chat/completions', 'stuck')
  t.equal(r.status, 200)
  t.equal(up.requests.length, 2, 'fetched without the lock after lockWait')
  t.ok(a!.logs.lines.some((l) => l.msg === 'cache fill lock still held elsewhere; fetching without it'))
})

t.test('a corrupt shared entry is a miss: deleted, counted, fetched again', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const up = await startLlmUpstream(() => ({ chunks: chatStream('fine answer ') }))
  t.teardown(() => up.close())
  const [a, b] = await replicas(t, redis, up, 2)
  const client = await redisClient(t, redis.url, 'test')
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const post = poster(agent)
  t.equal((await post(a!, PATH, 'corrupt me')).cache, 'miss')
  const entryKey = taggedKey(PREFIX, 'cache', 'e', keyOf('faq', PATH, 'corrupt me'))
  t.ok(await until(async () => (await client.exists(entryKey)) === 1), 'stored in Redis')
  // B has never seen it: its memory tier is empty, so it reads Redis.
  t.equal((await post(b!, PATH, 'corrupt me')).cache, 'hit', 'B reads the shared entry')
  const blob = (await client.hgetBuffer(entryKey, 'b'))!
  blob[blob.length - 3] = blob[blob.length - 3]! ^ 0x01
  await client.hset(entryKey, 'b', blob)
  const [, c] = await replicas(t, redis, up, 2)
  const r = await post(c!, PATH, 'corrupt me')
  t.equal(r.status, 200)
  t.equal(r.cache, 'miss', 'a corrupt entry is a miss')
  t.equal(up.requests.length, 2)
  t.equal((await stats(c!)).shared.corruptEntries, 1)
  t.equal(text(r.body), 'fine answer ')
})

t.test('Redis slow, then down: the memory tier keeps serving and no request fails', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const up = await startLlmUpstream(({ body }) => ({ chunks: chatStream(`answer ${JSON.parse(body).messages[0].content} `) }))
  t.teardown(() => up.close())
  const [a] = await replicas(t, redis, up, 1, 50)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const post = poster(agent)
  t.equal((await post(a!, PATH, 'warm')).cache, 'miss')
  t.equal((await post(a!, PATH, 'warm')).cache, 'hit')

  redis.pause()
  const slow = await Promise.all(Array.from({ length: 30 }, (_, i) => post(a!, PATH, i % 2 === 0 ? 'warm' : `new ${i}`)))
  t.ok(slow.every((r) => r.status === 200), 'no request failed while Redis hung')
  t.ok(slow.filter((_, i) => i % 2 === 0).every((r) => r.cache === 'hit'), 'memory hits go on')
  const s1 = await stats(a!)
  t.ok(Object.keys(s1.shared.errors).length > 0, 'the failures are counted')
  t.equal(s1.shared.status, 'down')
  redis.resume()

  await redis.kill()
  const down = await Promise.all(Array.from({ length: 30 }, (_, i) => post(a!, PATH, i % 2 === 0 ? 'warm' : `down ${i}`)))
  t.ok(down.every((r) => r.status === 200), 'no request failed with Redis down')
  t.ok(down.filter((_, i) => i % 2 === 0).every((r) => r.cache === 'hit'))
  const metrics = await (await fetch(a!.chaperone.adminUrl + '/metrics')).text()
  t.match(metrics, /chaperone_cache_shared_tier_up 0/)
  t.notMatch(metrics, /chaperone_requests_total\{route="\/v1\/chat\/completions",status="5\d\d"\}/, 'no 5xx at all')
})

t.test('keys in Redis live under the prefix hash tag', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const up = await startLlmUpstream(() => ({ chunks: chatStream('x ') }))
  t.teardown(() => up.close())
  const [a] = await replicas(t, redis, up, 1)
  const post = poster(new http.Agent())
  await post(a!, PATH, 'tagged')
  const client = await redisClient(t, redis.url, 'test')
  t.ok(await until(async () => (await allKeys(client)).length > 0))
  t.ok((await allKeys(client)).every((k) => k.startsWith(`{${PREFIX}}:`)))
})
