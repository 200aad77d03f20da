/**
 * Identity: claims → principal, identity headers for the chatbot, the verified-token cache and
 * revocation, through the real filter.
 */
import t from 'tap'
import { filesPort } from '../../../helpers/jwt.js'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { Filter, RequestContext, Verdict } from '../../../../src/core/chain/types.js'
import { PRINCIPAL_STATE, type Principal } from '../../../../src/core/chain/principal.js'
import { authzFactory } from '../../../../src/core/filters/authz/index.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'
import type { Ports, RevocationStore } from '../../../../src/core/ports.js'
import { MemoryRevocationStore } from '../../../../src/io/revocation/index.js'

const ISS = 'https://idp.example'
const OTHER = 'https://other.example'
const AUD = 'chatbot'
const SECRET = new TextEncoder().encode('0123456789abcdef0123456789abcdef')
const T0 = 1_750_000_000
const INVALID: Verdict = { kind: 'error', code: 'unauthorized', headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }

interface Rec {
  rejected: string[]
  dependency: [string, string][]
}

function hmacIssuer(issuer: string, extra: Record<string, unknown> = {}) {
  return { issuer, audiences: [AUD], algorithms: ['HS256'], hmacSecretFile: 'hmac.key', ...extra }
}

function build(spec: { identity?: Record<string, unknown>; jwt?: Record<string, unknown>; access?: unknown; roles?: unknown }, ports: Partial<Ports> = {}, clock: { ms: number } = { ms: T0 * 1000 }) {
  const rec: Rec = { rejected: [], dependency: [] }
  const config = authzFactory.schema.parse({
    identity: { jwt: { issuers: [hmacIssuer(ISS)], ...spec.jwt }, ...spec.identity },
    roles: spec.roles ?? { guest: null, analyst: { inherits: ['guest'] } },
    access: spec.access,
  })
  const filter = authzFactory.compile(config, {
    policyFiles: filesPort({ 'hmac.key': SECRET }),
    now: () => new Date(clock.ms),
    authzMetrics: { decision() {}, tokenRejected: (r) => void rec.rejected.push(r), dependencyError: (d, p) => void rec.dependency.push([d, p]) },
    ...ports,
  })
  return { filter, rec }
}

async function sign(claims: JWTPayload, iss = ISS): Promise<string> {
  return new SignJWT({ iat: T0 - 60, exp: T0 + 3600, ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuer(iss).setAudience(AUD).sign(SECRET)
}

function context(token: string | undefined, clientHeaders: [string, string][] = [], query = ''): RequestContext & { upstreamHeaders: HeaderEditList; upstreamQuery?: string } {
  const rawHeaders = [...clientHeaders.flat(), ...(token !== undefined ? ['Authorization', `Bearer ${token}`] : [])]
  const headers: Record<string, string> = {}
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!
  return {
    id: 'r1',
    snapshot: { version: 1, digest: 'd' },
    request: { method: 'POST', url: `/v1/chat/completions${query}`, path: '/v1/chat/completions', query, headers, rawHeaders, remoteAddress: '127.0.0.1', clientIp: '127.0.0.1', protocol: 'http' },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
    setUpstreamQuery(q: string) {
      this.upstreamQuery = q
    },
  }
}

/** The verdict, the principal and the headers the chatbot would receive. */
async function run(filter: Filter, token: string | undefined, clientHeaders: [string, string][] = [], query = '') {
  const ctx = context(token, clientHeaders, query)
  const verdict = await filter.onRequest!(ctx)
  const upstream = ctx.upstreamHeaders.apply([...ctx.request.rawHeaders])
  const sent: Record<string, string> = {}
  for (let i = 0; i < upstream.length; i += 2) sent[upstream[i]!.toLowerCase()] = upstream[i + 1]!
  return { verdict, principal: ctx.state.get(PRINCIPAL_STATE) as Principal | undefined, sent, query: ctx.upstreamQuery ?? query }
}

t.test('claims → principal with the default mapping', async (t) => {
  const { filter } = build({})
  const { verdict, principal } = await run(filter, await sign({ sub: 'alice', roles: ['analyst'], tenant: 'acme', region: 'eu', tier: 'gold', extra: { deep: 1 } }))
  t.same(verdict, { kind: 'continue' })
  t.match(principal, { subject: 'alice', tenant: 'acme', region: 'eu', tier: 'gold', claims: { sub: 'alice', extra: { deep: 1 }, iss: ISS } })
  t.same([...principal!.roles].sort(), ['analyst', 'guest'])
  const sparse = await run(filter, await sign({ sub: 'bob', tenant: 42, region: ['eu'] }))
  t.same(sparse.principal, { subject: 'bob', roles: [], claims: sparse.principal!.claims }, 'non-string claims are left out, not stringified')
})

t.test('dotted claim paths (Keycloak realm_access.roles)', async (t) => {
  const { filter } = build({ jwt: { claims: { roles: 'realm_access.roles', subject: 'preferred_username', tenant: 'org.id', tier: 'plan.tier.name' } } })
  const { principal } = await run(filter, await sign({ sub: 'uuid-1', preferred_username: 'alice', realm_access: { roles: ['analyst', 'offline_access'] }, org: { id: 'acme' }, plan: { tier: { name: 'gold' } }, roles: ['admin'] }))
  t.equal(principal!.subject, 'alice')
  t.equal(principal!.tenant, 'acme')
  t.equal(principal!.tier, 'gold')
  t.same([...principal!.roles].sort(), ['analyst', 'guest', 'offline_access'], 'roles from realm_access, not from the top-level claim')
  const missing = await run(filter, await sign({ sub: 'x', realm_access: ['analyst'], org: null, plan: { tier: 'gold' } }))
  t.same(missing.principal!.roles, [], 'a path through a list, null or a string finds nothing')
  t.notOk('tenant' in missing.principal! || 'tier' in missing.principal! || 'subject' in missing.principal!)
  const proto = await run(filter, await sign({ sub: 'x', realm_access: {} }))
  t.same(proto.principal!.roles, [], 'an inherited property (realm_access.constructor…) is not a claim')
  const { filter: protoPath } = build({ jwt: { claims: { roles: 'realm_access.__proto__', tenant: 'org.constructor.name' } } })
  const p = (await run(protoPath, await sign({ sub: 'x', realm_access: {}, org: {} }))).principal!
  t.same(p.roles, [])
  t.notOk('tenant' in p, 'prototype keys are not walked')
})

t.test('Auth0-style claim names that contain dots are found by their full name first', async (t) => {
  const { filter } = build({ jwt: { claims: { roles: 'https://x.example/roles', tenant: 'https://x.example/org.id' } } })
  const { principal } = await run(filter, await sign({ sub: 'a', 'https://x.example/roles': ['analyst'], 'https://x.example/org.id': 'acme' }))
  t.same([...principal!.roles].sort(), ['analyst', 'guest'])
  t.equal(principal!.tenant, 'acme')
  const nested = await run(filter, await sign({ sub: 'a', 'https://x': { 'example/roles': ['guest'] } }))
  t.same(nested.principal!.roles, ['guest'], 'without the flat claim, the dotted path is walked')
})

t.test('a per-issuer mapping overrides jwt.claims for that issuer only', async (t) => {
  const { filter } = build({
    jwt: {
      claims: { roles: 'groups' },
      issuers: [hmacIssuer(ISS), hmacIssuer(OTHER, { claims: { roles: 'realm_access.roles', subject: 'uid' } })],
    },
  })
  const payload = { sub: 's', uid: 'u', groups: ['guest'], realm_access: { roles: ['analyst'] } }
  const a = (await run(filter, await sign(payload, ISS))).principal!
  t.same(a.roles, ['guest'], 'the shared mapping')
  t.equal(a.subject, 's')
  const b = (await run(filter, await sign(payload, OTHER))).principal!
  t.same([...b.roles].sort(), ['analyst', 'guest'], 'the issuer mapping')
  t.equal(b.subject, 'u')
})

t.test('identity headers are set for the chatbot', async (t) => {
  const { filter } = build({})
  const { sent } = await run(filter, await sign({ sub: 'alice', roles: ['analyst'], tenant: 'acme', region: 'eu', tier: 'gold' }), [['Content-Type', 'application/json']])
  t.match(sent, { 'x-chaperone-subject': 'alice', 'x-chaperone-tenant': 'acme', 'x-chaperone-region': 'eu', 'x-chaperone-tier': 'gold', 'content-type': 'application/json', authorization: /^Bearer / })
  t.same(sent['x-chaperone-roles']!.split(',').sort(), ['analyst', 'guest'])

  const { filter: custom } = build({ identity: { headers: { subject: 'X-User', roles: null, tier: null } }, jwt: { forwardToken: false } })
  const c = await run(custom, await sign({ sub: 'alice', roles: ['guest'], tier: 'gold' }))
  t.equal(c.sent['x-user'], 'alice', 'renamed (and lower-cased)')
  t.notOk('x-chaperone-roles' in c.sent || 'x-chaperone-tier' in c.sent || 'x-chaperone-subject' in c.sent, 'null: not sent')
  t.notOk('authorization' in c.sent, 'forwardToken: false drops the token')
})

t.test('client-sent identity headers are removed, with or without a token', async (t) => {
  const { filter } = build({ identity: { anonymous: { role: 'guest' } }, access: [{ name: 'guests', allow: { roles: ['guest'] } }] })
  const forged: [string, string][] = [
    ['X-Chaperone-Subject', 'root'],
    ['x-chaperone-roles', 'admin'],
    ['X-CHAPERONE-TENANT', 'victim'],
    ['x-chaperone-region', 'eu'],
    ['x-chaperone-tier', 'platinum'],
    ['x-chaperone-roles', 'admin,second-copy'],
  ]
  const anon = await run(filter, undefined, forged)
  t.same(anon.verdict, { kind: 'continue' }, 'anonymous is allowed here')
  t.same(anon.sent, { 'x-chaperone-roles': 'guest' }, 'only what Chaperone sets: the anonymous role')
  const withToken = await run(filter, await sign({ sub: 'bob', roles: ['guest'] }), forged)
  t.same(withToken.sent['x-chaperone-subject'], 'bob')
  t.notOk('x-chaperone-tenant' in withToken.sent, 'a claim the token lacks is not filled in from the client')
  const refusedReq = await run(filter, 'garbage', forged)
  t.same(refusedReq.verdict, INVALID)
  t.same(Object.keys(refusedReq.sent), ['authorization'], 'removed even when the request is refused')

  const { filter: noAnon } = build({})
  t.same((await run(noAnon, undefined, forged)).sent, {}, 'no anonymous role: nothing set, everything removed')
})

t.test('non-ASCII values are percent-encoded; CR, LF and NUL refuse the request', async (t) => {
  const { filter, rec } = build({})
  const enc = await run(filter, await sign({ sub: 'Zoë', tenant: '東京', roles: ['a,b', 'guest'] }))
  t.same(enc.verdict, { kind: 'continue' })
  t.equal(enc.sent['x-chaperone-subject'], 'Zo%C3%AB')
  t.equal(enc.sent['x-chaperone-tenant'], '%E6%9D%B1%E4%BA%AC')
  t.same(enc.sent['x-chaperone-roles']!.split(',').sort(), ['a%2Cb', 'guest'], 'a comma inside a role cannot split it')
  const mixed = await run(filter, await sign({ sub: 'a', roles: ['guest', 'café', 'ops'] }))
  t.same(mixed.sent['x-chaperone-roles']!.split(',').sort(), ['caf%C3%A9', 'guest', 'ops'], 'a non-ASCII role is encoded on its own: the separators stay commas')
  t.equal(enc.principal!.subject, 'Zoë', 'the principal keeps the real value')
  t.equal((await run(filter, await sign({ sub: 'tab\there' }))).sent['x-chaperone-subject'], 'tab%09here', 'other controls are encoded')

  for (const [name, claims] of [
    ['CR in sub', { sub: 'a\rb' }],
    ['LF in tenant', { sub: 'a', tenant: 'x\ny' }],
    ['CRLF injection in region', { sub: 'a', region: 'eu\r\nx-admin: 1' }],
    ['NUL in tier', { sub: 'a', tier: 'gold\0' }],
    ['LF in a role', { sub: 'a', roles: ['guest\nx'] }],
  ] as const) {
    rec.rejected.length = 0
    const r = await run(filter, await sign(claims))
    t.same(r.verdict, INVALID, `${name}: refused`)
    t.same(rec.rejected, ['header_injection'], `${name}: counted`)
    t.notOk(Object.keys(r.sent).some((k) => k.startsWith('x-chaperone-')), `${name}: nothing set`)
  }
  const { filter: notSent } = build({ identity: { headers: { tier: null } } })
  t.same((await run(notSent, await sign({ sub: 'a', tier: 'gold\0' }))).verdict, INVALID, 'refused even for a header that is not sent')
})

t.test('a lone surrogate in a claim is refused, not thrown', async (t) => {
  const { filter, rec } = build({})
  // JSON.stringify escapes a lone surrogate as \ud800; the token decodes back to it.
  const r = await run(filter, await sign({ sub: 'x\ud800y' }))
  t.same(r.verdict, INVALID)
  t.same((await run(filter, await sign({ sub: 'x', roles: ['guest', '\udc00'] }))).verdict, INVALID, 'in a role too')
  t.same(rec.rejected, ['header_injection', 'header_injection'])
  t.same((await run(filter, await sign({ sub: '😀' }))).sent['x-chaperone-subject'], '%F0%9F%98%80', 'a surrogate pair is a character like any other')
})

t.test('the token comes from the query string only when configured', async (t) => {
  const tok = await sign({ sub: 'q' })
  const { filter: off } = build({ access: [{ name: 'm', allow: { authenticated: true } }] })
  t.same((await run(off, undefined, [], `?access_token=${tok}`)).verdict, { kind: 'error', code: 'unauthorized', headers: { 'www-authenticate': 'Bearer realm="chaperone"' } }, 'off by default')
  const { filter: on } = build({ jwt: { queryParameter: 'access_token' }, access: [{ name: 'm', allow: { authenticated: true } }] })
  t.same((await run(on, undefined, [], `?x=1&access_token=${tok}`)).verdict, { kind: 'continue' }, 'on when named')
  t.same((await run(on, undefined, [], `?access_token=${tok}&access_token=${tok}`)).verdict, { kind: 'error', code: 'bad_request' }, 'twice: refused')
  t.same((await run(on, undefined, [], '?access_token=')).verdict, INVALID, 'empty: refused')
  t.same((await run(on, 'garbage', [], `?access_token=${tok}`)).verdict, INVALID, 'the header wins over the query')
  t.equal((await run(on, undefined, [], `?x=%2F+1&access_token=${tok}&y`)).query, `?x=%2F+1&access_token=${tok}&y`, 'forwardToken (default): the query goes on as received')
  const { filter: strip } = build({ jwt: { queryParameter: 'access_token', forwardToken: false }, access: [{ name: 'm', allow: { authenticated: true } }] })
  const stripped = await run(strip, undefined, [], `?x=%2F+1&access%5Ftoken=${tok}&y`)
  t.same(stripped.verdict, { kind: 'continue' })
  t.equal(stripped.query, '?x=%2F+1&y', 'forwardToken false: the token leaves the URL, every other parameter byte for byte')
  t.equal((await run(strip, undefined, [], `?access_token=${tok}`)).query, '', 'nothing left: no query at all')
})

t.test('identity header values are always percent-decodable; reserved names are refused at load', async (t) => {
  const { filter } = build({})
  const sent = (await run(filter, await sign({ sub: 'a%41b', tenant: '100% real', roles: ['guest', 'x%y'] }))).sent
  t.equal(sent['x-chaperone-subject'], 'a%2541b', 'a literal % is encoded, so decoding gives back what the token said')
  t.equal(sent['x-chaperone-tenant'], '100%25%20real')
  t.same(sent['x-chaperone-roles']!.split(','), ['guest', 'x%25y'])
  for (const name of ['Host', 'content-length', 'authorization', 'x-forwarded-for', 'transfer-encoding']) {
    const r = authzFactory.schema.safeParse({ identity: { headers: { subject: name } } })
    t.notOk(r.success, `${name} cannot carry identity`)
  }
  t.ok(authzFactory.schema.safeParse({ identity: { headers: { subject: 'x-user' } } }).success)
})

/** A jwks port whose getKey counts the signature checks it serves. */
async function countingJwks() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const local = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] })
  const state = { calls: 0 }
  const getKey: JWTVerifyGetKey = (header, token) => {
    state.calls++
    return local(header, token)
  }
  const port = { get: () => ({ getKey, keysVersion: () => 1 }) }
  const signRs = (claims: JWTPayload) => new SignJWT({ iat: T0 - 60, exp: T0 + 3600, ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISS).setAudience(AUD).sign(privateKey)
  return { port, state, signRs }
}

const remoteIssuer = { issuer: ISS, audiences: [AUD], algorithms: ['RS256'], jwksUri: 'https://idp.example/jwks' }

t.test('token cache: a repeated token is not verified again', async (t) => {
  const j = await countingJwks()
  const { filter } = build({ jwt: { issuers: [remoteIssuer] } }, { jwks: j.port })
  const tok = await j.signRs({ sub: 'alice' })
  t.same((await run(filter, tok)).verdict, { kind: 'continue' })
  t.equal(j.state.calls, 1)
  const again = await run(filter, tok)
  t.same(again.verdict, { kind: 'continue' })
  t.equal(again.principal!.subject, 'alice', 'the cached principal')
  t.equal(j.state.calls, 1, 'no second signature check')
  const tampered = tok.slice(0, -2) + (tok.endsWith('AA') ? 'BB' : 'AA')
  t.same((await run(filter, tampered)).verdict, INVALID, 'a token differing in its signature is not the cached one')
  t.equal(j.state.calls, 2)
  const other = await j.signRs({ sub: 'bob' })
  t.equal((await run(filter, other)).principal!.subject, 'bob')
  t.equal(j.state.calls, 3)

  const { filter: off } = build({ jwt: { issuers: [remoteIssuer], cacheEntries: 0 } }, { jwks: j.port })
  await run(off, tok)
  await run(off, tok)
  t.equal(j.state.calls, 5, 'cacheEntries: 0 verifies every time')
})

t.test('token cache: an entry lives until exp plus the skew', async (t) => {
  const j = await countingJwks()
  const clock = { ms: T0 * 1000 }
  const { filter, rec } = build({ jwt: { issuers: [remoteIssuer], clockSkewSeconds: 30 } }, { jwks: j.port }, clock)
  const tok = await j.signRs({ sub: 'alice', exp: T0 + 60 })
  t.same((await run(filter, tok)).verdict, { kind: 'continue' })
  clock.ms = (T0 + 89) * 1000 + 999
  t.same((await run(filter, tok)).verdict, { kind: 'continue' }, 'exp + 29.999 s: still served')
  t.equal(j.state.calls, 1, 'from the cache')
  clock.ms = (T0 + 90) * 1000
  t.same((await run(filter, tok)).verdict, INVALID, 'exp + 30 s: gone, and a fresh check says expired')
  t.equal(j.state.calls, 2)
  t.same(rec.rejected, ['ERR_JWT_EXPIRED'])
})

t.test('token cache: bounded, least recently used out first', async (t) => {
  const j = await countingJwks()
  const { filter } = build({ jwt: { issuers: [remoteIssuer], cacheEntries: 2 } }, { jwks: j.port })
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => j.signRs({ sub })))
  await run(filter, a!)
  await run(filter, b!)
  t.equal(j.state.calls, 2)
  await run(filter, a!) // a is now the most recently used
  t.equal(j.state.calls, 2, 'both fit')
  await run(filter, c!) // evicts b
  t.equal(j.state.calls, 3)
  await run(filter, a!)
  await run(filter, c!)
  t.equal(j.state.calls, 3, 'a and c are cached')
  await run(filter, b!)
  t.equal(j.state.calls, 4, 'b was evicted')
})

/** Revocation entries for the memory store, times in epoch seconds. */
const jtiEntry = (jti: string) => ({ kind: 'jti' as const, jti, expiresAt: T0 + 3600, createdAt: T0 })
const subjectEntry = (subject: string, revokedBefore: number) => ({ kind: 'subject' as const, subject, revokedBefore, expiresAt: T0 + 3600, createdAt: T0 })

t.test('revocation: a revoked jti is refused', async (t) => {
  const store = new MemoryRevocationStore({ now: () => T0 * 1000 })
  const { filter, rec } = build({}, { revocations: store })
  const revoked = await sign({ sub: 'alice', jti: 'j-1' })
  const kept = await sign({ sub: 'alice', jti: 'j-2' })
  t.same((await run(filter, revoked)).verdict, { kind: 'continue' }, 'before')
  await store.add(jtiEntry('j-1'))
  t.same((await run(filter, revoked)).verdict, INVALID, 'after: 401, and the token was cached')
  t.same((await run(filter, kept)).verdict, { kind: 'continue' }, 'another jti of the same subject')
  t.same(rec.rejected, ['revoked'])
})

t.test('revocation: revokedBefore refuses older tokens of the subject and accepts newer ones', async (t) => {
  const store = new MemoryRevocationStore({ now: () => T0 * 1000 })
  const { filter } = build({}, { revocations: store })
  await store.add(subjectEntry('alice', T0 - 30))
  t.same((await run(filter, await sign({ sub: 'alice', iat: T0 - 31 }))).verdict, INVALID, 'issued before')
  t.same((await run(filter, await sign({ sub: 'alice', iat: T0 - 30 }))).verdict, { kind: 'continue' }, 'issued at revokedBefore: a fresh login')
  t.same((await run(filter, await sign({ sub: 'alice', iat: T0 - 1 }))).verdict, { kind: 'continue' }, 'issued after')
  const noIat = await new SignJWT({ sub: 'alice', exp: T0 + 60 }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISS).setAudience(AUD).sign(SECRET)
  t.same((await run(filter, noIat)).verdict, INVALID, 'no iat: cannot prove it is newer')
  t.same((await run(filter, await sign({ sub: 'bob', iat: T0 - 31 }))).verdict, { kind: 'continue' }, 'another subject')
})

t.test('revocation: a cached token revoked afterwards is refused on the next request', async (t) => {
  const store = new MemoryRevocationStore({ now: () => T0 * 1000 })
  const j = await countingJwks()
  const { filter } = build({ jwt: { issuers: [remoteIssuer] } }, { revocations: store, jwks: j.port })
  const tok = await j.signRs({ sub: 'alice', jti: 'j-9' })
  await run(filter, tok)
  await run(filter, tok)
  t.equal(j.state.calls, 1, 'cached')
  await store.add(subjectEntry('alice', T0))
  t.same((await run(filter, tok)).verdict, INVALID)
  t.equal(j.state.calls, 1, 'refused from the cache, without a new signature check')
  await store.remove('subject', 'alice')
  t.same((await run(filter, tok)).verdict, { kind: 'continue' }, 'an entry removed lets it through again')
})

t.test('revocation: a stale store follows onStale', async (t) => {
  const memory = new MemoryRevocationStore({ now: () => T0 * 1000 })
  await memory.add(jtiEntry('j-bad'))
  const stale: RevocationStore = { isRevoked: (id) => memory.isRevoked(id), staleness: () => 60_000, add: (e) => memory.add(e), remove: (k, key, i) => memory.remove(k, key, i), list: () => memory.list() }
  const tok = await sign({ sub: 'alice', jti: 'j-ok' })

  const deny = build({ identity: { revocation: { maxStaleSeconds: 5, onStale: 'deny' } } }, { revocations: stale })
  t.same((await run(deny.filter, tok)).verdict, { kind: 'error', code: 'dependency_unavailable' }, 'deny: 503')
  t.same(deny.rec.dependency, [['revocation', 'deny']])
  t.same((await run(deny.filter, undefined)).verdict, { kind: 'continue' }, 'deny: a request without a token does not need the list')

  const allow = build({ identity: { revocation: { maxStaleSeconds: 5, onStale: 'allow' } } }, { revocations: stale })
  t.same((await run(allow.filter, tok)).verdict, { kind: 'continue' }, 'allow: passes')
  t.same(allow.rec.dependency, [['revocation', 'allow']], 'and is counted')
  t.same((await run(allow.filter, await sign({ sub: 'alice', jti: 'j-bad' }))).verdict, INVALID, 'allow: the last copy still refuses what it knows')

  const fresh = build({ identity: { revocation: { maxStaleSeconds: 120, onStale: 'deny' } } }, { revocations: stale })
  t.same((await run(fresh.filter, tok)).verdict, { kind: 'continue' }, 'within maxStaleSeconds: not stale')
  t.same(fresh.rec.dependency, [])
})
