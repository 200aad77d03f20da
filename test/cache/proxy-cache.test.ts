/**
 * The response cache through the real proxy, one replica, memory tier only: scopes, what is and
 * is not stored, streams replayed with their event boundaries, coalescing of identical misses,
 * re-moderation of cached answers under a rule added later, invalidation and warming through the
 * admin API, and the official openai SDK as the client.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import http from 'node:http'
import { hmacToken } from '../helpers/jwt.js'
import OpenAI from 'openai'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { chatJson, chatStream, startLlmUpstream, type Answer, type LlmUpstream } from '../helpers/llm-upstream.js'
import { rawRequest } from '../helpers/raw-http.js'
import { eventually } from '../helpers/eventually.js'
import { createSseParser } from '../../src/core/sse/parser.js'

type Teardown = Pick<typeof t, 'teardown'>

const ISSUER = 'https://hmac.test/'
const SECRET = randomBytes(32).toString('hex')
const CHAT = '/v1/chat/completions'

const policy = (extraRules = '', keyVersion = 1) => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: cache-e2e }
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
  access:
    - name: everyone
      allow: { roles: [guest] }
  moderation:
    rules:
      - name: placeholder
        direction: request
        keywords: [zzzplaceholderzzz]${extraRules}
  cache:
    keyVersion: ${keyVersion}
    routes:
      - name: chat
        match: { paths: [${CHAT}] }
        scope: user
        ttl: 10m
        tags: [faq]
        tagsHeader: x-cache-tags
      - name: shared
        match: { paths: [/shared/chat/completions] }
        scope: shared
        ttl: 10m
        replay: original
      - name: tiny
        match: { paths: [/tiny/chat/completions] }
        scope: shared
        maxEntryBytes: 1024
`

const token = (sub: string) => hmacToken(SECRET, ISSUER, sub, { roles: ['guest'] })

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'm', temperature: 0, messages: [{ role: 'user', content }], ...extra })

interface Reply {
  status: number
  cache: string | null
  body: string
  headers: Headers
}

async function post(stack: Stack, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(stack.chaperone.proxyUrl + path, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, cache: res.headers.get('x-chaperone-cache'), body: await res.text(), headers: res.headers }
}

async function admin(stack: Stack, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(stack.chaperone.adminUrl + path, {
    method,
    headers: { authorization: 'Bearer test-token', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  return { status: res.status, body: await res.json() }
}

/** The text an OpenAI chat stream carries. */
function text(body: string): string {
  return events(body)
    .filter((d) => d.startsWith('{'))
    .map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '')
    .join('')
}

/** The data fields of an SSE body, event by event. */
function events(body: string | Buffer): string[] {
  const p = createSseParser()
  return p.push(typeof body === 'string' ? Buffer.from(body) : body).map((e) => e.data)
}

async function stackWith(t: Teardown, answer: (req: { url: string; body: string; n: number }) => Answer): Promise<{ stack: Stack; up: LlmUpstream }> {
  const up = await startLlmUpstream(answer)
  const stack = await startStack({ files: { 'policy.yaml': policy(), 'hmac.secret': SECRET }, upstream: up.url })
  t.teardown(async () => {
    await stack.close()
    await up.close()
  })
  return { stack, up }
}

t.test('a user-scoped route: a hit for the same user, never for another', async (t) => {
  const { stack, up } = await stackWith(t, ({ body }) => ({ chunks: chatStream(`answer for ${JSON.parse(body).user ?? 'someone'} `) }))
  const alice = { authorization: `Bearer ${await token('alice')}` }
  const bob = { authorization: `Bearer ${await token('bob')}` }
  const a1 = await post(stack, CHAT, ask('hello', { stream: true, user: 'alice' }), alice)
  t.equal(a1.cache, 'miss')
  const a2 = await post(stack, CHAT, ask('hello', { stream: true, user: 'alice' }), alice)
  t.equal(a2.cache, 'hit')
  t.same(events(a2.body), events(a1.body), 'the same events')
  t.equal(up.requests.length, 1)
  // `user` is an ignored field: it is not what keeps bob out, the scope is.
  const b1 = await post(stack, CHAT, ask('hello', { stream: true, user: 'bob' }), bob)
  t.equal(b1.cache, 'miss', 'another user never gets alice\'s entry')
  t.equal(text(b1.body), 'answer for bob ')
  t.notMatch(b1.body, /alice/)
  t.equal(up.requests.length, 2)
  // Anonymous callers on a user-scoped route have no subject: never cached, never served.
  const anon = await post(stack, CHAT, ask('hello', { stream: true }))
  t.equal(anon.cache, null)
  t.equal(up.requests.length, 3)
  // Reordered JSON keys are the same request.
  const reordered = await post(stack, CHAT, `{"user":"alice","stream":true,"messages":[{"content":"hello","role":"user"}],"temperature":0,"model":"m"}`, alice)
  t.equal(reordered.cache, 'hit')
  // A different temperature-0 field changes the key; a non-deterministic request is not cached.
  t.equal((await post(stack, CHAT, ask('hello', { stream: true, seed: 7 }), alice)).cache, 'miss')
  t.equal((await post(stack, CHAT, ask('hello', { stream: true, temperature: 0.7 }), alice)).cache, null)
  t.equal((await post(stack, CHAT, ask('hello', { stream: true, temperature: 0.7 }), alice)).cache, null)
  // Duplicate keys make a body ambiguous: uncacheable.
  t.equal((await post(stack, CHAT, `{"model":"m","temperature":0,"stream":true,"messages":[{"role":"user","content":"hello"}],"model":"m"}`, alice)).cache, null)
  const stats = await admin(stack, 'GET', '/admin/cache/stats')
  t.equal(stats.status, 200)
  t.equal(stats.body.routes.chat.lookups.hit, 2)
  t.ok(stats.body.routes.chat.bypassReasons.no_subject >= 1)
  t.ok(stats.body.routes.chat.bypassReasons.temperature >= 2)
  t.ok(stats.body.routes.chat.bypassReasons.duplicate_keys >= 1)
  t.equal(stats.body.routes.chat.tokensSaved.output, 10, 'two hits, 5 completion tokens each')
})

t.test('what is never stored: Cache-Control private/no-store, Set-Cookie, errors, truncated and aborted answers', async (t) => {
  const cases: Array<{ name: string; answer: Answer }> = [
    { name: 'private', answer: { headers: { 'content-type': 'text/event-stream', 'cache-control': 'private' }, chunks: chatStream('x ') } },
    { name: 'private-empty', answer: { headers: { 'content-type': 'text/event-stream', 'cache-control': 'private=""' }, chunks: chatStream('x ') } },
    { name: 'private-comma', answer: { headers: { 'content-type': 'text/event-stream', 'cache-control': 'private=","' }, chunks: chatStream('x ') } },
    { name: 'private-field', answer: { headers: { 'content-type': 'text/event-stream', 'cache-control': 'private=" authorization"' }, chunks: chatStream('x ') } },
    { name: 'no-store', answer: { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }, chunks: chatStream('x ') } },
    { name: 'set-cookie', answer: { headers: { 'content-type': 'text/event-stream', 'set-cookie': 'session=abc' }, chunks: chatStream('x ') } },
    { name: 'status-500', answer: { status: 500, headers: { 'content-type': 'application/json' }, chunks: ['{"error":{"message":"boom"}}'] } },
    { name: 'redirect', answer: { status: 307, headers: { location: '/elsewhere', 'content-length': '0' }, chunks: [] } },
    { name: 'no-done', answer: { chunks: chatStream('cut ').slice(0, -1) } },
    { name: 'half-event', answer: { chunks: [...chatStream('cut ').slice(0, -1), 'data: {"id":"x",'] } },
    { name: 'reset', answer: { chunks: chatStream('reset ').slice(0, 3), reset: true } },
    { name: 'error-event', answer: { chunks: [chatStream('e ')[0]!, 'data: {"error":{"message":"overloaded"}}\n\n', 'data: [DONE]\n\n'] } },
    { name: 'json-truncated', answer: { headers: { 'content-type': 'application/json' }, chunks: [chatJson('t').slice(0, 40)] } },
  ]
  const { stack, up } = await stackWith(t, ({ body }) => cases.find((c) => c.name === JSON.parse(body).messages[0].content)?.answer ?? { chunks: chatStream('fine ') })
  for (const c of cases) {
    const before = up.requests.length
    await post(stack, '/shared/chat/completions', ask(c.name, { stream: true })).catch(() => undefined)
    const second = await post(stack, '/shared/chat/completions', ask(c.name, { stream: true })).catch(() => undefined)
    t.equal(up.requests.length, before + 2, `${c.name}: not stored, the second request went upstream`)
    if (second) t.not(second.cache, 'hit', c.name)
  }
  // A well-formed answer on the same route is stored: the cases above fail for their own reason.
  await post(stack, '/shared/chat/completions', ask('fine', { stream: true })).catch(() => undefined)
  t.equal((await post(stack, '/shared/chat/completions', ask('fine', { stream: true }))).cache, 'hit')
  const stats = await admin(stack, 'GET', '/admin/cache/stats')
  t.match(stats.body.routes.shared.notStored, { cache_control: 10, set_cookie: 2, status: 4, incomplete: Number, aborted: Number })
})

t.test('the client aborting a miss stores nothing and stops the upstream', async (t) => {
  const { stack, up } = await stackWith(t, () => ({ chunks: chatStream('a b c d e f g h i j k l m n o p '), gapMs: 30 }))
  const ac = new AbortController()
  const res = await fetch(stack.chaperone.proxyUrl + '/shared/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask('abort me', { stream: true })), signal: ac.signal })
  const reader = res.body!.getReader()
  await reader.read()
  ac.abort()
  await new Promise((r) => setTimeout(r, 100))
  t.equal((await post(stack, '/shared/chat/completions', ask('abort me', { stream: true }))).cache, 'miss')
  t.equal(up.requests.length, 2)
})

t.test('replayed streams keep their event boundaries, instant and paced', async (t) => {
  const chunks = chatStream('one two three four ')
  const { stack } = await stackWith(t, () => ({ chunks, gapMs: 20 }))
  const raw = (path: string) =>
    rawRequest(stack.chaperone.proxyUrl, `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${JSON.stringify(ask('boundaries', { stream: true })).length}\r\n\r\n${JSON.stringify(ask('boundaries', { stream: true }))}`)
  for (const path of ['/shared/chat/completions', '/tiny/chat/completions']) {
    const miss = await raw(path)
    const hit = await raw(path)
    t.equal(miss.headers['x-chaperone-cache'], 'miss')
    const expected = chunks.map((c) => events(c)[0])
    t.same(events(miss.body), expected, `${path}: miss`)
    if (path === '/tiny/chat/completions') {
      t.equal(hit.headers['x-chaperone-cache'], 'miss', 'bigger than maxEntryBytes: never stored')
      continue
    }
    t.equal(hit.headers['x-chaperone-cache'], 'hit')
    t.same(events(hit.body), expected, `${path}: the hit has the same events`)
    t.ok(Number(hit.headers.age) >= 0)
  }
})

t.test('1,000 identical misses in flight make one upstream request', async (t) => {
  const { stack, up } = await stackWith(t, () => ({ chunks: chatStream('shared answer ') }))
  up.hold()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 })
  t.teardown(() => agent.destroy())
  const body = JSON.stringify(ask('burst', { stream: true }))
  const one = () =>
    new Promise<{ cache: string | undefined; body: string }>((resolve, reject) => {
      const req = http.request(stack.chaperone.proxyUrl + '/shared/chat/completions', { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve({ cache: res.headers['x-chaperone-cache'] as string | undefined, body: Buffer.concat(parts).toString() }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  const all = Array.from({ length: 1000 }, one)
  t.ok(await eventually(() => up.requests.length >= 1, 20_000), 'the first request reached the upstream')
  // Let every request reach the cache filter before the answer starts.
  const joined = async () => (await admin(stack, 'GET', '/admin/cache/stats')).body.routes.shared?.lookups.coalesced ?? 0
  for (let i = 0; i < 400 && (await joined()) < 999; i++) await new Promise((r) => setTimeout(r, 25))
  up.release()
  const replies = await Promise.all(all)
  t.equal(up.requests.length, 1, 'exactly one upstream request')
  t.equal(replies.filter((r) => r.cache === 'miss').length, 1)
  t.equal(replies.filter((r) => r.cache === 'coalesced' || r.cache === 'hit').length, 999)
  const expected = events(replies[0]!.body)
  t.ok(replies.every((r) => JSON.stringify(events(r.body)) === JSON.stringify(expected)), 'everyone got the same events')
  t.equal(text(replies[0]!.body), 'shared answer ')
})

t.test('a moderation rule added after caching applies to the cached answer on its next hit', async (t) => {
  const { stack, up } = await stackWith(t, () => ({ chunks: chatStream('the password is swordfish today ') }))
  const first = await post(stack, '/shared/chat/completions', ask('secret?', { stream: true }))
  t.match(events(first.body).join(''), /swordfish/)
  await writeFile(
    join(stack.dir, 'policy.yaml'),
    policy(`
      - name: no-swordfish
        direction: response
        action: redact
        keywords: [swordfish]`),
  )
  t.ok(await eventually(() => stack.chaperone.store.current()!.version > 1, 5000), 'the new policy loaded')
  const hit = await post(stack, '/shared/chat/completions', ask('secret?', { stream: true }))
  t.equal(hit.cache, 'hit')
  t.equal(up.requests.length, 1, 'served from the cache')
  t.notMatch(hit.body, /swordfish/, 'the new rule redacted the cached answer')
  t.match(hit.body, /REDACTED/)
})

t.test('invalidation by key, tag, prefix and key version; warming', async (t) => {
  const { stack, up } = await stackWith(t, ({ body }) => ({ chunks: chatStream(`about ${JSON.parse(body).messages[0].content} `) }))
  const alice = { authorization: `Bearer ${await token('alice')}` }
  const fill = async (q: string, headers: Record<string, string> = alice) => post(stack, CHAT, ask(q, { stream: true }), headers)
  await fill('q1')
  await fill('q2', { ...alice, 'x-cache-tags': 'category:electronics' })
  await fill('q3')
  const listed = await admin(stack, 'GET', '/admin/cache/entries?prefix=v1/chat/user/alice/')
  t.equal(listed.status, 200)
  t.equal(listed.body.entries.length, 3)
  t.notOk(JSON.stringify(listed.body).includes('about q1'), 'metadata only, never bodies')
  const byTag = await admin(stack, 'GET', '/admin/cache/entries?tag=category:electronics')
  t.equal(byTag.body.entries.length, 1)

  // By tag: q2 only.
  t.equal((await admin(stack, 'DELETE', '/admin/cache?tag=category:electronics')).body.deleted, 1)
  t.equal((await fill('q2')).cache, 'miss')
  t.equal((await fill('q1')).cache, 'hit')
  // By key.
  const q1 = (await admin(stack, 'GET', '/admin/cache/entries?prefix=v1/chat/user/alice/')).body.entries.find((e: any) => e.key && e.createdAt)!.key as string
  t.equal((await admin(stack, 'DELETE', `/admin/cache?key=${encodeURIComponent(q1)}`)).body.deleted, 1)
  // By prefix: everything alice has.
  const deleted = (await admin(stack, 'DELETE', `/admin/cache?prefix=${encodeURIComponent('v1/chat/user/alice/')}`)).body.deleted
  t.ok(deleted >= 2)
  const before = up.requests.length
  t.equal((await fill('q3')).cache, 'miss')
  t.equal(up.requests.length, before + 1)
  // The static route tag.
  t.ok((await admin(stack, 'DELETE', '/admin/cache?tag=faq')).body.deleted >= 1)
  t.equal((await fill('q3')).cache, 'miss')

  // Version bump: every entry is out at once.
  t.equal((await fill('q3')).cache, 'hit')
  await writeFile(join(stack.dir, 'policy.yaml'), policy('', 2))
  t.ok(await eventually(() => stack.chaperone.store.current()!.version > 1, 5000))
  t.equal((await fill('q3')).cache, 'miss', 'a new key version misses')

  // Warm: prefetch through the proxy, with the caller's own credentials.
  const warm = await admin(stack, 'POST', '/admin/cache/warm', { requests: [{ path: CHAT, headers: alice, body: ask('w1', { stream: true }) }, { path: CHAT, headers: alice, body: ask('w2', { stream: true }) }, { path: CHAT, headers: alice, body: ask('q3', { stream: true }) }] })
  t.equal(warm.status, 202)
  let job: any
  for (let i = 0; i < 200; i++) {
    job = (await admin(stack, 'GET', `/admin/cache/warm/${warm.body.id}`)).body
    if (job.finished) break
    await new Promise((r) => setTimeout(r, 20))
  }
  t.match(job, { total: 3, done: 3, fetched: 2, alreadyCached: 1, failed: 0, finished: true })
  const requestsAfterWarm = up.requests.length
  t.equal((await fill('w1')).cache, 'hit')
  t.equal((await fill('w2')).cache, 'hit')
  t.equal(up.requests.length, requestsAfterWarm)
})

t.test('the openai SDK, streaming and not, gets the same answer from a hit', async (t) => {
  const { stack, up } = await stackWith(t, ({ body }) =>
    JSON.parse(body).stream ? { chunks: chatStream('streamed words here ') } : { headers: { 'content-type': 'application/json' }, chunks: [chatJson('a json answer')] },
  )
  const client = new OpenAI({ baseURL: stack.chaperone.proxyUrl + '/shared', apiKey: await token('sdk-user'), maxRetries: 0 })
  const params = { model: 'm', temperature: 0, messages: [{ role: 'user' as const, content: 'sdk' }] }
  const plain1 = await client.chat.completions.create(params)
  const plain2 = await client.chat.completions.create(params)
  t.equal(plain2.choices[0]!.message.content, 'a json answer')
  t.same(plain2, plain1)
  const collect = async () => {
    let text = ''
    for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) text += chunk.choices[0]?.delta?.content ?? ''
    return text
  }
  t.equal(await collect(), 'streamed words here ')
  t.equal(await collect(), 'streamed words here ', 'the replayed stream parses the same')
  t.equal(up.requests.length, 2, 'one upstream request per format: stream is part of the key')
})
