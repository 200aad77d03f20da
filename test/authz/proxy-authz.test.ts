/**
 * Authz through the real proxy: the demo chatbot behind Chaperone, tokens made here, keys in the
 * config directory next to the policy. Paths are sent over raw sockets so that no client library
 * normalizes them first; what the chatbot received is read back from its /echo route.
 */
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { SignJWT } from 'jose'
import { startStack, type Stack } from '../helpers/chaperone.js'
import { jwksJson, signingKey, type SigningKey } from '../helpers/jwt.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'

const HMAC_ISS = 'https://hmac.test/'
const KEYS_ISS = 'https://keys.test/'
const SECRET = randomBytes(32).toString('hex')


interface Claims {
  sub?: string
  roles?: string[]
  tenant?: string
  jti?: string
  expIn?: number
  aud?: string
}

async function sign(c: Claims, key?: SigningKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payload: Record<string, unknown> = { roles: c.roles ?? [] }
  if (c.tenant) payload.tenant = c.tenant
  let jwt = new SignJWT(payload)
    .setIssuedAt(now)
    .setExpirationTime(now + (c.expIn ?? 600))
    .setAudience(c.aud ?? 'chatbot')
    .setJti(c.jti ?? randomUUID())
    .setSubject(c.sub ?? 'alice')
  if (key) return jwt.setIssuer(KEYS_ISS).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey)
  jwt = jwt.setIssuer(HMAC_ISS).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  return jwt.sign(new TextEncoder().encode(SECRET))
}

function policy(extraRules = '', jwksFile = 'jwks.json'): string {
  return `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: authz-e2e }
spec:
  identity:
    jwt:
      issuers:
        - issuer: ${HMAC_ISS}
          audiences: [chatbot]
          algorithms: [HS256]
          hmacSecretFile: hmac.secret
        - issuer: ${KEYS_ISS}
          audiences: [chatbot]
          algorithms: [RS256, ES256]
          jwksFile: ${jwksFile}
    anonymous: { role: guest }
  roles:
    guest: {}
    user: { inherits: [guest] }
    admin: { inherits: [guest] }
    suspended: {}
  access:
    - name: public
      match: { paths: [/v1/public/**, /echo/public/**] }
      allow: { roles: [guest] }
    - name: chat
      match: { paths: [/v1/chat/completions, /v1/models] }
      allow: { roles: [user] }
    - name: echo-for-users
      match: { paths: [/echo/**] }
      allow: { roles: [user] }
    - name: admin-area
      match: { paths: [/admin/**, /v1/admin, /echo/admin/**] }
      allow: { roles: [admin] }
    - name: users-out-of-admin
      match: { paths: [/echo/admin/**] }
      deny: { roles: [user] }
    - name: users-out-of-staff
      match: { paths: [/echo/staff/**], ignoreCase: true }
      deny: { roles: [user] }
    - name: suspended-out
      deny: { roles: [suspended] }
    - name: experimental-closing
      match: { paths: [/echo/experimental/**] }
      deny: { roles: [user] }
      mode: audit
    - name: never
      match: { paths: [/v1/never] }
      allow: { roles: [admin] }
      when: 'false'
    - name: legacy-open
      match: { paths: [/v1/legacy/**] }
      allow: { roles: [guest] }
    - name: legacy-closed
      match: { paths: [/v1/legacy/**] }
      deny: { roles: [guest] }
${extraRules}`
}

/** One request over a fresh socket, bytes exactly as given. */
function send(stack: Stack, target: string, headers: Record<string, string> | [string, string][] = {}): Promise<RawResponse> {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers)
  const head = pairs.map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return rawRequest(stack.chaperone.proxyUrl, `GET ${target} HTTP/1.1\r\nHost: chaperone.test\r\n${head}Connection: close\r\n\r\n`)
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

function json(r: RawResponse): Record<string, any> {
  return JSON.parse(r.body.toString('utf8')) as Record<string, any>
}

/** What the chatbot received, from its /echo reply. */
function echoed(r: RawResponse): { url: string; headers: [string, string][] } {
  return json(r) as { url: string; headers: [string, string][] }
}

function headerValues(pairs: [string, string][], name: string): string[] {
  return pairs.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
}

/** Log lines of one request, by the id Chaperone put on the reply. */
function linesOf(stack: Stack, r: RawResponse): Record<string, unknown>[] {
  const id = r.headers['x-request-id']
  return stack.logs.lines.filter((l) => l.requestId === id)
}

async function metricsText(stack: Stack): Promise<string> {
  return (await fetch(`${stack.chaperone.adminUrl}/metrics`)).text()
}

async function adminConfig(stack: Stack): Promise<Record<string, any>> {
  const r = await fetch(`${stack.chaperone.adminUrl}/admin/config`, { headers: bearer('test-token') })
  return (await r.json()) as Record<string, any>
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms
  for (;;) {
    if (await cond()) return true
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A new file content as kubelet and most tools write it: a temp file renamed over the old one. */
async function replaceFile(path: string, content: string): Promise<void> {
  const tmp = join(path, '..', `.${randomUUID()}.tmp`)
  await writeFile(tmp, content)
  await rename(tmp, path)
}

t.test('authz through the proxy', async (t) => {
  const rsa1 = await signingKey('RS256', 'rsa-1')
  const ec1 = await signingKey('ES256', 'ec-1')
  const stack = await startStack({ files: { 'policy.yaml': policy(), 'hmac.secret': `${SECRET}\n`, 'jwks.json': jwksJson(rsa1, ec1) } })
  t.teardown(() => stack.close())
  t.equal(stack.chaperone.store.current()?.version, 1, 'the policy loaded')

  const user = await sign({ sub: 'alice', roles: ['user'], tenant: 'acme' })
  const admin = await sign({ sub: 'root', roles: ['admin'] }, rsa1)

  t.test('no token: 401 that asks for one', async (t) => {
    const r = await send(stack, '/v1/models')
    t.equal(r.status, 401)
    t.match(r.headers['www-authenticate'], /^Bearer realm="[^"]+"$/)
    t.equal(json(r).error.code, 'unauthorized')
  })

  t.test('a bad token: 401 invalid_token, the reason only in the log', async (t) => {
    const cases: [string, string, RegExp][] = [
      ['expired', await sign({ roles: ['user'], expIn: -3600 }), /ERR_JWT_EXPIRED/],
      ['wrong audience', await sign({ roles: ['user'], aud: 'someone-else' }), /ERR_JWT_CLAIM_VALIDATION_FAILED/],
      ['bad signature', user.slice(0, -4) + (user.endsWith('AAAA') ? 'BBBB' : 'AAAA'), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
      ['not a JWT', 'sk-test', /malformed/],
      ['unknown kid', await sign({ roles: ['user'] }, { ...(await signingKey('RS256', 'nobody-knows-me')) }), /ERR_JWKS_NO_MATCHING_KEY/],
    ]
    for (const [name, token, reason] of cases) {
      const r = await send(stack, '/v1/models', bearer(token))
      t.equal(r.status, 401, name)
      t.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"', name)
      const body = json(r)
      t.same(Object.keys(body.error).sort(), ['code', 'message', 'request_id', 'type'], `${name}: the stable envelope only`)
      t.equal(body.error.code, 'unauthorized', name)
      t.notMatch(r.body.toString(), reason, `${name}: no reason in the body`)
      t.notMatch(r.body.toString(), /ERR_|expired|audience|signature|kid/i, `${name}: nothing that says why`)
      const refused = linesOf(stack, r).find((l) => l.msg === 'token refused')
      t.match(String(refused?.reason), reason, `${name}: the reason is logged`)
    }
  })

  t.test('a missing role: 403 forbidden, the rule named only in the log', async (t) => {
    const r = await send(stack, '/echo/admin/x', bearer(user))
    t.equal(r.status, 403)
    t.equal(json(r).error.code, 'forbidden')
    t.notMatch(r.body.toString(), /users-out-of-admin|admin-area/)
    t.equal(linesOf(stack, r).find((l) => l.msg === 'access denied')?.rule, 'users-out-of-admin')

    const suspended = await sign({ sub: 'bob', roles: ['user', 'suspended'] })
    const s = await send(stack, '/echo/anything', bearer(suspended))
    t.equal(s.status, 403, 'a deny on any path beats the allow')
    t.notMatch(s.body.toString(), /suspended/)
    t.equal(linesOf(stack, s).find((l) => l.msg === 'access denied')?.rule, 'suspended-out')

    const nothing = await sign({ roles: [] })
    const d = await send(stack, '/v1/models', bearer(nothing))
    t.equal(d.status, 403, 'a valid token without the role is forbidden, not unauthorized')
    t.equal(linesOf(stack, d).find((l) => l.msg === 'access denied')?.rule, '(default)')

    const typo = await sign({ roles: ['Admin ', 'ADMIN'] }, rsa1)
    t.equal((await send(stack, '/echo/admin/x', bearer(typo))).status, 403, '"Admin " and "ADMIN" are not "admin"')
    const single = await sign({ roles: 'admin' as unknown as string[] }, rsa1)
    t.equal((await send(stack, '/echo/admin/x', bearer(single))).status, 200, 'a single role as a string is that role')
  })

  t.test('the anonymous role serves unauthenticated requests where it is allowed', async (t) => {
    const r = await send(stack, '/echo/public/hello?q=1')
    t.equal(r.status, 200)
    t.equal(echoed(r).url, '/echo/public/hello?q=1')
    t.equal((await send(stack, '/echo/users/hello')).status, 401, 'and nowhere else')
  })

  t.test('path bypass attempts are refused or forwarded as exactly the path authorized', async (t) => {
    const rawHash = await rawRequest(stack.chaperone.proxyUrl, 'GET /admin#x HTTP/1.1\r\nHost: chaperone.test\r\nConnection: close\r\n\r\n')
    t.equal(rawHash.status, 400, 'a fragment on the wire')
    t.equal(json(rawHash).error.code, 'invalid_path')

    // [target, who, expected]: a status, or the canonical path the chatbot must have received.
    const attempts: [string, 'anonymous' | 'user' | 'admin', number | string][] = [
      ['/v1/public/../admin', 'anonymous', 401],
      ['/v1/public/%2e%2e/admin', 'anonymous', 401],
      ['/v1/public/%2E%2E/admin', 'anonymous', 401],
      ['/v1/public/.%2e/.%2E/admin/x', 'anonymous', 401],
      ['/v1/public/..%2Fadmin', 'anonymous', 400],
      ['/v1/public%2F..%2F..%2Fadmin', 'anonymous', 400],
      ['/v1/public/..%252Fadmin', 'anonymous', 400],
      ['/v1/public/..%25252Fadmin', 'anonymous', 400],
      ['/v1/public/..%5Cadmin', 'anonymous', 400],
      ['/v1/public/..\\admin', 'anonymous', 400],
      ['//admin', 'anonymous', 401],
      ['//admin/users', 'user', 403],
      ['/v1//admin', 'user', 403],
      ['/admin;x=y', 'anonymous', 400],
      ['/v1/public/x;/../../admin', 'anonymous', 400],
      ['/admin#x', 'anonymous', 400],
      ['/v1/public/x#/../../admin', 'anonymous', 400],
      ['/v1/public/%00/../../admin', 'anonymous', 400],
      ['/ADMIN', 'anonymous', 401],
      ['/ADMIN', 'admin', 403],
      ['/V1/Public/x', 'anonymous', 401],
      // Forwarded: the chatbot sees the canonical path, the one the rules were matched on.
      ['/echo/public/./x', 'anonymous', '/echo/public/x'],
      ['/echo/public/a/../x', 'anonymous', '/echo/public/x'],
      ['/echo/public/%78%2d%7e', 'anonymous', '/echo/public/x-~'],
      ['//echo//public//x', 'anonymous', '/echo/public/x'],
      ['/echo/public/../admin/x', 'anonymous', 401],
      ['/echo/public/%2e%2e/admin/x', 'anonymous', 401],
      ['/echo/users/../admin/x', 'user', 403],
      ['/echo//admin/x', 'user', 403],
      ['/echo/public/../admin/x', 'admin', '/echo/admin/x'],
      ['/echo/public/%2e%2e/admin/x', 'admin', '/echo/admin/x'],
      ['/echo/public/../../echo/admin/x', 'admin', '/echo/admin/x'],
      ['/echo/../../../echo/admin/x', 'admin', '/echo/admin/x'],
      // Case: the case-sensitive deny does not match /ADMIN, and /ADMIN is what is forwarded ...
      ['/echo/ADMIN/x', 'user', '/echo/ADMIN/x'],
      // ... while the deny written with ignoreCase matches any spelling.
      ['/echo/staff/x', 'user', 403],
      ['/echo/STAFF/x', 'user', 403],
      ['/echo/StAfF/%2e/x', 'user', 403],
    ]
    const tokens = { anonymous: undefined, user, admin }
    for (const [target, who, expected] of attempts) {
      const token = tokens[who]
      const r = await send(stack, target, token ? bearer(token) : {})
      const label = `${who} ${target}`
      if (typeof expected === 'number') {
        t.equal(r.status, expected, label)
        t.equal(json(r).error?.code, { 400: 'invalid_path', 401: 'unauthorized', 403: 'forbidden' }[expected], label)
      } else {
        t.equal(r.status, 200, label)
        t.equal(echoed(r).url, expected, `${label} reached the chatbot as ${expected}`)
      }
    }
    // /ADMIN is not the admin rule: an admin's token does not open it.
    const up = await send(stack, '/ADMIN', bearer(admin))
    t.equal(linesOf(stack, up).find((l) => l.msg === 'access denied')?.rule, '(default)')
    const path = await send(stack, '/v1/public/..%2Fadmin')
    t.match(JSON.stringify(linesOf(stack, path)), /encoded slash/, 'the refusal reason is logged')
    t.notMatch(path.body.toString(), /slash/, 'and not sent')
  })

  t.test('a WebSocket handshake is refused like any request, with the same WWW-Authenticate', async (t) => {
    const upgrade = (auth: string) =>
      rawRequest(
        stack.chaperone.proxyUrl,
        `GET /echo/users/ws HTTP/1.1\r\nHost: chaperone.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${auth}\r\n`,
      )
    const none = await upgrade('')
    t.equal(none.status, 401)
    t.match(none.headers['www-authenticate'], /^Bearer realm="[^"]+"$/)
    const bad = await upgrade('Authorization: Bearer a.b.c\r\n')
    t.equal(bad.status, 401)
    t.equal(bad.headers['www-authenticate'], 'Bearer error="invalid_token"')
    const forbidden = await upgrade(`Authorization: Bearer ${await sign({ roles: ['user', 'suspended'] })}\r\n`)
    t.equal(forbidden.status, 403)
    t.equal(JSON.parse(forbidden.body.toString()).error.code, 'forbidden')
  })

  t.test('identity headers come from the token; the client cannot send its own', async (t) => {
    const forged: [string, string][] = [
      ['X-Chaperone-Subject', 'mallory'],
      ['x-chaperone-roles', 'admin'],
      ['X-CHAPERONE-TENANT', 'evil'],
      ['x-chaperone-subject', 'mallory2'],
    ]
    const r = await send(stack, '/echo/users/me', [...forged, ['authorization', `Bearer ${user}`]])
    t.equal(r.status, 200)
    const h = echoed(r).headers
    t.same(headerValues(h, 'x-chaperone-subject'), ['alice'])
    t.same(headerValues(h, 'x-chaperone-roles'), ['user,guest'], 'effective roles, inheritance expanded')
    t.same(headerValues(h, 'x-chaperone-tenant'), ['acme'])
    t.same(headerValues(h, 'authorization'), [`Bearer ${user}`], 'the token is forwarded (forwardToken defaults to true)')

    const anon = await send(stack, '/echo/public/me', forged)
    t.equal(anon.status, 200)
    const a = echoed(anon).headers
    t.same(headerValues(a, 'x-chaperone-subject'), [], 'anonymous: no subject at all')
    t.same(headerValues(a, 'x-chaperone-roles'), ['guest'])
    t.same(headerValues(a, 'x-chaperone-tenant'), [])

    const injected = await send(stack, '/echo/users/me', bearer(await sign({ sub: 'eve\r\nx-chaperone-roles: admin', roles: ['user'] })))
    t.equal(injected.status, 401, 'a claim with CR/LF for an identity header refuses the request')
    t.equal(injected.headers['www-authenticate'], 'Bearer error="invalid_token"')
    const unicode = await send(stack, '/echo/users/me', bearer(await sign({ sub: 'zoë', roles: ['user', 'a,b'] })))
    t.equal(unicode.status, 200)
    t.same(headerValues(echoed(unicode).headers, 'x-chaperone-subject'), ['zo%C3%AB'], 'non-ASCII is percent-encoded')
    const roles = headerValues(echoed(unicode).headers, 'x-chaperone-roles')
    t.equal(roles.length, 1)
    t.same(roles[0]!.split(',').sort(), ['a%2Cb', 'guest', 'user'], 'a comma inside a role cannot split it')
  })

  t.test('two Authorization headers: 400', async (t) => {
    const r = await send(stack, '/echo/users/x', [
      ['Authorization', `Bearer ${user}`],
      ['authorization', `Bearer ${admin}`],
    ])
    t.equal(r.status, 400)
    t.equal(json(r).error.code, 'bad_request')
    const same = await send(stack, '/echo/public/x', [
      ['authorization', `Bearer ${user}`],
      ['authorization', `Bearer ${user}`],
    ])
    t.equal(same.status, 400, 'even when both are the same valid token')
    const hosts = await rawRequest(stack.chaperone.proxyUrl, 'GET /echo/public/x HTTP/1.1\r\nHost: a.test\r\nHOST: b.test\r\nConnection: close\r\n\r\n')
    t.equal(hosts.status, 400, 'two Host headers too')
    const absolute = await send(stack, 'http://chaperone.test/admin')
    t.equal(absolute.status, 400, 'an absolute-form target is refused')
    t.equal(json(absolute).error.code, 'bad_request')
  })

  t.test('audit rules: what they would deny passes, is logged and counted', async (t) => {
    const r = await send(stack, '/echo/experimental/x', bearer(user))
    t.equal(r.status, 200)
    t.equal(echoed(r).url, '/echo/experimental/x')
    const audit = linesOf(stack, r).find((l) => /authz audit/.test(String(l.msg)))
    t.equal(audit?.rule, 'experimental-closing')
    t.equal(audit?.wouldAllow, false)
    const m = await metricsText(stack)
    t.match(m, /chaperone_authz_decisions_total\{rule="experimental-closing",decision="deny",mode="audit"\} [1-9]/)
    t.match(m, /chaperone_authz_decisions_total\{rule="echo-for-users",decision="allow",mode="enforce"\} [1-9]/)
  })

  t.test('lint warnings show on /admin/config', async (t) => {
    const warnings = (await adminConfig(stack)).warnings as string[]
    t.ok(warnings.some((w) => /^policy\.yaml:spec\.access\[\d+\]\.when: .*never.*can never match/.test(w)), 'a rule whose condition is always false')
    t.ok(warnings.some((w) => /^policy\.yaml:spec\.access\[\d+\]\.allow.*guest.*legacy-open.*legacy-closed/.test(w)), 'a role both allowed and denied on the same requests')
    t.equal(warnings.length, 2, `nothing else: ${warnings.join('; ')}`)
  })

  t.test('the openai SDK with a JWT as its API key', async (t) => {
    const client = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: user, maxRetries: 0 })
    const messages = [{ role: 'user' as const, content: 'hello through authz' }]
    const a = await client.chat.completions.create({ model: 'demo', messages })
    t.ok(a.choices[0]!.message.content!.length > 0)
    const stream = await client.chat.completions.create({ model: 'demo', messages, stream: true }, { headers: { 'x-demo-deltas': '5' } })
    const deltas: string[] = []
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content)
    t.equal(deltas.length, 5)
    t.equal(deltas.join(''), a.choices[0]!.message.content)

    const bad = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: 'sk-not-a-jwt', maxRetries: 0 })
    const err = await bad.chat.completions.create({ model: 'demo', messages }).catch((e: unknown) => e)
    t.ok(err instanceof OpenAI.AuthenticationError, 'AuthenticationError')
    t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 401)
    t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'unauthorized')
    const expired = new OpenAI({ baseURL: `${stack.chaperone.proxyUrl}/v1`, apiKey: await sign({ roles: ['user'], expIn: -60 }), maxRetries: 0 })
    const err2 = await expired.chat.completions.create({ model: 'demo', messages, stream: true }).catch((e: unknown) => e)
    t.ok(err2 instanceof OpenAI.AuthenticationError, 'streaming too')
  })

  t.test('replacing the jwksFile reloads its keys without touching the policy', async (t) => {
    const rsa2 = await signingKey('RS256', 'rsa-2')
    const before = stack.chaperone.store.current()!
    const oldToken = await sign({ roles: ['user'] }, rsa1)
    const oldEc = await sign({ roles: ['user'] }, ec1)
    t.equal((await send(stack, '/echo/users/x', bearer(oldToken))).status, 200, 'the old key verifies before')
    await replaceFile(join(stack.dir, 'jwks.json'), jwksJson(rsa2))
    await stack.chaperone.reload('test')
    const after = stack.chaperone.store.current()!
    t.ok(after.version > before.version, 'a new snapshot')
    t.equal(after.digest, before.digest, 'from the same policy YAML')
    const newToken = await sign({ roles: ['user'] }, rsa2)
    t.equal((await send(stack, '/echo/users/x', bearer(newToken))).status, 200, 'the new key verifies')
    t.equal((await send(stack, '/echo/users/x', bearer(oldToken))).status, 401, 'the removed key does not, even for a token verified before')
    t.equal((await send(stack, '/echo/users/x', bearer(oldEc))).status, 401, 'nor the removed EC key')
    t.equal((await send(stack, '/echo/users/x', bearer(user))).status, 200, 'the HMAC issuer is unaffected')
  })

  t.test('a bad CEL condition keeps the last good policy and names file:path', async (t) => {
    const before = stack.chaperone.store.current()!
    const bad = `    - name: broken
      match: { paths: [/echo/users/**] }
      deny: { authenticated: true }
      when: 'principal.roles.exists(r, r == '
`
    // Renamed into place, as kubelet does: a watcher reload must never read a half-written file.
    await replaceFile(join(stack.dir, 'policy.yaml'), policy(bad))
    const r = await stack.chaperone.reload('test')
    t.equal(r.outcome, 'error')
    const first = r.errors?.[0]
    t.equal(first?.file, 'policy.yaml')
    t.equal(first?.path, 'spec.access[11].when')
    t.equal(stack.chaperone.store.current(), before, 'the live snapshot is the same object')
    const cfg = await adminConfig(stack)
    t.match(cfg.lastError.errors.join('\n'), /policy\.yaml:spec\.access\[11\]\.when/)
    t.equal(cfg.version, before.version)
    t.equal((await send(stack, '/echo/users/x', bearer(user))).status, 200, 'requests are decided by the last good policy')

    await replaceFile(join(stack.dir, 'policy.yaml'), policy())
    const fixed = await stack.chaperone.reload('test')
    t.not(fixed.outcome, 'error')
    t.equal((await adminConfig(stack)).lastError, null, 'a good policy clears the error')
  })
})

t.test('a policy whose rules are all in audit mode denies nothing', async (t) => {
  const stack = await startStack({
    files: {
      'hmac.secret': SECRET,
      'policy.yaml': `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: audit-only }
spec:
  identity:
    jwt:
      issuers:
        - { issuer: '${HMAC_ISS}', audiences: [chatbot], algorithms: [HS256], hmacSecretFile: hmac.secret }
  roles: { user: {} }
  access:
    - name: users-only
      match: { paths: [/echo/**] }
      allow: { roles: [user] }
      mode: audit
`,
    },
  })
  t.teardown(() => stack.close())
  const anonymous = await send(stack, '/echo/x')
  t.equal(anonymous.status, 200, 'no token, default deny in audit: passes')
  const r = await send(stack, '/echo/x', bearer(await sign({ roles: ['user'] })))
  t.equal(r.status, 200)
  t.same(headerValues(echoed(r).headers, 'x-chaperone-subject'), ['alice'], 'the identity still reaches the chatbot')
  const m = await metricsText(stack)
  t.match(m, /chaperone_authz_decisions_total\{rule="\(default\)",decision="deny",mode="audit"\} 1\b/)
  t.match(m, /chaperone_authz_decisions_total\{rule="users-only",decision="allow",mode="audit"\} 1\b/)
  t.notMatch(m, /mode="enforce"/, 'nothing was enforced')
  t.ok(linesOf(stack, anonymous).some((l) => /authz audit/.test(String(l.msg)) && l.rule === '(default)'), 'the would-be denial is logged')
})

t.test('a jwksFile outside the config directory reloads through the content check', async (t) => {
  // As a Secret mounted elsewhere: the directory watch never sees it change.
  const secretDir = await mkdtemp(join(tmpdir(), 'chaperone-secret-'))
  t.teardown(() => rm(secretDir, { recursive: true, force: true }))
  const k1 = await signingKey('ES256', 'k1')
  const k2 = await signingKey('ES256', 'k2')
  const file = join(secretDir, 'jwks.json')
  await writeFile(file, jwksJson(k1))
  const stack = await startStack({
    files: { 'policy.yaml': policy('', file), 'hmac.secret': SECRET },
    adjust: (c) => ({ ...c, reload: { ...c.reload, hashCheckIntervalMs: 100 } }),
  })
  t.teardown(() => stack.close())
  const old = await sign({ roles: ['user'] }, k1)
  const fresh = await sign({ roles: ['user'] }, k2)
  t.equal((await send(stack, '/echo/users/x', bearer(old))).status, 200)
  t.equal((await send(stack, '/echo/users/x', bearer(fresh))).status, 401)

  await replaceFile(file, jwksJson(k2))
  t.ok(await until(async () => (await send(stack, '/echo/users/x', bearer(fresh))).status === 200), 'the new key is picked up')
  t.equal((await send(stack, '/echo/users/x', bearer(old))).status, 401, 'and the old one dropped')
  t.ok(
    stack.logs.lines.some((l) => l.msg === 'policy loaded' && l.reason === 'content check'),
    'by the content check',
  )
})
