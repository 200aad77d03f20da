/**
 * A remote JWKS (`jwksUri`) served by a test HTTP server that can rotate keys, stop and slow
 * down, with the proxy in front of the demo chatbot. Server hits are counted, so "at most one
 * fetch" and "no fetch at all" are asserted on what actually reached the network.
 */
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWTHeaderParameters } from 'jose'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { jwksJson, signingKey, type SigningKey } from '../helpers/jwt.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'

type Teardown = Pick<typeof t, 'teardown'>

const ISS = 'https://remote.test/'

/** A fresh token every call (new jti), so no verified-token cache can answer for it. */
function sign(key: SigningKey, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ roles: ['user'] })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .setIssuer(ISS)
    .setAudience('chatbot')
    .setSubject('alice')
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key.privateKey)
}

interface KeyServer {
  url: string
  hits: number
  keys: SigningKey[]
  /** Milliseconds before each reply. */
  delayMs: number
  close(): Promise<void>
}

async function startKeyServer(t: Teardown, keys: SigningKey[] = []): Promise<KeyServer> {
  const timers = new Set<NodeJS.Timeout>()
  const state = { hits: 0, keys, delayMs: 0 }
  const server = http.createServer((req, res) => {
    state.hits++
    req.resume()
    const reply = () => {
      const body = jwksJson(...state.keys)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }
    if (state.delayMs === 0) return reply()
    const timer = setTimeout(() => {
      timers.delete(timer)
      reply()
    }, state.delayMs)
    timers.add(timer)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const timer of timers) clearTimeout(timer)
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  }
  t.teardown(close)
  const ks: KeyServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    get hits() {
      return state.hits
    },
    set hits(n) {
      state.hits = n
    },
    get keys() {
      return state.keys
    },
    set keys(k) {
      state.keys = k
    },
    get delayMs() {
      return state.delayMs
    },
    set delayMs(ms) {
      state.delayMs = ms
    },
    close,
  }
  return ks
}

function policy(jwksUri: string, jwks: { cooldownSeconds: number; maxAgeSeconds: number; timeoutMs: number }): string {
  return `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: remote-jwks }
spec:
  identity:
    jwt:
      issuers:
        - issuer: ${ISS}
          audiences: [chatbot]
          algorithms: [RS256, ES256]
          jwksUri: ${jwksUri}
          jwks: { cooldownSeconds: ${jwks.cooldownSeconds}, maxAgeSeconds: ${jwks.maxAgeSeconds}, timeoutMs: ${jwks.timeoutMs} }
  roles: { user: {} }
  access:
    - name: users
      match: { paths: [/echo/**] }
      allow: { roles: [user] }
`
}

async function stackFor(t: Teardown, ks: KeyServer, jwks: { cooldownSeconds: number; maxAgeSeconds: number; timeoutMs: number }): Promise<Stack> {
  const stack = await startStack({ files: { 'policy.yaml': policy(ks.url, jwks) } })
  t.teardown(() => stack.close())
  return stack
}

function call(stack: Stack, token: string): Promise<RawResponse> {
  return rawRequest(stack.chaperone.proxyUrl, `GET /echo/x HTTP/1.1\r\nHost: chaperone.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)
}

async function status(stack: Stack, token: string): Promise<number> {
  return (await call(stack, token)).status
}

function refusalReason(stack: Stack, r: RawResponse): unknown {
  return stack.logs.lines.find((l) => l.requestId === r.headers['x-request-id'] && l.msg === 'token refused')?.reason
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms
  for (;;) {
    if (await cond()) return true
    if (performance.now() > deadline) return false
    await sleep(20)
  }
}

t.test('rotation, expiry of removed keys, and an endpoint that goes away', async (t) => {
  const k1 = await signingKey('RS256', 'k1')
  const k2 = await signingKey('ES256', 'k2')
  const ks = await startKeyServer(t, [k1])
  const stack = await stackFor(t, ks, { cooldownSeconds: 0, maxAgeSeconds: 1, timeoutMs: 1000 })

  t.equal(await status(stack, await sign(k1)), 200, 'a token signed by the served key verifies')
  t.ok(ks.hits >= 1)

  ks.keys = [k1, k2]
  const beforeRotation = ks.hits
  t.equal(await status(stack, await sign(k2)), 200, 'a new kid is fetched and accepted')
  t.equal(ks.hits, beforeRotation + 1, 'with one fetch')
  t.equal(await status(stack, await sign(k1)), 200, 'the old key still verifies while it is served')

  ks.keys = [k2]
  const seenK1 = await sign(k1)
  t.equal(await status(stack, seenK1), 200, 'a removed key verifies until the cache ages out')
  await sleep(1200)
  // Only the cached token first: a cache hit verifies nothing, yet must notice the keys changed.
  t.ok(await until(async () => (await status(stack, seenK1)) === 401), 'a token verified (and cached) while its key was served is refused once the set is refetched')
  const r = await call(stack, await sign(k1))
  t.equal(r.status, 401, 'a fresh token signed by the removed key is refused after maxAgeSeconds')
  t.equal(refusalReason(stack, r), 'ERR_JWKS_NO_MATCHING_KEY')
  t.equal(await status(stack, await sign(k2)), 200, 'the remaining key verifies')

  await ks.close()
  await sleep(1200)
  const hitsWhenDown = ks.hits
  t.equal(await status(stack, await sign(k2)), 200, 'endpoint down, past maxAge: the cached keys still verify')
  t.equal(await status(stack, await sign(k2)), 200, 'and again')
  t.equal(ks.hits, hitsWhenDown, 'nothing reached the stopped server')
  t.equal(await status(stack, await sign(k1)), 401, 'the removed key stays removed')
  t.ok(
    stack.logs.lines.some((l) => l.level === 'warn' && /JWKS fetch failed; serving the cached keys/.test(String(l.msg))),
    'the outage is logged',
  )
  const metrics = await (await fetch(`${stack.chaperone.adminUrl}/metrics`)).text()
  t.match(metrics, /chaperone_jwks_fetches_total\{uri="[^"]+",outcome="error"\} [1-9]/, 'and counted')
})

t.test('a flood of unknown kids costs at most one fetch per cooldown', async (t) => {
  const k1 = await signingKey('RS256', 'k1')
  const forger = await signingKey('RS256', 'unused')
  const ks = await startKeyServer(t, [k1])
  const stack = await stackFor(t, ks, { cooldownSeconds: 1, maxAgeSeconds: 600, timeoutMs: 1000 })
  t.equal(await status(stack, await sign(k1)), 200)

  const flood = async () => {
    const before = ks.hits
    const tokens = await Promise.all(Array.from({ length: 50 }, () => sign({ ...forger, kid: `forged-${randomUUID()}` })))
    const statuses = await Promise.all(tokens.map((tok) => status(stack, tok)))
    t.same(new Set(statuses), new Set([401]), 'every forged kid is refused')
    return ks.hits - before
  }
  const first = await flood()
  t.ok(first <= 1, `first flood: ${first} fetch(es)`)
  await sleep(1100)
  const second = await flood()
  t.equal(second, 1, 'after the cooldown, one fetch for the whole flood')
  t.equal(await status(stack, await sign(k1)), 200, 'the real key still verifies')
})

t.test('jku, x5u, jwk and x5c in a token header cause no fetch and pick no key', async (t) => {
  const k1 = await signingKey('RS256', 'k1')
  const attacker = await signingKey('RS256', 'attacker')
  const ks = await startKeyServer(t, [k1])
  const evil = await startKeyServer(t, [attacker])
  const stack = await stackFor(t, ks, { cooldownSeconds: 0, maxAgeSeconds: 600, timeoutMs: 1000 })
  t.equal(await status(stack, await sign(k1)), 200)

  const cases: [string, string, number][] = [
    ['jku to the attacker', await sign(attacker, { jku: evil.url }), 401],
    ['x5u to the attacker', await sign(attacker, { x5u: evil.url }), 401],
    ['jku and a known kid, attacker-signed', await sign({ ...attacker, kid: 'k1' }, { jku: evil.url }), 401],
    ['embedded jwk', await sign(attacker, { jwk: attacker.jwk as never }), 401],
    ['x5c', await sign(attacker, { x5c: ['MIIBAAAA'] }), 401],
    ['jku on a genuine token is ignored', await sign(k1, { jku: evil.url, x5u: evil.url }), 200],
  ]
  for (const [name, token, expected] of cases) t.equal(await status(stack, token), expected, name)
  // Any fetch the headers caused would have started by now; give it time to land.
  await sleep(200)
  t.equal(evil.hits, 0, 'the attacker server was never contacted')
})

t.test('a JWKS slower than timeoutMs: 401 in bounded time, not a hang', async (t) => {
  const k1 = await signingKey('ES256', 'k1')
  const ks = await startKeyServer(t, [k1])
  ks.delayMs = 5000
  const stack = await stackFor(t, ks, { cooldownSeconds: 30, maxAgeSeconds: 600, timeoutMs: 200 })
  const started = performance.now()
  const r = await call(stack, await sign(k1))
  const elapsed = performance.now() - started
  t.equal(r.status, 401)
  t.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"')
  t.ok(elapsed < ks.delayMs, `answered in ${Math.round(elapsed)} ms, before the JWKS server would have (${ks.delayMs} ms)`)
  t.equal(refusalReason(stack, r), 'ERR_JWKS_TIMEOUT')
  const hits = ks.hits
  const again = performance.now()
  t.equal(await status(stack, await sign(k1)), 401, 'inside the cooldown')
  t.ok(performance.now() - again < ks.delayMs, 'without waiting on the endpoint again')
  t.equal(ks.hits, hits, 'nor fetching')
})
