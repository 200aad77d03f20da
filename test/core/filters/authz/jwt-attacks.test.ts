/**
 * Every JWT attack of the authz issue, each refused with an opaque 401, next to a positive control:
 * the same token done right is accepted, so no check passes because something else failed.
 * Keys are made here and served as jwksFile JSON through the policyFiles port.
 */
import t from 'tap'
import { filesPort } from '../../../helpers/jwt.js'
import { KeyObject, sign as cryptoSign } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT, type JWK, type JWTPayload, type JWTHeaderParameters, type CryptoKey } from 'jose'
import type { Filter, RequestContext, Verdict } from '../../../../src/core/chain/types.js'
import { authzFactory } from '../../../../src/core/filters/authz/index.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'

const A = 'https://a.example'
const B = 'https://b.example'
const EC = 'https://ec.example'
const OIDC = 'https://oidc.example'
const KC = 'https://kc.example'
const API = 'api'
const CLIENT = 'web-client'
const T0 = 1_750_000_000
const NOW = new Date(T0 * 1000)

const INVALID: Verdict = { kind: 'error', code: 'unauthorized', headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }
const CONTINUE: Verdict = { kind: 'continue' }

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

interface KeyPair {
  privateKey: CryptoKey
  publicKey: CryptoKey
  jwk: JWK
}

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

const keyA = await keyPair('RS256', 'k1')
// Issuer B's key has the same kid as A's: only the issuer decides which set is searched.
const keyB = await keyPair('RS256', 'k1')
const keyEC = await keyPair('ES256', 'ec1')
const attacker = await keyPair('RS256', 'evil')

const FILES: Record<string, string> = {
  'a.jwks': JSON.stringify({ keys: [keyA.jwk] }),
  'a-any-alg.jwks': JSON.stringify({ keys: [{ ...keyA.jwk, alg: undefined }] }),
  'b.jwks': JSON.stringify({ keys: [keyB.jwk] }),
  'ec.jwks': JSON.stringify({ keys: [keyEC.jwk] }),
}

interface Built {
  filter: Filter
  rejected: string[]
}

function build(jwt: Record<string, unknown> = {}): Built {
  const rejected: string[] = []
  const config = authzFactory.schema.parse({
    identity: {
      jwt: {
        issuers: [
          { issuer: A, audiences: [API], algorithms: ['RS256'], jwksFile: 'a.jwks' },
          { issuer: B, audiences: [API], algorithms: ['RS256'], jwksFile: 'b.jwks' },
          { issuer: EC, audiences: [API], algorithms: ['ES256'], jwksFile: 'ec.jwks' },
          // OIDC providers sign ID tokens with the access-token key: only typ tells them apart.
          { issuer: OIDC, audiences: [API, CLIENT], algorithms: ['RS256'], jwksFile: 'a.jwks', typ: 'at+jwt' },
          // Keycloak: refresh tokens carry typ "Refresh" as a claim.
          { issuer: KC, audiences: [API], algorithms: ['RS256'], jwksFile: 'a.jwks', requiredClaims: { typ: 'Bearer' } },
        ],
        ...jwt,
      },
    },
    access: [{ name: 'members', allow: { authenticated: true } }],
  })
  const filter = authzFactory.compile(config, {
    now: () => NOW,
    policyFiles: filesPort(FILES),
    authzMetrics: { decision() {}, tokenRejected: (r) => void rejected.push(r), dependencyError() {} },
  })
  return { filter, rejected }
}

function context(authorization: string[]): RequestContext {
  return {
    id: 'r1',
    snapshot: { version: 1, digest: 'd' },
    request: {
      method: 'POST',
      url: '/v1/chat/completions',
      path: '/v1/chat/completions',
      query: '',
      headers: authorization.length > 0 ? { authorization: authorization.join(', ') } : {},
      rawHeaders: authorization.flatMap((v) => ['Authorization', v]),
      remoteAddress: '127.0.0.1', clientIp: '127.0.0.1',
      protocol: 'http',
    },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
  }
}

const run = (b: Built, token: string) => b.filter.onRequest!(context([`Bearer ${token}`]))

/** Standard access-token claims for issuer `iss`, valid at T0. */
const claims = (iss = A, extra: JWTPayload = {}): JWTPayload => ({ iss, aud: API, sub: 'alice', iat: T0 - 10, exp: T0 + 600, ...extra })

async function sign(key: CryptoKey | Uint8Array, header: JWTHeaderParameters, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key)
}

/** A token from parts, for shapes no library would sign. */
const raw = (header: unknown, payload: unknown, signature = b64('sig')) => `${b64(header)}.${b64(payload)}.${signature}`

type Asserts = Pick<typeof t, 'same' | 'equal' | 'match'>

/** Asserts the refusal, and the reason counted when given. */
async function refused(t: Asserts, b: Built, token: string, reason: string | RegExp | undefined, name: string): Promise<void> {
  const before = b.rejected.length
  t.same(await run(b, token), INVALID, `${name}: 401 invalid_token`)
  t.equal(b.rejected.length, before + 1, `${name}: counted once`)
  if (reason !== undefined) t.match(b.rejected.at(-1), reason, `${name}: reason`)
}

async function accepted(t: Asserts, b: Built, token: string, name: string): Promise<void> {
  const before = b.rejected.length
  t.same(await run(b, token), CONTINUE, `${name}: accepted`)
  t.equal(b.rejected.length, before, `${name}: nothing counted`)
}

t.test('the positive control: a well-formed token of each issuer is accepted', async (t) => {
  const b = build()
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A)), 'issuer A')
  await accepted(t, b, await sign(keyB.privateKey, { alg: 'RS256', kid: 'k1' }, claims(B)), 'issuer B')
  await accepted(t, b, await sign(keyEC.privateKey, { alg: 'ES256', kid: 'ec1' }, claims(EC)), 'issuer EC')
  t.same(await b.filter.onRequest!(context([])), { kind: 'error', code: 'unauthorized', headers: { 'www-authenticate': 'Bearer realm="chaperone"' } }, 'no token: a challenge, not invalid_token')
})

t.test('alg none, in any casing, signed or not', async (t) => {
  const b = build()
  const good = await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims())
  await accepted(t, b, good, 'RS256 control')
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    await refused(t, b, raw({ alg, typ: 'JWT' }, claims()).replace(/[^.]+$/, ''), 'malformed', `${alg}, empty signature`)
    await refused(t, b, raw({ alg, typ: 'JWT', kid: 'k1' }, claims()), 'alg_none', `${alg}, with a signature segment`)
    // The real signature of the control token under an unsigned header.
    await refused(t, b, `${b64({ alg, kid: 'k1' })}.${good.split('.')[1]}.${good.split('.')[2]}`, 'alg_none', `${alg}, a stolen signature`)
  }
  await refused(t, b, raw({ typ: 'JWT' }, claims()), 'alg_none', 'no alg at all')
  await refused(t, b, raw({ alg: ['RS256'] }, claims()), 'alg_none', 'alg not a string')
})

t.test('HS256 signed with the RSA public key of an RS256 issuer', async (t) => {
  const b = build()
  const pem = new TextEncoder().encode(await exportSPKI(keyA.publicKey))
  const jwkBytes = new TextEncoder().encode(JSON.stringify(keyA.jwk))
  await refused(t, b, await sign(pem, { alg: 'HS256', kid: 'k1' }, claims()), 'alg_not_allowed', 'HMAC keyed with the PEM')
  await refused(t, b, await sign(jwkBytes, { alg: 'HS256', kid: 'k1' }, claims()), 'alg_not_allowed', 'HMAC keyed with the JWK JSON')
  await refused(t, b, await sign(new TextEncoder().encode(keyA.jwk.n!), { alg: 'HS256', kid: 'k1' }, claims()), 'alg_not_allowed', 'HMAC keyed with the modulus')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims()), 'the same claims in RS256')
  // And a policy cannot open the door: an HMAC algorithm next to a JWKS is a schema error.
  t.throws(() => build({ issuers: [{ issuer: A, audiences: [API], algorithms: ['RS256', 'HS256'], jwksFile: 'a.jwks' }] }), /needs hmacSecretFile/)
})

t.test('an algorithm outside the allowlist', async (t) => {
  const b = build()
  const pkcs8 = await exportPKCS8(keyA.privateKey)
  const other = {} as Record<'RS384' | 'RS512' | 'PS256', string>
  for (const alg of ['RS384', 'RS512', 'PS256'] as const) {
    other[alg] = await sign(await importPKCS8(pkcs8, alg), { alg, kid: 'k1' }, claims())
    await refused(t, b, other[alg], 'alg_not_allowed', `${alg} with A's own key, allowlist [RS256]`)
  }
  await refused(t, b, await sign(keyEC.privateKey, { alg: 'ES256', kid: 'ec1' }, claims(A)), 'alg_not_allowed', 'ES256 for an RS256 issuer')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims()), 'RS256')
  // Control: the very same tokens verify once the allowlist (and a key not pinned to RS256) admits them.
  const wide = build({ issuers: [{ issuer: A, audiences: [API], algorithms: ['RS256', 'RS384', 'RS512', 'PS256'], jwksFile: 'a-any-alg.jwks' }] })
  for (const alg of ['RS384', 'RS512', 'PS256'] as const) await accepted(t, wide, other[alg], `${alg} once allowed`)
  // A JWK that names its algorithm is used for that one only, whatever the allowlist says.
  const pinned = build({ issuers: [{ issuer: A, audiences: [API], algorithms: ['RS256', 'RS384'], jwksFile: 'a.jwks' }] })
  await refused(t, pinned, other.RS384, 'ERR_JWKS_NO_MATCHING_KEY', 'RS384 allowed, but the key says RS256')
})

t.test('jwk, jku, x5u and x5c in the header are never used and never fetched', async (t) => {
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [attacker.jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
  const { kid: _kid, ...attackerPublic } = attacker.jwk
  const b = build()
  const headers: [string, Partial<JWTHeaderParameters>][] = [
    ['jwk', { jwk: attackerPublic }],
    ['jku', { jku: url }],
    ['x5u', { x5u: url }],
    ['x5c', { x5c: [Buffer.from('not a certificate').toString('base64')] }],
    ['all four', { jwk: attackerPublic, jku: url, x5u: url, x5c: [Buffer.from('x').toString('base64')] }],
  ]
  for (const [name, extra] of headers) {
    await refused(t, b, await sign(attacker.privateKey, { alg: 'RS256', ...extra }, claims()), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', `${name}, attacker key, no kid`)
    await refused(t, b, await sign(attacker.privateKey, { alg: 'RS256', kid: 'k1', ...extra }, claims()), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', `${name}, attacker key, the real kid`)
    await refused(t, b, await sign(attacker.privateKey, { alg: 'RS256', kid: 'evil', ...extra }, claims()), 'ERR_JWKS_NO_MATCHING_KEY', `${name}, attacker key, its own kid`)
    await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', ...extra }, claims()), `${name}, the issuer's key: the header fields change nothing`)
  }
  t.equal(hits, 0, 'the URLs in the headers were never fetched')
  // The server does answer, so zero above is not a dead port.
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.equal(hits, 1)
})

t.test('a hostile kid', async (t) => {
  const b = build({ maxTokenBytes: 65536 })
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: '../../etc/passwd' }, claims()), 'ERR_JWKS_NO_MATCHING_KEY', 'path traversal')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k'.repeat(10_240) }, claims()), 'bad_kid', '10 kB')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' + '\0' }, claims()), 'ERR_JWKS_NO_MATCHING_KEY', 'NUL appended')
  await refused(t, b, raw({ alg: 'RS256', kid: 7 }, claims()), 'bad_kid', 'not a string')
  await refused(t, b, raw({ alg: 'RS256', kid: { $ne: null } }, claims()), 'bad_kid', 'an object')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims()), 'the real kid')
  const defaults = build()
  await refused(t, defaults, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k'.repeat(10_240) }, claims()), 'too_large', '10 kB kid under the default maxTokenBytes')
})

t.test('exp and nbf just outside and just inside the 30 s skew; missing exp', async (t) => {
  const b = build()
  const tok = (extra: JWTPayload) => sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A, extra))
  await refused(t, b, await tok({ exp: T0 - 31 }), 'ERR_JWT_EXPIRED', 'exp = now - 31')
  await refused(t, b, await tok({ exp: T0 - 30 }), 'ERR_JWT_EXPIRED', 'exp = now - 30')
  await accepted(t, b, await tok({ exp: T0 - 29 }), 'exp = now - 29')
  await refused(t, b, await tok({ nbf: T0 + 31 }), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'nbf = now + 31')
  await accepted(t, b, await tok({ nbf: T0 + 29 }), 'nbf = now + 29')
  await accepted(t, b, await tok({ nbf: T0 + 30 }), 'nbf = now + 30')
  const noExp = claims(A)
  delete noExp.exp
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, noExp), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'missing exp')
  await refused(t, b, await tok({ exp: String(T0 + 600) as unknown as number }), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'exp a string')
  const strict = build({ clockSkewSeconds: 0 })
  await refused(t, strict, await tok({ exp: T0 - 1 }), 'ERR_JWT_EXPIRED', 'skew 0: exp = now - 1')
  await refused(t, strict, await tok({ exp: T0 }), 'ERR_JWT_EXPIRED', 'skew 0: exp = now')
  await accepted(t, strict, await tok({ exp: T0 + 1 }), 'skew 0: exp = now + 1')
})

t.test('wrong iss, wrong aud, unknown issuer', async (t) => {
  const b = build()
  const tok = (payload: JWTPayload) => sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, payload)
  await refused(t, b, await tok(claims('https://evil.example')), 'unknown_issuer', 'an unknown issuer')
  await refused(t, b, await tok(claims(`${A}/`)), 'unknown_issuer', 'a trailing slash')
  await refused(t, b, await tok(claims('HTTPS://A.EXAMPLE')), 'unknown_issuer', 'another casing')
  await refused(t, b, await tok(claims(A, { iss: undefined })), 'no_issuer', 'no iss')
  await refused(t, b, await tok(claims(A, { iss: [A] as unknown as string })), 'no_issuer', 'iss a list')
  await refused(t, b, await tok(claims(A, { aud: 'other-api' })), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'wrong aud')
  await refused(t, b, await tok(claims(A, { aud: ['other-api', 'more'] })), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'wrong aud list')
  await refused(t, b, await tok(claims(A, { aud: undefined })), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'no aud')
  await accepted(t, b, await tok(claims(A, { aud: ['other-api', API] })), 'aud list naming us')
})

t.test('a valid token for issuer A signed with issuer B\'s key', async (t) => {
  const b = build()
  await refused(t, b, await sign(keyB.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A)), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'B\'s key, A\'s iss')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(B)), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'A\'s key, B\'s iss')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A)), 'A\'s key, A\'s iss')
})

t.test('an ID token and a refresh token presented as access tokens', async (t) => {
  const b = build()
  const id = claims(OIDC, { aud: CLIENT, nonce: 'n-0S6_WzA2Mj', auth_time: T0 - 20 })
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, id), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ID token, typ JWT')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, id), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ID token, no typ')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'at+jwt' }, claims(OIDC)), 'access token, typ at+jwt')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'application/AT+JWT' }, claims(OIDC)), 'access token, typ application/AT+JWT')

  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, claims(KC, { typ: 'Refresh' })), 'required_claim', 'Keycloak refresh token')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, claims(KC, { typ: 'ID' })), 'required_claim', 'Keycloak ID token')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, claims(KC)), 'required_claim', 'no typ claim')
  await refused(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, claims(KC, { typ: ['Bearer'] })), 'required_claim', 'typ claim a list')
  await accepted(t, b, await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1', typ: 'JWT' }, claims(KC, { typ: 'Bearer' })), 'Keycloak access token')
})

t.test('two Authorization headers are a bad request, whatever they hold', async (t) => {
  const b = build()
  const good = await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims())
  t.same(await b.filter.onRequest!(context([`Bearer ${good}`, `Bearer ${good}`])), { kind: 'error', code: 'bad_request' }, 'the same token twice')
  t.same(await b.filter.onRequest!(context([`Bearer ${good}`, 'Basic dXNlcjpwYXNz'])), { kind: 'error', code: 'bad_request' }, 'a token and Basic')
  t.same(await b.filter.onRequest!(context([`Bearer ${good}`])), CONTINUE, 'one is fine')
  t.same(b.rejected, [], 'not counted as a bad token')
})

t.test('malformed tokens', async (t) => {
  const b = build()
  const good = await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims())
  const [h, p, s] = good.split('.') as [string, string, string]
  const table: [string, string, string][] = [
    ['bad base64: one char too many', `${h}.${p}A.${s}`, 'malformed'],
    ['bad base64: standard alphabet', `${h}.${p.slice(0, -2)}+/.${s}`, 'malformed'],
    ['bad base64: padding', `${h}=.${p}.${s}`, 'malformed'],
    ['header not JSON', `${b64('{alg:RS256')}.${p}.${s}`, 'malformed'],
    ['payload not JSON', `${h}.${b64('not json')}.${s}`, 'malformed'],
    ['2 segments', `${h}.${p}`, 'malformed'],
    ['4 segments', `${good}.${s}`, 'malformed'],
    ['5 segments (JWE)', `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${b64('key')}.${b64('iv')}.${b64('ct')}.${b64('tag')}`, 'malformed'],
    ['empty header', `.${p}.${s}`, 'malformed'],
    ['empty payload', `${h}..${s}`, 'malformed'],
    ['empty signature', `${h}.${p}.`, 'malformed'],
    ['header an array', `${b64([{ alg: 'RS256' }])}.${p}.${s}`, 'malformed'],
    ['header a string', `${b64('"RS256"')}.${p}.${s}`, 'malformed'],
    ['header null', `${b64('null')}.${p}.${s}`, 'malformed'],
    ['payload an array', `${h}.${b64([claims()])}.${s}`, 'malformed'],
    ['payload a number', `${h}.${b64('42')}.${s}`, 'malformed'],
    ['huge payload', `${h}.${b64(claims(A, { pad: 'x'.repeat(10_000) }))}.${s}`, 'too_large'],
  ]
  for (const [name, token, reason] of table) await refused(t, b, token, reason, name)
  await refused(t, b, `${h}.${p}.${s}!`, 'malformed_header', 'a character no bearer token has')
  await accepted(t, b, good, 'the untouched token')

  const bigButAllowed = await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A, { pad: 'x'.repeat(5_000) }))
  await accepted(t, b, bigButAllowed, 'a large token under maxTokenBytes')
  await refused(t, build({ maxTokenBytes: 4096 }), bigButAllowed, 'too_large', 'the same token over a lower maxTokenBytes')
})

t.test('claims of the wrong JSON type', async (t) => {
  const b = build()
  const tok = (extra: Record<string, unknown>) => sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A, extra as JWTPayload))
  await refused(t, b, await tok({ sub: 123 }), 'bad_sub', 'sub a number')
  await refused(t, b, await tok({ sub: ['alice'] }), 'bad_sub', 'sub a list')
  await refused(t, b, await tok({ sub: { id: 'alice' } }), 'bad_sub', 'sub an object')
  await refused(t, b, await tok({ jti: 5 }), 'bad_jti', 'jti a number')
  await refused(t, b, await tok({ iat: 'yesterday' }), /bad_iat|ERR_JWT_CLAIM_VALIDATION_FAILED/, 'iat a string')
  await accepted(t, b, await tok({ sub: 'alice', jti: 'j-1' }), 'strings')
  await accepted(t, b, await tok({ sub: undefined }), 'no sub at all')
})

t.test('ECDSA r = s = 0', async (t) => {
  const b = build()
  const good = await sign(keyEC.privateKey, { alg: 'ES256', kid: 'ec1' }, claims(EC))
  const [h, p] = good.split('.') as [string, string]
  await refused(t, b, `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'a 64-byte all-zero signature')
  // r = 0 with s = n, and r = s = n: both must fail the range check too.
  const n = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex')
  await refused(t, b, `${h}.${p}.${Buffer.concat([Buffer.alloc(32), n]).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'r = 0, s = n')
  await refused(t, b, `${h}.${p}.${Buffer.concat([n, n]).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'r = s = n')
  // DER-encoded r = s = 0 (what Java and OpenSSL produce) is not a JWS signature either.
  await refused(t, b, `${h}.${p}.${Buffer.from('3006020100020100', 'hex').toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'DER r = s = 0')
  await refused(t, b, `${h}.${p}.${Buffer.alloc(63, 1).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', '63 bytes')
  await refused(t, b, `${h}.${p}.${Buffer.concat([Buffer.from(good.split('.')[2]!, 'base64url'), Buffer.alloc(1)]).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'the real signature with a byte appended')
  await accepted(t, b, good, 'the real signature')
})

t.test('RSA signatures of the wrong length', async (t) => {
  const b = build()
  const good = await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims())
  const [h, p, s] = good.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  await refused(t, b, `${h}.${p}.${b64('x')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'one byte')
  await refused(t, b, `${h}.${p}.${sig.subarray(1).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'one byte short')
  await refused(t, b, `${h}.${p}.${Buffer.concat([Buffer.alloc(1), sig]).toString('base64url')}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'a zero byte prepended')
  await accepted(t, b, good, 'the real signature')
})

t.test('a critical header parameter is refused: none is understood', async (t) => {
  const b = build()
  // jose will not sign a crit it does not know, so these are signed with node:crypto directly.
  const rs256 = (header: object, payload: object) => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${cryptoSign('sha256', Buffer.from(input), KeyObject.from(keyA.privateKey)).toString('base64url')}`
  }
  await refused(t, b, rs256({ alg: 'RS256', kid: 'k1', crit: ['exp'] }, claims()), 'ERR_JOSE_NOT_SUPPORTED', 'crit naming a claim')
  await refused(t, b, rs256({ alg: 'RS256', kid: 'k1', crit: ['x-ext'], 'x-ext': 1 }, claims()), 'ERR_JOSE_NOT_SUPPORTED', 'crit naming an extension')
  await accepted(t, b, rs256({ alg: 'RS256', kid: 'k1', 'x-ext': 1 }, claims()), 'the extension, not critical (and the hand-made signature is right)')
})

t.test('every refusal reads the same to the client', async (t) => {
  const b = build()
  const verdicts = new Set<string>()
  for (const token of [raw({ alg: 'none' }, claims()), await sign(keyA.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A, { exp: T0 - 100 })), 'a.b.c', await sign(keyB.privateKey, { alg: 'RS256', kid: 'k1' }, claims(A))]) {
    verdicts.add(JSON.stringify(await run(b, token)))
  }
  t.same([...verdicts], [JSON.stringify(INVALID)], 'one opaque answer; the reasons differ only in the metrics')
  t.equal(new Set(b.rejected).size, 4)
})
