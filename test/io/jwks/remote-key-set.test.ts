import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK, type JWSHeaderParameters } from 'jose'
import { RemoteKeySet, type FetchOutcome, type RemoteKeySetOptions } from '../../../src/io/jwks/remote-key-set.js'
import { JwksRegistry } from '../../../src/io/jwks/registry.js'
import { captureLog } from '../../helpers/capture-log.js'
import { eventually } from '../../helpers/eventually.js'

interface Seen {
  url: string
  headers: http.IncomingHttpHeaders
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** A JWKS endpoint on port 0 that records every request; `handler` may be swapped mid-test. */
async function startJwksServer(t: { teardown(fn: () => unknown): void }, initial: { keys: unknown[] }) {
  const state = {
    jwks: initial as { keys: unknown[] },
    etag: null as string | null,
    requests: [] as Seen[],
    handler: null as Handler | null,
  }
  const server = http.createServer((req, res) => {
    state.requests.push({ url: req.url ?? '', headers: req.headers })
    if (state.handler) return state.handler(req, res)
    const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' }
    if (state.etag !== null) {
      if (req.headers['if-none-match'] === state.etag) return void res.writeHead(304, { etag: state.etag }).end()
      headers.etag = state.etag
    }
    res.writeHead(200, headers).end(JSON.stringify(state.jwks))
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  t.teardown(close)
  return { ...state, state, url: `http://127.0.0.1:${port}/.well-known/jwks.json`, origin: `http://127.0.0.1:${port}`, close }
}

interface Signer {
  kid: string
  jwk: JWK
  sign(claims?: Record<string, unknown>): Promise<string>
}

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }
  return { kid, jwk, sign: (claims = { sub: 'user-1' }) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuedAt().sign(privateKey as CryptoKey) }
}

const OPTIONS: RemoteKeySetOptions = { cooldownMs: 30_000, maxAgeMs: 600_000, timeoutMs: 2_000 }

function makeSet(uri: string, options: Partial<RemoteKeySetOptions> = {}) {
  const clock = { now: 1_000_000 }
  const log = captureLog()
  const outcomes: FetchOutcome[] = []
  const set = new RemoteKeySet(uri, { ...OPTIONS, ...options }, { now: () => clock.now, log, onFetch: (o) => void outcomes.push(o) })
  return { set, clock, log, outcomes }
}

/** getKey as jose calls it, without a signature to check: only key selection is under test. */
const getKey = async (set: RemoteKeySet, header: JWSHeaderParameters, unprotected?: JWSHeaderParameters) =>
  set.getKey({ alg: 'ES256', ...header }, { payload: '', signature: '', ...(unprotected && { header: unprotected }) })
const lookup = (set: RemoteKeySet, kid: string) => getKey(set, { kid })

/** Settles every promise and says how many rejected, with one of the rejections. */
async function settle(ps: Promise<unknown>[]) {
  const results = await Promise.allSettled(ps)
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  return { rejected: rejected.length, reason: rejected[0]?.reason as { code?: string } | undefined }
}

t.test('first lookup fetches, second does not; a real token verifies', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, outcomes } = makeSet(srv.url)
  t.same(set.status(), { uri: srv.url, keys: 0, fetchedAt: null, lastError: null })

  const first = await jwtVerify(await a.sign(), set.getKey, { algorithms: ['ES256'] })
  t.equal(first.payload.sub, 'user-1')
  t.equal(srv.requests.length, 1)
  t.equal(srv.requests[0]!.url, '/.well-known/jwks.json')
  t.equal(srv.requests[0]!.headers.accept, 'application/jwk-set+json, application/json')
  t.equal(srv.requests[0]!.headers['if-none-match'], undefined, 'no ETag was offered yet')

  await jwtVerify(await a.sign({ sub: 'user-2' }), set.getKey, { algorithms: ['ES256'] })
  t.equal(srv.requests.length, 1, 'second lookup served from the cache')
  t.same(outcomes, ['ok'])
  t.match(set.status(), { keys: 1, fetchedAt: 1_000_000, lastError: null })
})

t.test('a flood of unknown kids fetches at most once per cooldown', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, clock } = makeSet(srv.url)

  const flood = () => settle(Array.from({ length: 100 }, (_, i) => lookup(set, `unknown-${i}`)))
  let r = await flood()
  t.equal(r.rejected, 100)
  t.equal(r.reason?.code, 'ERR_JWKS_NO_MATCHING_KEY')
  t.equal(srv.requests.length, 1, 'cold flood: one fetch, which also starts the cooldown')

  clock.now += 29_999
  r = await flood()
  t.equal(r.rejected, 100)
  t.equal(srv.requests.length, 1, 'inside the cooldown: no fetch')

  clock.now += 1
  r = await flood()
  t.equal(r.rejected, 100)
  t.equal(srv.requests.length, 2, 'after the cooldown: exactly one more')
  await lookup(set, 'key-a')
  t.equal(srv.requests.length, 2, 'the known kid still resolves without a fetch')
})

t.test('concurrent callers share the initial fetch', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set } = makeSet(srv.url)
  const r = await settle(Array.from({ length: 50 }, () => lookup(set, 'key-a')))
  t.equal(r.rejected, 0)
  t.equal(srv.requests.length, 1)
})

t.test('rotation: a new kid is picked up after the cooldown, a removed one is dropped after maxAge', async (t) => {
  const a = await signer('key-a')
  const b = await signer('key-b')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, clock } = makeSet(srv.url)
  const verify = async (s: Signer) => (await jwtVerify(await s.sign(), set.getKey, { algorithms: ['ES256'] })).protectedHeader.kid

  t.equal(await verify(a), 'key-a')
  srv.state.jwks = { keys: [a.jwk, b.jwk] }
  await t.rejects(verify(b), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'inside the cooldown the new kid is unknown')
  t.equal(srv.requests.length, 1)

  clock.now += OPTIONS.cooldownMs
  t.equal(await verify(b), 'key-b', 'unknown kid after the cooldown: refetched and accepted')
  t.equal(srv.requests.length, 2)

  srv.state.jwks = { keys: [b.jwk] }
  clock.now += OPTIONS.cooldownMs
  t.equal(await verify(a), 'key-a', 'a removed key keeps working until the set is refreshed')
  t.equal(srv.requests.length, 2)

  clock.now += OPTIONS.maxAgeMs
  await t.rejects(verify(a), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'refreshed without key-a')
  t.equal(srv.requests.length, 3, 'the maxAge refresh started the cooldown, so the unknown kid did not refetch')
  t.equal(await verify(b), 'key-b')
  t.equal(set.status().keys, 1)
})

t.test('endpoint down after maxAge: cached keys keep verifying, one warning per outage', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, clock, log, outcomes } = makeSet(srv.url)
  await set.prefetch()
  t.equal(srv.requests.length, 1)
  await srv.close()

  clock.now += OPTIONS.maxAgeMs
  const verified = await jwtVerify(await a.sign(), set.getKey, { algorithms: ['ES256'] })
  t.equal(verified.protectedHeader.kid, 'key-a')
  t.same(outcomes, ['ok', 'error'])
  t.match(set.status(), { keys: 1, fetchedAt: 1_000_000, lastError: /.+/ })

  await lookup(set, 'key-a')
  t.same(outcomes, ['ok', 'error'], 'inside the cooldown the down endpoint is not retried')
  clock.now += OPTIONS.cooldownMs
  await lookup(set, 'key-a')
  t.same(outcomes, ['ok', 'error', 'error'], 'retried once the cooldown passed, still serving the cached key')
  await t.rejects(lookup(set, 'other'), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'an unknown kid is still just unknown')
  t.equal(log.messages('warn').length, 1, 'one warning for the whole outage')
  t.match(log.entries[0], { level: 'warn', obj: { jwksUri: srv.url } })
})

t.test('recovery after an outage is logged and clears lastError', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, clock, log } = makeSet(srv.url)
  await set.prefetch()
  srv.state.handler = (_req, res) => void res.writeHead(503).end('down')
  clock.now += OPTIONS.maxAgeMs
  await lookup(set, 'key-a')
  t.match(set.status().lastError, /503/)
  srv.state.handler = null
  clock.now += OPTIONS.cooldownMs
  await lookup(set, 'key-a')
  t.equal(set.status().lastError, null)
  t.same(log.messages('info'), ['JWKS fetch recovered'])
  t.equal(srv.requests.length, 3)
})

t.test('keys near maxAge are refreshed in the background', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, clock } = makeSet(srv.url)
  await set.prefetch()
  clock.now += OPTIONS.maxAgeMs * 0.79
  await lookup(set, 'key-a')
  t.equal(srv.requests.length, 1, 'below 80 %: no refresh')
  clock.now += OPTIONS.maxAgeMs * 0.01
  let held: http.ServerResponse | null = null
  srv.state.handler = (_req, res) => void (held = res)
  await lookup(set, 'key-a')
  t.ok(await eventually(() => held !== null), 'a refresh was started')
  t.equal(set.status().fetchedAt, 1_000_000, 'and the lookup did not wait for it')
  ;(held as http.ServerResponse | null)!.writeHead(200).end(JSON.stringify(srv.state.jwks))
  t.ok(await eventually(() => set.status().fetchedAt === clock.now))
  await lookup(set, 'key-a')
  t.equal(srv.requests.length, 2)
})

t.test('a slow endpoint fails within the timeout, and the cooldown stops a refetch', async (t) => {
  const srv = await startJwksServer(t, { keys: [] })
  const held: http.ServerResponse[] = []
  srv.state.handler = (_req, res) => void held.push(res)
  const { set } = makeSet(srv.url, { timeoutMs: 150 })
  await t.rejects(lookup(set, 'key-a'), { code: 'ERR_JWKS_TIMEOUT' })
  t.equal(held.length, 1)
  t.notOk(held[0]!.headersSent, 'the server had not answered yet')
  await t.rejects(lookup(set, 'key-a'), { code: 'ERR_JWKS_TIMEOUT' }, 'inside the cooldown: the last failure, at once')
  t.equal(srv.requests.length, 1)
  t.match(set.status(), { keys: 0, fetchedAt: null, lastError: /150 ms/ })
})

t.test('the timeout covers the body, not only the headers', async (t) => {
  const srv = await startJwksServer(t, { keys: [] })
  srv.state.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"keys": [')
  }
  const { set } = makeSet(srv.url, { timeoutMs: 150 })
  await t.rejects(lookup(set, 'key-a'), { code: 'ERR_JWKS_TIMEOUT' })
})

t.test('an oversized body is a failed fetch, declared or streamed', async (t) => {
  const a = await signer('key-a')
  const padded = { keys: [a.jwk], padding: 'x'.repeat(4096) }
  const srv = await startJwksServer(t, padded)
  const declared = makeSet(srv.url, { maxBytes: 2048 })
  await t.rejects(lookup(declared.set, 'key-a'), { code: 'ERR_JWKS_FETCH_FAILED', message: /exceeds 2048/ })

  srv.state.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    const body = JSON.stringify(padded)
    res.write(body.slice(0, 1500))
    setTimeout(() => res.end(body.slice(1500)), 20)
  }
  const streamed = makeSet(srv.url, { maxBytes: 2048 })
  await t.rejects(lookup(streamed.set, 'key-a'), { code: 'ERR_JWKS_FETCH_FAILED', message: /exceeds 2048/ })
  t.equal(streamed.set.status().keys, 0)

  srv.state.handler = null
  const roomy = makeSet(srv.url, { maxBytes: 8192 })
  await lookup(roomy.set, 'key-a')
  t.equal(roomy.set.status().keys, 1, 'the same body under a larger bound is accepted')
})

t.test('a redirect is a failed fetch and is not followed', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  srv.state.handler = (req, res) => {
    if (req.url === '/elsewhere') return void res.writeHead(200).end(JSON.stringify(srv.state.jwks))
    res.writeHead(302, { location: `${srv.origin}/elsewhere` }).end()
  }
  const { set, outcomes } = makeSet(srv.url)
  await t.rejects(lookup(set, 'key-a'), { code: 'ERR_JWKS_FETCH_FAILED', message: /302/ })
  t.same(
    srv.requests.map((r) => r.url),
    ['/.well-known/jwks.json'],
  )
  t.same(outcomes, ['error'])
})

t.test('ETag: If-None-Match is sent and a 304 renews the cached keys', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  srv.state.etag = '"v1"'
  const { set, clock, outcomes } = makeSet(srv.url)
  await jwtVerify(await a.sign(), set.getKey, { algorithms: ['ES256'] })
  t.equal(srv.requests[0]!.headers['if-none-match'], undefined)

  clock.now += OPTIONS.maxAgeMs
  await jwtVerify(await a.sign(), set.getKey, { algorithms: ['ES256'] })
  t.equal(srv.requests.length, 2)
  t.equal(srv.requests[1]!.headers['if-none-match'], '"v1"')
  t.same(outcomes, ['ok', 'not_modified'])
  t.match(set.status(), { keys: 1, fetchedAt: clock.now, lastError: null })

  clock.now += OPTIONS.maxAgeMs * 0.5
  await lookup(set, 'key-a')
  t.equal(srv.requests.length, 2, 'the 304 made the keys fresh again')

  srv.state.etag = '"v2"'
  clock.now += OPTIONS.maxAgeMs
  await lookup(set, 'key-a')
  t.equal(srv.requests[2]!.headers['if-none-match'], '"v1"')
  t.same(outcomes, ['ok', 'not_modified', 'ok'], 'a changed ETag brings a full response')
  clock.now += OPTIONS.maxAgeMs
  await lookup(set, 'key-a')
  t.equal(srv.requests[3]!.headers['if-none-match'], '"v2"', 'the new ETag is the one offered next')
})

t.test('malformed sets are failed fetches', async (t) => {
  const bodies: [string, string][] = [
    ['not json', '{"keys": [ nope'],
    ['keys not an array', '{"keys": "x"}'],
    ['empty keys', '{"keys": []}'],
    ['no keys member', '{}'],
    ['null', 'null'],
    ['only unusable keys', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }, { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] })],
  ]
  for (const [name, body] of bodies) {
    const srv = await startJwksServer(t, { keys: [] })
    srv.state.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    const { set, outcomes } = makeSet(srv.url)
    await t.rejects(lookup(set, 'key-a'), { code: 'ERR_JWKS_INVALID' }, name)
    t.same(outcomes, ['error'], name)
    t.match(set.status(), { keys: 0, fetchedAt: null, lastError: /.+/ }, name)
  }
})

t.test('keys jose cannot import are skipped; the good ones are served', async (t) => {
  const a = await signer('key-a')
  const b = await signer('key-b')
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const bad = [
    { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'broken' },
    { kty: 'RSA', n: 'x', e: 'AQAB', kid: 'broken-rsa' },
    { kty: 'oct', k: 'c2VjcmV0', kid: 'secret' },
    { ...(await exportJWK(privateKey)), kid: 'private' },
    { kty: 'nonsense', kid: 'nonsense' },
    'not an object',
  ]
  const encryption = { ...a.jwk, kid: 'enc-key', use: 'enc', alg: undefined }
  const srv = await startJwksServer(t, { keys: [bad[0], a.jwk, ...bad.slice(1), encryption, b.jwk] })
  const { set, log } = makeSet(srv.url)
  await jwtVerify(await a.sign(), set.getKey, { algorithms: ['ES256'] })
  await jwtVerify(await b.sign(), set.getKey, { algorithms: ['ES256'] })
  t.equal(set.status().keys, 2)
  t.equal(log.messages('warn').length, 1, 'one line for the fetch')
  t.match(log.entries.find((e) => e.level === 'warn'), { obj: { skipped: bad.length, kept: 2 } })
  await t.rejects(lookup(set, 'private'), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
})

t.test('a huge kid is rejected without a request', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const { set, outcomes } = makeSet(srv.url)
  const kid = 'k'.repeat(10_000)
  await t.rejects(lookup(set, kid), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
  await t.rejects(getKey(set, {}, { kid }), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'also in the unprotected header')
  t.equal(srv.requests.length, 0)
  t.same(outcomes, [])
})

t.test('key URLs in the token header are never fetched', async (t) => {
  const a = await signer('key-a')
  const srv = await startJwksServer(t, { keys: [a.jwk] })
  const attacker = await startJwksServer(t, { keys: [a.jwk] })
  const { set } = makeSet(srv.url)
  await t.rejects(getKey(set, { kid: 'evil', jku: attacker.url, x5u: attacker.url }), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
  t.equal(attacker.requests.length, 0)
  t.equal(srv.requests.length, 1)
})

t.test('prefetch never throws', async (t) => {
  const srv = await startJwksServer(t, { keys: [] })
  const { set, outcomes } = makeSet(srv.url)
  await srv.close()
  await set.prefetch()
  t.same(outcomes, ['error'])
  t.equal(set.status().keys, 0)
})

t.test('only http(s) URIs are accepted', async (t) => {
  t.throws(() => makeSet('file:///etc/passwd'), TypeError)
})

t.test('registry: one set per URI, surviving reloads with the new options', async (t) => {
  const a = await signer('key-a')
  const one = await startJwksServer(t, { keys: [a.jwk] })
  const two = await startJwksServer(t, { keys: [a.jwk] })
  const clock = { now: 1_000_000 }
  const fetched: [string, FetchOutcome][] = []
  const registry = new JwksRegistry({ now: () => clock.now, log: captureLog(), onFetch: (uri, o) => void fetched.push([uri, o]) })

  const first = registry.get(one.url, OPTIONS)
  registry.get(two.url, OPTIONS)
  await registry.prefetchAll()
  t.same(
    fetched.map(([uri, o]) => `${uri} ${o}`).sort(),
    [`${one.url} ok`, `${two.url} ok`].sort(),
  )

  const reloaded = registry.get(one.url, { ...OPTIONS, cooldownMs: 1_000 })
  t.equal(reloaded, first, 'same instance, keys kept')
  await lookup(reloaded, 'key-a')
  t.equal(one.requests.length, 1)
  clock.now += 1_000
  await t.rejects(lookup(reloaded, 'unknown'), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
  t.equal(one.requests.length, 2, 'the reloaded cooldown applies')
  t.same(
    registry.status().map((s) => [s.uri, s.keys]),
    [
      [one.url, 1],
      [two.url, 1],
    ],
  )
})
