/**
 * Rate limits through the real proxy on one stack backed by a real redis-server: per-role tiers
 * from verified tokens, the trusted X-Forwarded-For hop, LLM token budgets (reservation,
 * reconciliation with the reported usage, the include_usage Chaperone adds and strips, aborts,
 * stream cuts, upstream errors), concurrency leases, the abuse penalty box fed by moderation,
 * shadow limits, and what the official openai SDK makes of a 429.
 *
 * Token budgets are small (2000/day, 400/day): a unit then takes 43 s or more to refill, so the
 * remaining counts read from RateLimit headers within this test are exact.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { hmacToken } from '../helpers/jwt.js'
import OpenAI from 'openai'
import { startStack } from '../helpers/chaperone.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { rawRequest } from '../helpers/raw-http.js'
import { estimateRequest, loadTokenizer, TokenCounter } from '../../src/core/tokens/estimate.js'
import { storageKey } from '../../src/core/filters/rateLimits/keys.js'

const ISSUER = 'https://hmac.test/'
const SECRET = randomBytes(32).toString('hex')
const KEY_PREFIX = 'rl-tiers'
const CHAT = '/v1/chat/completions'
const DAY_MS = 86_400_000
const EXACT = 2000
const SMALL = 400

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: rl-tiers-and-tokens }
spec:
  identity:
    jwt:
      issuers:
        - issuer: ${ISSUER}
          audiences: [chatbot]
          algorithms: [HS256]
          hmacSecretFile: hmac.secret
    anonymous: { role: guest }
  roles:
    guest: {}
    admin: { inherits: [guest] }
  access:
    - name: everyone
      allow: { roles: [guest] }
  moderation:
    penaltyPoints: 10
    rules:
      - name: no-zorglub
        direction: request
        action: block
        keywords: [zorglub]
  rateLimits:
    - name: models
      key: [subject]
      rate: 2/minute
      byRole: { admin: 20/minute }
      match: { paths: [/v1/models] }
    - name: per-ip
      key: [ip]
      rate: 2/minute
      match: { paths: [/echo/ip/**] }
    - name: tokens
      key: [subject]
      tokens: 100000/day
      byTenant: { exact: ${EXACT}/day, small: ${SMALL}/day }
      cutStream: true
      match: { paths: [${CHAT}] }
    - name: streams
      key: [subject]
      concurrency: 2
      match: { paths: [${CHAT}] }
    - name: abuse
      key: [subject]
      penalty: { threshold: 25, boxSeconds: 2 }
      match: { paths: [${CHAT}] }
    - name: trial
      key: [subject]
      rate: 1/minute
      shadow: true
      match: { paths: [/echo/shadow/**] }
`

const token = (sub: string, roles: string[] = ['guest'], tenant?: string) => hmacToken(SECRET, ISSUER, sub, { roles, ...(tenant ? { tenant } : {}) })

/** The `r=` of one limit in a RateLimit header. */
function remainingOf(headers: Headers, limit: string): number | undefined {
  const m = new RegExp(`"${limit}";r=(\\d+)`).exec(headers.get('ratelimit') ?? '')
  return m ? Number(m[1]) : undefined
}

interface ChatBody {
  model: string
  messages: { role: 'user'; content: string }[]
  max_tokens?: number
  stream?: boolean
  stream_options?: { include_usage: boolean }
}

const ask = (content: string, extra: Partial<ChatBody> = {}): ChatBody => ({ model: 'demo', messages: [{ role: 'user', content }], ...extra })

/** What Chaperone reserves for `body`: the same estimate the filter makes. */
function reservation(body: ChatBody): { promptTokens: number; total: number } {
  return estimateRequest(body, CHAT, { defaultMaxTokens: 1024 })!
}

/** Data fields of an SSE body, in order. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter((d) => d !== '')
}

t.test('rate limits end to end: tiers, client ip, token budgets, concurrency, penalties, shadow', async (t) => {
  const redisServer = await startRedisServer()
  t.teardown(() => redisServer.stop())
  const s = await startStack({
    files: { 'policy.yaml': POLICY, 'hmac.secret': SECRET },
    adjust: (c) => ({
      ...c,
      redis: { url: redisServer.url, keyPrefix: KEY_PREFIX },
      clientIp: { trustedHops: 1 },
      // Exact token accounting needs every check decided in Redis: on this test's busy event
      // loop, the production 20 ms could time a check out to the (per-replica) fallback.
      rateLimits: { onRedisError: 'local', replicas: 1, commandTimeoutMs: 1000, probeMs: 100 },
    }),
  })
  t.teardown(() => s.close())
  // The policy's compile started loading the tokenizer; until it is in, estimates are 4 bytes a
  // token. Waiting for it makes this test's estimates and the filter's the same.
  await loadTokenizer()
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 0 })
  t.teardown(() => redis.disconnect())

  const chat = async (jwt: string, body: ChatBody, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${s.chaperone.proxyUrl}${CHAT}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    })

  /** Token units the subject's budget holds charged right now, read from its Redis bucket. */
  async function charged(sub: string, budget: number): Promise<number> {
    const key = `{${KEY_PREFIX}}:rl:${storageKey('tokens', [`s:${sub}`])}`
    const [tat, [sec, usec]] = await Promise.all([redis.get(key), redis.time()])
    if (tat === null) return 0
    const now = Number(sec) * 1e6 + Number(usec)
    return Math.max(0, (Number(tat) - now) / ((DAY_MS * 1000) / budget))
  }

  /** Waits until the response's reconciliation has reached Redis (onComplete charges after the body). */
  async function settled(sub: string, budget: number, done: (units: number) => boolean): Promise<boolean> {
    const deadline = performance.now() + 5000
    while (performance.now() < deadline) {
      if (done(await charged(sub, budget))) return true
      await new Promise((r) => setTimeout(r, 10))
    }
    return false
  }

  t.test('per-role tiers: a guest gets 2, an admin 20', async (t) => {
    const get = (jwt: string) => fetch(`${s.chaperone.proxyUrl}/v1/models`, { headers: { authorization: `Bearer ${jwt}` } })
    const guest = await token('gina', ['guest'])
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await get(guest)).status)
    t.same(statuses, [200, 200, 429], 'a guest: 2, then 429')

    const admin = await token('root', ['admin'])
    const admitted: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 21; i++) {
      last = await get(admin)
      admitted.push(last.status)
      if (i < 20) await last.arrayBuffer()
    }
    t.same(admitted, [...Array(20).fill(200), 429], 'an admin (who is also a guest by inheritance): 20, then 429')
    t.equal(last!.headers.get('ratelimit-policy'), '"models";q=20;w=60', 'the policy header names the rate of the tier')
    t.equal(((await last!.json()) as { error: { limit: string } }).error.limit, 'models')
  })

  t.test('key [ip] behind one trusted hop: the hop decides the bucket, a forged leftmost entry does not', async (t) => {
    const send = (xff?: string) =>
      rawRequest(s.chaperone.proxyUrl, `GET /echo/ip/x HTTP/1.1\r\nHost: chaperone.test\r\n${xff ? `X-Forwarded-For: ${xff}\r\n` : ''}Connection: close\r\n\r\n`)
    t.equal((await send('6.6.6.6, 203.0.113.7')).status, 200)
    t.equal((await send('7.7.7.7, 203.0.113.7')).status, 200, 'a different forged entry, the same client')
    const third = await send('8.8.8.8, 203.0.113.7')
    t.equal(third.status, 429, 'forging the leftmost entry gets no new bucket')
    t.equal(JSON.parse(third.body.toString()).error.limit, 'per-ip')
    t.equal((await send('6.6.6.6, 203.0.113.8')).status, 200, 'another address seen by the hop: its own bucket')
    t.equal((await send()).status, 200, 'no X-Forwarded-For: the socket peer, its own bucket')
  })

  t.test('token budget, not streamed: reserve prompt + max_tokens, then reconcile to the reported usage', async (t) => {
    const jwt = await token('tok-json', ['guest'], 'exact')
    const body = ask('Tell me something about token budgets, please.', { max_tokens: 200 })
    const e = reservation(body)
    t.ok(e.total > 200 && e.total < 250, `reservation ${e.total}: prompt ${e.promptTokens} + 200`)

    const r1 = await chat(jwt, body)
    t.equal(r1.status, 200)
    const usage = ((await r1.json()) as { usage: { total_tokens: number } }).usage
    t.equal(r1.headers.get('ratelimit-policy'), `"tokens";q=${EXACT};w=86400`)
    t.equal(remainingOf(r1.headers, 'tokens'), EXACT - e.total, 'the whole reservation is held while the request runs')
    t.ok(usage.total_tokens < e.total)
    t.ok(await settled('tok-json', EXACT, (u) => u < e.total - 0.5), 'reconciled')

    const r2 = await chat(jwt, body)
    t.equal(r2.status, 200)
    await r2.arrayBuffer()
    t.equal(remainingOf(r1.headers, 'tokens')! - remainingOf(r2.headers, 'tokens')!, usage.total_tokens, 'the first request cost exactly its reported usage')
  })

  t.test('token budget, streamed without include_usage: asked for, stripped, charged', async (t) => {
    const jwt = await token('tok-stream', ['guest'], 'exact')
    const body = ask('Stream me a short answer about budgets.', { max_tokens: 100, stream: true })
    const e = reservation(body)
    // The usage the chatbot reports for this prompt, asked of it directly.
    const direct = await fetch(`${s.bot.url}${CHAT}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: false }) })
    const usage = ((await direct.json()) as { usage: { total_tokens: number } }).usage.total_tokens

    const r1 = await chat(jwt, body)
    const events = sseData(await r1.text())
    t.equal(events.at(-1), '[DONE]')
    const chunks = events.slice(0, -1).map((d) => JSON.parse(d) as { choices: unknown[]; usage?: unknown })
    t.ok(chunks.length > 2, `${chunks.length} chunks`)
    t.equal(chunks.filter((c) => c.choices.length === 0).length, 0, 'no usage-only chunk reaches a client that did not ask for one')
    t.notOk(chunks.some((c) => c.usage !== undefined && c.usage !== null), 'no usage anywhere')
    t.equal(remainingOf(r1.headers, 'tokens'), EXACT - e.total)
    t.ok(await settled('tok-stream', EXACT, (u) => u < e.total - 0.5), 'reconciled')

    const r2 = await chat(jwt, body)
    await r2.arrayBuffer()
    t.equal(remainingOf(r1.headers, 'tokens')! - remainingOf(r2.headers, 'tokens')!, usage, 'charged the usage the chatbot reported')
  })

  t.test('token budget, streamed with the client own include_usage: the client sees the usage chunk', async (t) => {
    const jwt = await token('tok-usage', ['guest'], 'exact')
    const body = ask('Stream me a short answer with usage.', { max_tokens: 100, stream: true, stream_options: { include_usage: true } })
    const r1 = await chat(jwt, body)
    const events = sseData(await r1.text())
    const last = JSON.parse(events.at(-2)!) as { choices: unknown[]; usage: { total_tokens: number } }
    t.same(last.choices, [], 'the usage chunk, as asked')
    t.ok(last.usage.total_tokens > 0)
    t.ok(await settled('tok-usage', EXACT, (u) => u < reservation(body).total - 0.5), 'reconciled')
    const r2 = await chat(jwt, body)
    await r2.arrayBuffer()
    t.equal(remainingOf(r1.headers, 'tokens')! - remainingOf(r2.headers, 'tokens')!, last.usage.total_tokens, 'charged the usage the client saw')
  })

  t.test('token budget, client abort mid-stream: charged what was streamed, not the reservation', async (t) => {
    const jwt = await token('tok-abort', ['guest'], 'exact')
    const body = ask('A long, slow answer please.', { max_tokens: 1000, stream: true })
    const e = reservation(body)
    const abort = new AbortController()
    const r1 = await chat(jwt, body, { 'x-demo-pace-ms': '20', 'x-demo-deltas': '400' }, abort.signal)
    t.equal(remainingOf(r1.headers, 'tokens'), EXACT - e.total)
    const seen = new TokenCounter()
    let deltas = 0
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const bytes of r1.body!) {
      buffered += decoder.decode(bytes as Uint8Array, { stream: true })
      const blocks = buffered.split('\n\n')
      buffered = blocks.pop()!
      for (const d of sseData(blocks.join('\n\n'))) {
        const content = (JSON.parse(d) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content
        if (content) {
          seen.add(content)
          deltas++
        }
      }
      if (deltas >= 30) break
    }
    abort.abort()
    t.ok(await settled('tok-abort', EXACT, (u) => u < e.total - 0.5), 'reconciled after the abort')

    const small = ask('ok', { max_tokens: 10 })
    const r2 = await chat(jwt, small)
    await r2.arrayBuffer()
    const cost = EXACT - reservation(small).total - remainingOf(r2.headers, 'tokens')!
    const streamed = e.promptTokens + seen.total
    // The meter counts each delta before it is sent: a few in flight at the abort are charged too.
    t.ok(cost >= streamed && cost <= streamed + 40, `charged ${cost}: the prompt ${e.promptTokens} + ${seen.total} streamed (+ what was in flight)`)
    t.ok(cost < e.total / 2, `not the reservation of ${e.total}`)
  })

  t.test('cutStream: a long stream ends cleanly at the budget; the SDK reads it to the end', async (t) => {
    const client = new OpenAI({ baseURL: `${s.chaperone.proxyUrl}/v1`, apiKey: await token('tok-cut-sdk', ['guest'], 'small'), maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'Go on and on.' }], max_tokens: 50, stream: true }, { headers: { 'x-demo-deltas': '1500', 'x-demo-pace-ms': '0' } })
    let deltas = 0
    let finish: string | null | undefined
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) deltas++
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    t.ok(deltas > 50 && deltas < 1500, `cut after ${deltas} of 1500 deltas`)
    t.ok(finish, `the last chunk has a finish_reason (${finish})`)

    const jwt = await token('tok-cut-raw', ['guest'], 'small')
    const body = ask('Go on and on.', { max_tokens: 50, stream: true })
    const r = await chat(jwt, body, { 'x-demo-deltas': '1500', 'x-demo-pace-ms': '0' })
    const events = sseData(await r.text())
    t.equal(events.at(-1), '[DONE]', 'the stream ends with [DONE]')
    const beforeDone = JSON.parse(events.at(-2)!) as { choices: { finish_reason: string | null }[] }
    t.ok(beforeDone.choices[0]?.finish_reason, 'the last data event before [DONE] has a finish_reason')
    t.ok(await settled('tok-cut-raw', SMALL, (u) => u > reservation(body).total + 0.5), 'charged what was streamed')
    const units = await charged('tok-cut-raw', SMALL)
    t.ok(units <= SMALL + 5, `charged ${units.toFixed(1)}: about the budget, not past it by a whole stream`)

    const next = await chat(jwt, ask('more?', { max_tokens: 50 }))
    t.equal(next.status, 429, 'the budget is used up')
    t.equal(((await next.json()) as { error: { limit: string } }).error.limit, 'tokens')
  })

  t.test('token budget: an upstream error status gives the whole reservation back', async (t) => {
    const jwt = await token('tok-error', ['guest'], 'exact')
    const body = ask('This one fails upstream.', { max_tokens: 300 })
    const e = reservation(body)
    const failed = await chat(jwt, body, { 'x-demo-status': '500' })
    t.equal(failed.status, 500)
    await failed.arrayBuffer()
    t.equal(remainingOf(failed.headers, 'tokens'), EXACT - e.total)
    t.ok(await settled('tok-error', EXACT, (u) => u === 0), 'given back')
    const ok = await chat(jwt, body)
    await ok.arrayBuffer()
    t.equal(remainingOf(ok.headers, 'tokens'), EXACT - e.total, 'the next request finds the budget whole')
  })

  t.test('concurrency: the third stream is refused naming the limit; a finished one frees its lease', async (t) => {
    const jwt = await token('conc', ['guest'])
    const body = ask('Stream slowly.', { stream: true })
    const short = await chat(jwt, body, { 'x-demo-pace-ms': '50', 'x-demo-deltas': '8' })
    const long = await chat(jwt, body, { 'x-demo-pace-ms': '50', 'x-demo-deltas': '50' })
    t.same([short.status, long.status], [200, 200])
    let longDone = false
    const longRead = long.text().then(() => void (longDone = true))

    const third = await chat(jwt, body, { 'x-demo-deltas': '2' })
    t.equal(third.status, 429)
    const refusal = ((await third.json()) as { error: { code: string; limit: string } }).error
    t.same([refusal.code, refusal.limit], ['rate_limited', 'streams'], 'the 429 names the concurrency limit')
    t.match(third.headers.get('retry-after'), /^\d+$/)

    await short.text()
    // The lease is released when the exchange closes, just after the client has the last byte.
    let admitted: Response | undefined
    const deadline = performance.now() + 3000
    while (performance.now() < deadline) {
      const r = await chat(jwt, body, { 'x-demo-deltas': '2' })
      if (r.status === 200) {
        admitted = r
        break
      }
      await r.arrayBuffer()
      await new Promise((r) => setTimeout(r, 20))
    }
    t.ok(admitted, 'a new stream is admitted after one finished')
    t.notOk(longDone, 'while the long one still runs')
    await admitted?.text()
    await longRead
  })

  t.test('abuse penalty: three blocked prompts box the subject; others pass; the box ends', async (t) => {
    const jwt = await token('mallory', ['guest'])
    const clean = ask('hello there', { max_tokens: 20 })
    for (let i = 0; i < 3; i++) {
      const r = await chat(jwt, ask(`please say zorglub ${i}`, { max_tokens: 20 }))
      t.equal(r.status, 400, `blocked prompt ${i + 1}`)
      t.equal(((await r.json()) as { error: { code: string } }).error.code, 'content_policy_violation')
    }
    const boxed = await chat(jwt, clean)
    t.equal(boxed.status, 429, 'a clean prompt is refused while boxed')
    t.equal(((await boxed.json()) as { error: { code: string } }).error.code, 'abuse_penalty')
    const retryAfter = Number(boxed.headers.get('retry-after'))
    t.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After ${retryAfter} for a box of 2 s`)

    const other = await chat(await token('bystander', ['guest']), clean)
    t.equal(other.status, 200, 'another subject is unaffected')
    await other.arrayBuffer()

    let free = false
    const deadline = performance.now() + 6000
    while (!free && performance.now() < deadline) {
      const r = await chat(jwt, clean)
      await r.arrayBuffer()
      free = r.status === 200
      if (!free) await new Promise((r) => setTimeout(r, 100))
    }
    t.ok(free, 'clean prompts pass again once the box ends')
  })

  t.test('shadow: never refuses, counted as shadow, not advertised', async (t) => {
    const jwt = await token('shadowed', ['guest'])
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 3; i++) {
      last = await fetch(`${s.chaperone.proxyUrl}/echo/shadow/x`, { headers: { authorization: `Bearer ${jwt}` } })
      statuses.push(last.status)
      await last.arrayBuffer()
    }
    t.same(statuses, [200, 200, 200], 'a shadow limit of 1/minute refuses nothing')
    t.equal(last!.headers.get('ratelimit-policy'), null, 'no RateLimit headers for a limit that never refuses')
    const m = await (await fetch(`${s.chaperone.adminUrl}/metrics`)).text()
    t.match(m, /chaperone_ratelimit_decisions_total\{limit="trial",decision="deny",shadow="true",mode="shared"\} 2\b/)
    t.match(m, /chaperone_ratelimit_decisions_total\{limit="trial",decision="allow",shadow="true",mode="shared"\} 1\b/)
    t.ok(s.logs.lines.some((l) => l.msg === 'rate limit would refuse (shadow)' && l.limit === 'trial'), 'what it would refuse is logged')
  })

  t.test('the official openai SDK sees a 429 as RateLimitError with code rate_limited', async (t) => {
    const client = new OpenAI({ baseURL: `${s.chaperone.proxyUrl}/v1`, apiKey: await token('sdk-user', ['guest']), maxRetries: 0 })
    await client.models.list()
    await client.models.list()
    const err = await client.models.list().catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.RateLimitError, 'RateLimitError')
    t.equal((err as InstanceType<typeof OpenAI.RateLimitError>).status, 429)
    t.equal((err as InstanceType<typeof OpenAI.RateLimitError>).code, 'rate_limited')
    t.match((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after'), /^\d+$/)
  })

  t.test('Redis flushed while a reservation is held: the give-back never credits past a full budget', async (t) => {
    const jwt = await token('tok-flush', ['guest'], 'exact')
    const body = ask('A slow answer across a flush.', { max_tokens: 500, stream: true })
    const e = reservation(body)
    const r = await chat(jwt, body, { 'x-demo-pace-ms': '20', 'x-demo-deltas': '15' })
    t.equal(remainingOf(r.headers, 'tokens'), EXACT - e.total)
    await redisServer.flush()
    const events = sseData(await r.text())
    t.equal(events.at(-1), '[DONE]', 'the stream is unaffected')
    // The flush forgot the reservation; reconciling it must not leave a bucket above full.
    t.ok(await settled('tok-flush', EXACT, (u) => u === 0), 'nothing charged after the flush')
    const next = await chat(jwt, ask('ok', { max_tokens: 10 }))
    await next.arrayBuffer()
    t.equal(remainingOf(next.headers, 'tokens'), EXACT - reservation(ask('ok', { max_tokens: 10 })).total, 'a full budget, not more')
  })

  t.test('TTL audit: SCAN finds no key without a TTL (buckets, leases, penalties)', async (t) => {
    // Keys of every kind, written after the flush above.
    const jwt = await token('ttl-audit', ['guest'], 'exact')
    for (let i = 0; i < 3; i++) t.equal((await chat(jwt, ask(`zorglub ${i}`, { max_tokens: 10 }))).status, 400)
    const held = await chat(await token('ttl-audit-stream', ['guest']), ask('hold a lease', { stream: true }), { 'x-demo-pace-ms': '50', 'x-demo-deltas': '20' })
    t.equal(held.status, 200, 'a stream holds a lease')
    await fetch(`${s.chaperone.proxyUrl}/v1/models`, { headers: { authorization: `Bearer ${jwt}` } }).then((r) => r.arrayBuffer())
    const keys = new Set<string>()
    let cursor = '0'
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 500)
      cursor = next
      for (const k of batch) keys.add(k)
    } while (cursor !== '0')
    const list = [...keys]
    for (const kind of ['rl', 'cc', 'pen']) t.ok(list.some((k) => k.startsWith(`{${KEY_PREFIX}}:${kind}:`)), `a ${kind} key`)
    const ttls = await Promise.all(list.map((k) => redis.pttl(k)))
    t.same(list.filter((_, i) => ttls[i] === -1), [], `none of ${list.length} keys lives for ever`)
    await held.text()
  })
})
