/**
 * Revocation through the admin API and the proxy: two Chaperone instances share one real
 * redis-server, as two replicas of a deployment would; a revocation made on one is enforced by
 * the other. Then Redis dies, and the onStale policy decides.
 */
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { startRedisServer } from '../helpers/redis-server.js'
import type { ProcessConfig } from '../../src/core/config/process-schema.js'

const ISS = 'https://idp.test/'
const SECRET = randomBytes(32).toString('hex')

function policy(revocation = ''): string {
  return `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: revocation }
spec:
  identity:
    jwt:
      issuers:
        - { issuer: '${ISS}', audiences: [chatbot], algorithms: [HS256], hmacSecretFile: hmac.secret }
${revocation}
  roles: { user: {} }
  access:
    - name: users
      match: { paths: [/echo/**] }
      allow: { roles: [user] }
`
}

interface Token {
  token: string
  jti: string
  exp: number
}

async function sign(sub: string, opts: { iatAgo?: number } = {}): Promise<Token> {
  const now = Math.floor(Date.now() / 1000)
  const jti = randomUUID()
  const exp = now + 600
  const token = await new SignJWT({ roles: ['user'] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISS)
    .setAudience('chatbot')
    .setSubject(sub)
    .setJti(jti)
    .setIssuedAt(now - (opts.iatAgo ?? 0))
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(SECRET))
  return { token, jti, exp }
}

async function call(stack: Stack, tok: Token): Promise<{ status: number; code?: string }> {
  const r = await fetch(`${stack.chaperone.proxyUrl}/echo/x`, { headers: { authorization: `Bearer ${tok.token}` } })
  const body = (await r.json()) as { error?: { code?: string } }
  return { status: r.status, ...(body.error?.code ? { code: body.error.code } : {}) }
}

const status = async (stack: Stack, tok: Token) => (await call(stack, tok)).status

async function admin(stack: Stack, method: string, path: string, body?: unknown, token: string | null = 'test-token'): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  const r = await fetch(`${stack.chaperone.adminUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  return { status: r.status, body: await r.json() }
}

/** Polls until `cond` holds or `ms` pass; resolves to the time it took, or undefined. */
async function within(ms: number, cond: () => Promise<boolean>): Promise<number | undefined> {
  const started = performance.now()
  for (;;) {
    if (await cond()) return performance.now() - started
    if (performance.now() - started > ms) return undefined
    await new Promise((r) => setTimeout(r, 10))
  }
}

const files = () => ({ 'policy.yaml': policy(), 'hmac.secret': SECRET })

t.test('two instances sharing one Redis', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const shared = { adjust: (c: ProcessConfig) => ({ ...c, redis: { ...c.redis, url: redis.url } }), files: files() }
  const a = await startStack(shared)
  t.teardown(() => a.close())
  const b = await startStack(shared)
  t.teardown(() => b.close())

  const lost = await sign('alice')
  const kept = await sign('alice')
  t.equal(await status(a, lost), 200)
  t.equal(await status(b, lost), 200, 'verified (and cached) on B before the revocation')

  t.test('a jti revoked on A is refused on B within 1 s', async (t) => {
    const r = await admin(a, 'POST', '/admin/revocations', { jti: lost.jti, expiresAt: lost.exp, reason: 'laptop stolen' })
    t.equal(r.status, 201)
    t.equal(r.body.revoked.kind, 'jti')
    t.equal(r.body.revoked.jti, lost.jti)
    t.equal(await status(a, lost), 401, 'at once on the instance that took it')
    const delay = await within(1000, async () => (await status(b, lost)) === 401)
    t.ok(delay !== undefined, 'refused on B before the deadline')
    t.comment(`revocation visible on the other instance after ${delay?.toFixed(0)} ms (pollMs ${b.chaperone.config.revocations.pollMs})`)
    t.equal(await status(b, kept), 200, 'another token of the same subject is unaffected')
    const m = await (await fetch(`${b.chaperone.adminUrl}/metrics`)).text()
    t.match(m, /chaperone_authz_tokens_rejected_total\{reason="revoked"\} [1-9]/)
  })

  t.test('a subject revoked before a time: older tokens refused on both, newer accepted', async (t) => {
    const old = await sign('bob', { iatAgo: 60 })
    t.equal(await status(b, old), 200)
    const revokedBefore = new Date(Date.now() - 10_000).toISOString()
    const r = await admin(a, 'POST', '/admin/revocations', { subject: 'bob', revokedBefore, reason: 'log out everywhere' })
    t.equal(r.status, 201)
    t.equal(r.body.revoked.revokedBefore, Math.floor(Date.parse(revokedBefore) / 1000), 'RFC 3339 read as epoch seconds')
    t.equal(await status(a, old), 401)
    t.ok((await within(1000, async () => (await status(b, old)) === 401)) !== undefined, 'refused on B too')
    const fresh = await sign('bob')
    t.equal(await status(a, fresh), 200, 'a token issued after revokedBefore is accepted on A')
    t.equal(await status(b, fresh), 200, 'and on B')
  })

  t.test('GET lists what every instance enforces', async (t) => {
    for (const s of [a, b]) {
      const r = await admin(s, 'GET', '/admin/revocations')
      t.equal(r.status, 200)
      const list = r.body.revocations as { kind: string; jti?: string; subject?: string }[]
      t.ok(list.some((e) => e.kind === 'jti' && e.jti === lost.jti))
      t.ok(list.some((e) => e.kind === 'subject' && e.subject === 'bob'))
    }
  })

  t.test('DELETE un-revokes, on every instance', async (t) => {
    const r = await admin(b, 'DELETE', `/admin/revocations?jti=${encodeURIComponent(lost.jti)}`)
    t.equal(r.status, 200)
    t.equal(r.body.removed, 1)
    t.equal(await status(b, lost), 200, 'at once where it was deleted')
    t.ok((await within(1000, async () => (await status(a, lost)) === 200)) !== undefined, 'and soon on A')
    t.equal((await admin(b, 'DELETE', `/admin/revocations?jti=${encodeURIComponent(lost.jti)}`)).body.removed, 0, 'a second DELETE removes nothing')
    const list = (await admin(a, 'GET', '/admin/revocations')).body.revocations as { jti?: string }[]
    t.notOk(list.some((e) => e.jti === lost.jti))
  })

  t.test('the admin API needs the admin token', async (t) => {
    const entry = { jti: 'x', expiresAt: Math.floor(Date.now() / 1000) + 60 }
    for (const token of [null, 'wrong-token', ''] as const) {
      const post = await admin(a, 'POST', '/admin/revocations', entry, token)
      t.equal(post.status, 401, `POST with ${JSON.stringify(token)}`)
      t.equal((await admin(a, 'GET', '/admin/revocations', undefined, token)).status, 401, `GET with ${JSON.stringify(token)}`)
    }
    const list = (await admin(a, 'GET', '/admin/revocations')).body.revocations as { jti?: string }[]
    t.notOk(list.some((e) => e.jti === 'x'), 'nothing was added')
    t.equal((await admin(a, 'DELETE', '/admin/revocations?subject=bob', undefined, null)).status, 401, 'DELETE too')
  })

  t.test('bad input: 400', async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const cases: [string, unknown][] = [
      ['not JSON', '{"jti":'],
      ['an array', [{ jti: 'x', expiresAt: now }]],
      ['empty object', {}],
      ['jti and subject', { jti: 'x', subject: 'y', expiresAt: now + 60 }],
      ['jti without expiresAt', { jti: 'x' }],
      ['empty jti', { jti: '', expiresAt: now + 60 }],
      ['jti not a string', { jti: 42, expiresAt: now + 60 }],
      ['expiresAt not a time', { jti: 'x', expiresAt: 'tomorrow' }],
      ['revokedBefore not a time', { subject: 'y', revokedBefore: 'yesterday' }],
      ['retainSeconds negative', { subject: 'y', retainSeconds: -1 }],
      ['reason not a string', { subject: 'y', reason: 7 }],
    ]
    for (const [name, body] of cases) {
      const r = await admin(a, 'POST', '/admin/revocations', body)
      t.equal(r.status, 400, name)
      t.equal(r.body.error, 'bad_request', name)
    }
    t.equal((await admin(a, 'DELETE', '/admin/revocations')).status, 400, 'DELETE without ?jti= or ?subject=')
    t.equal((await admin(a, 'DELETE', '/admin/revocations?jti=a&subject=b')).status, 400, 'DELETE with both')
    t.equal((await admin(a, 'PUT', '/admin/revocations', {})).status, 405, 'PUT')
  })

  t.test('Redis gone: the last view is enforced; onStale: deny refuses with 503', async (t) => {
    const old = await sign('bob', { iatAgo: 60 })
    const fine = await sign('carol')
    await redis.kill()
    t.equal((await admin(a, 'POST', '/admin/revocations', { subject: 'carol' })).status, 503, 'a revocation cannot be stored')
    // Past any poll: both instances now know they cannot reach Redis.
    t.ok((await within(3000, async () => b.logs.lines.some((l) => /cannot sync revocations/.test(String(l.msg))))) !== undefined)
    for (const s of [a, b]) {
      t.equal(await status(s, old), 401, 'a revoked subject stays refused (onStale: allow checks the last copy)')
      t.equal(await status(s, fine), 200, 'other tokens still pass')
    }

    await writeFile(join(b.dir, 'policy.yaml'), policy('    revocation: { onStale: deny, maxStaleSeconds: 0.2 }'))
    const reloaded = await b.chaperone.reload('test')
    t.equal(reloaded.outcome, 'success')
    t.ok((await within(3000, async () => (await status(b, fine)) === 503)) !== undefined, 'B refuses tokens once its copy is older than maxStaleSeconds')
    const r = await call(b, fine)
    t.same(r, { status: 503, code: 'dependency_unavailable' })
    t.equal(await status(a, fine), 200, 'A (onStale: allow) still serves')
    const m = await (await fetch(`${b.chaperone.adminUrl}/metrics`)).text()
    t.match(m, /chaperone_authz_dependency_errors_total\{dependency="revocation",policy="deny"\} [1-9]/)
  })
})

t.test('without Redis, one instance revokes in memory', async (t) => {
  const s = await startStack({ files: files() })
  t.teardown(() => s.close())
  const tok = await sign('dave')
  t.equal(await status(s, tok), 200)
  t.equal((await admin(s, 'POST', '/admin/revocations', { jti: tok.jti, expiresAt: tok.exp })).status, 201)
  t.equal(await status(s, tok), 401, 'revoked at once')
  t.equal((await admin(s, 'GET', '/admin/revocations')).body.revocations.length, 1)
  t.equal((await admin(s, 'DELETE', `/admin/revocations?jti=${tok.jti}`)).body.removed, 1)
  t.equal(await status(s, tok), 200, 'and back')
  t.equal((await admin(s, 'POST', '/admin/revocations', { jti: tok.jti, expiresAt: tok.exp, issuer: 'https://other.test/' })).status, 201)
  t.equal(await status(s, tok), 200, 'an entry scoped to another issuer does not apply')
  t.equal((await admin(s, 'DELETE', `/admin/revocations?jti=${tok.jti}`)).body.removed, 1)
  const old = await sign('dave', { iatAgo: 30 })
  t.equal((await admin(s, 'POST', '/admin/revocations', { subject: 'dave', revokedBefore: Math.floor(Date.now() / 1000) - 5 })).status, 201)
  t.equal(await status(s, old), 401, 'a subject revocation covers older tokens')
  t.equal(await status(s, await sign('dave')), 200, 'not newer ones')
})
