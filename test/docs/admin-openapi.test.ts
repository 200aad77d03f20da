/**
 * docs/admin-api.openapi.yaml against the code: every endpoint the admin listener serves is
 * documented (and nothing else), every $ref resolves, /admin/* is behind the bearer scheme, and
 * the replies of a real Chaperone match the documented schemas, status by status.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { parse } from 'yaml'
import { z } from 'zod'
import { handleCache, type CacheAdmin } from '../../src/io/admin-cache.js'
import { PASS_THROUGH_POLICY, startStack, tmpConfigDir } from '../helpers/chaperone.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const DOC_FILE = new URL('../../docs/admin-api.openapi.yaml', import.meta.url)
const ADMIN_SRC = new URL('../../src/io/admin.ts', import.meta.url)
const CACHE_SRC = new URL('../../src/io/admin-cache.ts', import.meta.url)

/** What the admin listener serves: src/io/admin.ts, and handleCache for /admin/cache. */
const SERVED = [
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
  ['get', '/admin/config'],
  ['post', '/admin/reload'],
  ['post', '/admin/moderation/check'],
  ['post', '/admin/moderation/false-positives'],
  ['get', '/admin/revocations'],
  ['post', '/admin/revocations'],
  ['delete', '/admin/revocations'],
  ['get', '/admin/jwks'],
  ['get', '/admin/audit'],
  ['post', '/admin/audit/forget'],
  ['delete', '/admin/cache'],
  ['get', '/admin/cache/stats'],
  ['get', '/admin/cache/entries'],
  ['get', '/admin/cache/warm'],
  ['post', '/admin/cache/warm'],
  ['get', '/admin/cache/warm/{id}'],
] as const
const OPEN = new Set(['/healthz', '/readyz', '/metrics'])
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Obj = { [k: string]: Json }

const doc = parse(readFileSync(DOC_FILE, 'utf8')) as Obj
const paths = doc.paths as Record<string, Record<string, Obj>>

function documented(): string[] {
  return Object.entries(paths).flatMap(([p, item]) => Object.keys(item).filter((m) => HTTP_METHODS.has(m)).map((m) => `${m} ${p}`))
}

/** RFC 6901, within this document. */
function resolvePointer(ref: string): Json | undefined {
  if (!ref.startsWith('#/')) return undefined
  let at: Json | undefined = doc
  for (const raw of ref.slice(2).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    at = at !== null && typeof at === 'object' && !Array.isArray(at) ? at[seg] : undefined
    if (at === undefined) return undefined
  }
  return at
}

function walk(v: Json, path: string, visit: (key: string, value: Json, path: string) => void): void {
  if (v === null || typeof v !== 'object') return
  for (const [k, x] of Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) {
    visit(k, x, `${path}/${k}`)
    walk(x, `${path}/${k}`, visit)
  }
}

t.test('the document is OpenAPI 3.1 and parses to plain values', async (t) => {
  t.match(doc.openapi, /^3\.1\.\d+$/)
  const odd: string[] = []
  walk(doc, '', (k, v, at) => {
    // A stray ": " or "," in a plain YAML scalar silently turns prose into keys with null values.
    if (v === null) odd.push(`${at} is null`)
    if ((k === 'description' || k === 'summary') && typeof v !== 'string') odd.push(`${at} is not a string`)
  })
  t.same(odd, [])
})

t.test('every endpoint served is documented, and nothing else is', async (t) => {
  t.same(documented().sort(), SERVED.map(([m, p]) => `${m} ${p}`).sort())
})

t.test('the served list keeps up with the code', async (t) => {
  const servedPaths = new Set<string>(SERVED.map(([, p]) => p))
  const adminSrc = readFileSync(ADMIN_SRC, 'utf8')
  const adminPaths = [...adminSrc.matchAll(/path === '([^']+)'/g)].map((m) => m[1]!)
  t.ok(adminPaths.length >= 9, 'admin.ts routes found')
  for (const p of adminPaths) t.ok(servedPaths.has(p), `${p} (admin.ts) is in the list`)
  const cacheSrc = readFileSync(CACHE_SRC, 'utf8')
  const subpaths = [...cacheSrc.matchAll(/case '([^']*)':/g)].map((m) => m[1]!)
  t.same(subpaths.sort(), ['', '/entries', '/stats', '/warm'], 'handleCache subpaths found')
  for (const s of subpaths) t.ok(servedPaths.has(`/admin/cache${s}`), `/admin/cache${s} is in the list`)

  // handleCache's Allow headers name exactly the documented methods of each cache path.
  const admin = {} as CacheAdmin
  const byPath = new Map<string, string[]>()
  for (const [m, p] of SERVED) if (p.startsWith('/admin/cache')) byPath.set(p, [...(byPath.get(p) ?? []), m.toUpperCase()])
  for (const [p, methods] of byPath) {
    const sub = p.slice('/admin/cache'.length).replace('{id}', 'some-id')
    const out = await handleCache(admin, 'PATCH', sub, new URLSearchParams(), async () => undefined)
    t.equal(out.status, 405, `PATCH ${p}`)
    t.same(out.headers?.allow?.split(', ').sort(), methods.sort(), `Allow of ${p}`)
  }
})

t.test('every $ref resolves within the document', async (t) => {
  const refs: [string, string][] = []
  walk(doc, '', (k, v, at) => {
    if (k === '$ref') refs.push([at, String(v)])
  })
  t.ok(refs.length > 30, 'refs found')
  for (const [at, ref] of refs) t.not(resolvePointer(ref), undefined, `${at}: ${ref}`)
  // And every schema is used somewhere: an orphan is usually a typo in a $ref name.
  const used = new Set(refs.map(([, r]) => r))
  for (const name of Object.keys(doc.components as Obj as Record<string, Obj>).flatMap((kind) => Object.keys((doc.components as Record<string, Obj>)[kind]!).map((n) => `#/components/${kind}/${n}`))) {
    if (name.startsWith('#/components/securitySchemes/')) continue
    t.ok(used.has(name), `${name} is referenced`)
  }
})

t.test('/admin/* needs the bearer token; probes do not', async (t) => {
  const schemes = (doc.components as Record<string, Obj>).securitySchemes!
  t.match(schemes.adminBearer, { type: 'http', scheme: 'bearer' })
  for (const [m, p] of SERVED) {
    const op = paths[p]![m]!
    const security = (op.security ?? doc.security) as Obj[]
    if (OPEN.has(p)) t.same(security, [], `${m} ${p} is open`)
    else {
      t.ok(security.some((s) => 'adminBearer' in s), `${m} ${p} needs the token`)
      t.ok((op.responses as Obj)['401'], `${m} ${p} documents 401`)
    }
  }
})

// ---- Replies of a real Chaperone against the documented schemas ----

const defs = rewriteRefs((doc.components as Record<string, Obj>).schemas!) as Obj

/** fromJSONSchema resolves `#/$defs/…` only: point component refs there. */
function rewriteRefs(v: Json): Json {
  if (Array.isArray(v)) return v.map(rewriteRefs)
  if (v === null || typeof v !== 'object') return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' ? x.replace('#/components/schemas/', '#/$defs/') : rewriteRefs(x)]))
}

function documentedReply(method: string, path: string, status: number): Obj | undefined {
  const item = paths[path] ?? {}
  // A method a path does not serve has no operation of its own: its 405 is documented on those it has.
  const op = item[method] ?? (status === 405 ? Object.values(item).find((o) => (o.responses as Obj | undefined)?.['405']) : undefined)
  let r = (op?.responses as Obj | undefined)?.[String(status)] as Obj | undefined
  if (r && typeof r.$ref === 'string') r = resolvePointer(r.$ref) as Obj
  return r
}

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: openapi-conformance }
spec:
  moderation:
    rules:
      - { name: ring, keywords: [ring], action: flag }
  cache:
    routes:
      - name: faq
        match: { paths: [/v1/chat/completions] }
        scope: shared
        tags: [faq]
`

const TOKEN = 'test-token'

t.test('a real admin listener answers as documented', async (t) => {
  const stack = await startStack({ files: { 'policy.yaml': POLICY } })
  t.teardown(() => stack.close())
  let base = stack.chaperone.adminUrl
  const covered = new Set<string>()

  async function call(method: string, url: string, docPath: string, opts: { body?: unknown; raw?: string; token?: boolean; status: number }) {
    const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body))
    const res = await request(base + url, {
      method: method.toUpperCase() as 'GET',
      headers: { ...(opts.token === false ? {} : { authorization: `Bearer ${TOKEN}` }), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { body: payload } : {}),
    })
    const text = await res.body.text()
    const label = `${method.toUpperCase()} ${url} → ${res.statusCode}`
    t.equal(res.statusCode, opts.status, label)
    const documentedAs = documentedReply(method, docPath, res.statusCode)
    t.ok(documentedAs, `${label} is documented`)
    const contentType = String(res.headers['content-type'] ?? '')
    const media = (documentedAs?.content as Obj | undefined) ?? {}
    const mediaType = Object.keys(media).find((m) => contentType.startsWith(m))
    t.ok(mediaType, `${label}: ${contentType} is a documented media type`)
    for (const h of Object.keys((documentedAs?.headers as Obj | undefined) ?? {})) t.ok(res.headers[h] !== undefined, `${label}: header ${h}`)
    let body: unknown = text
    if (mediaType === 'application/json') {
      body = JSON.parse(text) as unknown
      const schema = z.fromJSONSchema({ ...(rewriteRefs((media[mediaType] as Obj).schema!) as Obj), $defs: defs } as never)
      const parsed = schema.safeParse(body)
      t.ok(parsed.success, `${label}: the body matches the documented schema`, { issues: parsed.error?.issues, body })
    }
    if (res.statusCode >= 200 && res.statusCode < 300) covered.add(`${method} ${docPath}`)
    return { status: res.statusCode, headers: res.headers, body: body as Obj }
  }

  await call('get', '/healthz', '/healthz', { token: false, status: 200 })
  await call('get', '/readyz', '/readyz', { token: false, status: 200 })
  await call('get', '/metrics', '/metrics', { token: false, status: 200 })

  await call('get', '/admin/config', '/admin/config', { token: false, status: 401 })
  await call('get', '/admin/config', '/admin/config', { status: 200 })
  await call('put', '/admin/config', '/admin/config', { status: 405 })
  await call('post', '/admin/reload', '/admin/reload', { status: 200 })
  const check = await call('post', '/admin/moderation/check', '/admin/moderation/check', { body: { text: 'ring ring' }, status: 200 })
  t.equal(check.body.decision, 'flag')
  await call('post', '/admin/moderation/check', '/admin/moderation/check', { body: { text: 1 }, status: 400 })
  await call('post', '/admin/moderation/check', '/admin/moderation/check', { raw: `"${'x'.repeat(2 * 1024 * 1024)}"`, status: 413 })
  const fp = await call('post', '/admin/moderation/false-positives', '/admin/moderation/false-positives', { body: { rule: 'no-swordfish', requestId: 'req-1' }, status: 202 })
  t.same(fp.body, { accepted: true, rule: 'no-swordfish' })
  await call('post', '/admin/moderation/false-positives', '/admin/moderation/false-positives', { body: { rule: 'bad rule name' }, status: 400 })
  await call('post', '/admin/moderation/false-positives', '/admin/moderation/false-positives', { body: { rule: 'x', text: 'never the text' }, status: 400 })
  await call('get', '/admin/moderation/false-positives', '/admin/moderation/false-positives', { status: 405 })
  t.match(await (await fetch(`${base}/metrics`)).text(), /chaperone_moderation_false_positive_reports_total\{rule="no-swordfish"\} 1/)

  const exp = Math.floor(Date.now() / 1000) + 3600
  await call('post', '/admin/revocations', '/admin/revocations', { body: { jti: 'j1', expiresAt: exp, reason: 'test' }, status: 201 })
  await call('post', '/admin/revocations', '/admin/revocations', { body: { subject: 'alice' }, status: 201 })
  await call('post', '/admin/revocations', '/admin/revocations', { body: { jti: 'j2' }, status: 400 })
  const revs = await call('get', '/admin/revocations', '/admin/revocations', { status: 200 })
  t.equal((revs.body.revocations as Json[]).length, 2)
  await call('delete', '/admin/revocations?jti=j1', '/admin/revocations', { status: 200 })
  await call('delete', '/admin/revocations', '/admin/revocations', { status: 400 })
  await call('get', '/admin/jwks', '/admin/jwks', { status: 200 })

  // Warm one request twice: fetched through the proxy, then found in the cache.
  const ask = { path: '/v1/chat/completions', body: { model: 'demo', temperature: 0, messages: [{ role: 'user', content: 'What are your opening hours?' }] } }
  async function warmed(): Promise<Obj> {
    const started = await call('post', '/admin/cache/warm', '/admin/cache/warm', { body: { requests: [ask, { method: 'GET', path: '/v1/models' }] }, status: 202 })
    t.equal(started.headers.location, started.body.status)
    for (let i = 0; i < 500; i++) {
      const job = await call('get', String(started.body.status), '/admin/cache/warm/{id}', { status: 200 })
      if (job.body.finished === true) return job.body
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error('the warm job did not finish')
  }
  t.match(await warmed(), { total: 2, fetched: 1, notCacheable: 1, failed: 0 }, 'the chat answer was fetched and stored')
  t.match(await warmed(), { total: 2, alreadyCached: 1, notCacheable: 1, failed: 0 }, 'then it was a hit')
  const jobs = await call('get', '/admin/cache/warm', '/admin/cache/warm', { status: 200 })
  t.equal((jobs.body.jobs as Json[]).length, 2)
  await call('get', '/admin/cache/warm/00000000-0000-4000-8000-000000000000', '/admin/cache/warm/{id}', { status: 404 })
  await call('post', '/admin/cache/warm', '/admin/cache/warm', { body: { requests: [{ path: 'nope' }] }, status: 400 })
  await call('delete', '/admin/cache/warm', '/admin/cache/warm', { status: 405 })

  const stats = await call('get', '/admin/cache/stats', '/admin/cache/stats', { status: 200 })
  t.match(stats.body, { routes: { faq: { lookups: { miss: 1, hit: 1 }, hitRatio: 0.5, upstreamRequestsSaved: 1, stored: 1 } }, shared: { status: 'none' } })
  const entries = await call('get', '/admin/cache/entries?tag=faq', '/admin/cache/entries', { status: 200 })
  t.equal((entries.body.entries as Obj[]).length, 1)
  t.equal((entries.body.entries as Obj[])[0]!.route, 'faq')
  await call('get', '/admin/cache/entries?limit=0', '/admin/cache/entries', { status: 400 })
  const gone = await call('delete', '/admin/cache?tag=faq', '/admin/cache', { status: 200 })
  t.same(gone.body, { deleted: 1, selector: { tag: 'faq' } })
  await call('delete', '/admin/cache', '/admin/cache', { status: 400 })
  await call('get', '/admin/cache', '/admin/cache', { status: 405 })

  // The audit endpoints, on a Chaperone with the audit log on and per-subject pseudonyms in Redis.
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const dir = await tmpConfigDir({ 'policy.yaml': PASS_THROUGH_POLICY })
  await writeFile(join(dir, 'pseudonym.key'), 'a-pseudonym-key-of-at-least-32-bytes-for-tests')
  await writeFile(
    join(dir, 'chaperone.yaml'),
    `redis: { url: "${redis.url}" }\naudit:\n  enabled: true\n  writer: docs\n  file: { dir: "${join(dir, 'audit')}" }\n  pseudonyms: { mode: per-subject, keyFile: "${join(dir, 'pseudonym.key')}" }\n`,
  )
  const audited = await startStack({ dir })
  t.teardown(() => audited.close())
  base = audited.chaperone.adminUrl
  const auditStats = await call('get', '/admin/audit', '/admin/audit', { status: 200 })
  t.match(auditStats.body, { writer: 'docs', accepting: true })
  await call('post', '/admin/audit', '/admin/audit', { status: 405 })
  await call('post', '/admin/audit/forget', '/admin/audit/forget', { body: { subject: 'alice' }, status: 200 })
  await call('post', '/admin/audit/forget', '/admin/audit/forget', { body: { who: 'alice' }, status: 400 })
  await call('get', '/admin/audit/forget', '/admin/audit/forget', { status: 405 })

  t.same([...covered].sort(), SERVED.map(([m, p]) => `${m} ${p}`).sort(), 'every documented operation answered with a success')
})
