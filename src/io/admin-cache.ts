/**
 * /admin/cache: what the cache holds and does, invalidation and warming.
 *
 *   GET    /admin/cache/stats                       → counters by route, memory and shared tier
 *   GET    /admin/cache/entries?prefix=&tag=&limit= → {"entries": [metadata…], "limit": n}
 *   DELETE /admin/cache?key=… | ?tag=… | ?prefix=…  → {"deleted": n, "selector": {…}}
 *   POST   /admin/cache/warm {"requests": […], "concurrency"?} → 202 {"id", "total", "status"}
 *   GET    /admin/cache/warm[/<id>]                 → the jobs, or one job's progress
 *
 * docs/admin-api.openapi.yaml documents every request and reply.
 */
import { z } from 'zod'
import { formatPath } from '../core/config/errors.js'
import type { CacheEntryMeta, CacheSelector, CacheStore } from '../core/cache/types.js'
import { hitRatio, type CacheStats } from './cache/stats.js'
import type { WarmJobs } from './cache/warm.js'

export interface CacheAdmin {
  store: CacheStore
  stats: CacheStats
  memory(): { entries: number; bytes: number; maxBytes: number }
  health(): { shared: 'none' | 'up' | 'down' }
  warm: WarmJobs
}

export interface CacheAdminReply {
  status: number
  body: unknown
  headers?: Record<string, string>
}

export const DEFAULT_LIST_LIMIT = 100
export const MAX_LIST_LIMIT = 1000
/** Keys are a few hundred characters (see CacheEntryMeta.key); a selector longer than this is a mistake. */
export const MAX_SELECTOR_LENGTH = 1024
export const MAX_WARM_REQUESTS = 1000
export const MAX_WARM_CONCURRENCY = 16
const DEFAULT_WARM_CONCURRENCY = 4
const MAX_WARM_PATH = 8192
const MAX_WARM_HEADERS = 64
const MAX_HEADER_VALUE = 8192

const SELECTORS = ['key', 'tag', 'prefix'] as const
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Framing and hop-by-hop headers: the HTTP client sets them, or refuses them. */
const FORBIDDEN_HEADERS = new Set(['connection', 'content-length', 'expect', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

const warmRequestSchema = z
  .strictObject({
    method: z
      .string()
      .toUpperCase()
      .pipe(z.enum(['POST', 'GET']))
      .default('POST'),
    path: z
      .string()
      .max(MAX_WARM_PATH)
      .regex(/^\/[!-"$-~]*$/, 'must start with "/" and hold only visible ASCII (percent-encode the rest), without "#"'),
    headers: z
      .record(z.string(), z.string())
      .superRefine((h, ctx) => {
        const names = Object.keys(h)
        if (names.length > MAX_WARM_HEADERS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_WARM_HEADERS} headers` })
        for (const name of names) {
          const problem = !TOKEN.test(name)
            ? 'not a header name'
            : FORBIDDEN_HEADERS.has(name.toLowerCase())
              ? 'set by the HTTP client, not allowed here'
              : h[name]!.length > MAX_HEADER_VALUE
                ? `at most ${MAX_HEADER_VALUE} characters`
                : /[\r\n\0]/.test(h[name]!)
                  ? 'must not contain CR, LF or NUL'
                  : undefined
          if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [name] })
        }
      })
      .optional(),
    body: z.unknown().optional(),
  })
  .refine((r) => !(r.method === 'GET' && r.body !== undefined), { message: 'a GET request carries no body', path: ['body'] })

const warmSchema = z.strictObject({
  requests: z.array(warmRequestSchema).min(1).max(MAX_WARM_REQUESTS),
  concurrency: z.number().int().min(1).max(MAX_WARM_CONCURRENCY).default(DEFAULT_WARM_CONCURRENCY),
})

export async function handleCache(admin: CacheAdmin, method: string, subpath: string, params: URLSearchParams, readBody: () => Promise<unknown>): Promise<CacheAdminReply> {
  switch (subpath) {
    case '':
      return method === 'DELETE' ? invalidate(admin, params) : notAllowed('DELETE')
    case '/stats':
      return method === 'GET' ? { status: 200, body: stats(admin) } : notAllowed('GET')
    case '/entries':
      return method === 'GET' ? entries(admin, params) : notAllowed('GET')
    case '/warm':
      if (method === 'GET') return { status: 200, body: { jobs: admin.warm.list() } }
      return method === 'POST' ? warm(admin, await readBody()) : notAllowed('GET, POST')
  }
  if (subpath.startsWith('/warm/')) {
    if (method !== 'GET') return notAllowed('GET')
    const job = admin.warm.get(subpath.slice('/warm/'.length))
    return job ? { status: 200, body: job } : { status: 404, body: { error: 'not_found', message: 'no such warm job (finished jobs are kept only until newer ones push them out)' } }
  }
  return { status: 404, body: { error: 'not_found' } }
}

function notAllowed(allow: string): CacheAdminReply {
  return { status: 405, body: { error: 'method_not_allowed' }, headers: { allow } }
}

function bad(errors: readonly string[]): CacheAdminReply {
  return { status: 400, body: { error: 'bad_request', errors } }
}

function stats(admin: CacheAdmin) {
  const { stats: s } = admin
  const routes: Record<string, unknown> = {}
  // Copies, sorted by name: the reply must not alias counters that keep moving.
  for (const name of [...s.routes.keys()].sort()) {
    const r = s.routes.get(name)!
    routes[name] = {
      lookups: { ...r.lookups },
      hitRatio: hitRatio(r),
      bypassReasons: { ...r.bypass },
      upstreamRequestsSaved: r.upstreamRequestsSaved,
      tokensSaved: { ...r.tokensSaved },
      stored: r.stored,
      storedBytes: r.storedBytes,
      notStored: { ...r.notStored },
    }
  }
  return {
    routes,
    memory: { ...admin.memory(), evictions: s.store.evictions, evictedBytes: s.store.evictedBytes },
    shared: { status: admin.health().shared, errors: { ...s.store.sharedErrors }, corruptEntries: s.store.corrupt },
  }
}

/**
 * Metadata only, field by field: a tier that handed back more than CacheEntryMeta (a whole
 * entry, say) still cannot leak a body through this endpoint.
 */
function metaOnly(m: CacheEntryMeta): CacheEntryMeta {
  return {
    key: m.key,
    route: m.route,
    createdAt: m.createdAt,
    freshUntil: m.freshUntil,
    staleUntil: m.staleUntil,
    tags: [...m.tags],
    contentType: m.contentType,
    bytes: m.bytes,
    ...(m.usage ? { usage: { input: m.usage.input, output: m.usage.output } } : {}),
    ...(m.model !== undefined ? { model: m.model } : {}),
  }
}

async function entries(admin: CacheAdmin, params: URLSearchParams): Promise<CacheAdminReply> {
  const errors: string[] = []
  const sel: { prefix?: string; tag?: string } = {}
  for (const name of ['prefix', 'tag'] as const) {
    const values = params.getAll(name)
    if (values.length > 1) errors.push(`${name}: give it once`)
    const v = values[0]
    // Empty means absent: `?prefix=&tag=x` is how a form with an unfilled field arrives.
    if (v === undefined || v === '') continue
    if (v.length > MAX_SELECTOR_LENGTH) errors.push(`${name}: at most ${MAX_SELECTOR_LENGTH} characters`)
    else sel[name] = v
  }
  let limit = DEFAULT_LIST_LIMIT
  const rawLimit = params.get('limit')
  if (rawLimit !== null && rawLimit !== '') {
    const n = /^\d{1,9}$/.test(rawLimit) ? Number(rawLimit) : NaN
    if (!(n >= 1)) errors.push(`limit: a whole number from 1 to ${MAX_LIST_LIMIT}`)
    // Above the cap is clamped, not refused: the reply's `limit` says what applied.
    else limit = Math.min(n, MAX_LIST_LIMIT)
  }
  if (errors.length > 0) return bad(errors)
  const found = await admin.store.list(sel, limit)
  return { status: 200, body: { entries: found.slice(0, limit).map(metaOnly), limit } }
}

async function invalidate(admin: CacheAdmin, params: URLSearchParams): Promise<CacheAdminReply> {
  const given = SELECTORS.flatMap((name) => params.getAll(name).map((value) => ({ name, value })))
  if (given.length !== 1) return bad([`give exactly one of ?key=, ?tag= or ?prefix= (got ${given.length === 0 ? 'none' : given.map((g) => g.name).join(', ')})`])
  const { name, value } = given[0]!
  if (value === '') return bad([`${name}: must not be empty (to drop every entry, bump spec.cache.keyVersion)`])
  if (value.length > MAX_SELECTOR_LENGTH) return bad([`${name}: at most ${MAX_SELECTOR_LENGTH} characters`])
  const selector = { [name]: value } as CacheSelector
  const deleted = await admin.store.delete(selector)
  return { status: 200, body: { deleted, selector } }
}

function warm(admin: CacheAdmin, input: unknown): CacheAdminReply {
  // admin.ts hands over undefined for a body that is not JSON.
  if (input === undefined) return bad(['(body): expected a JSON object'])
  const parsed = warmSchema.safeParse(input)
  if (!parsed.success) {
    return bad(
      parsed.error.issues.map((i) => {
        const where = formatPath(i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)))
        return `${where === '(root)' ? '(body)' : where}: ${i.message}`
      }),
    )
  }
  const { requests, concurrency } = parsed.data
  const job = admin.warm.start(requests, concurrency)
  if (!job) return { status: 429, body: { error: 'too_many_requests', message: 'every warm job slot holds a running job; try again when one has finished' }, headers: { 'retry-after': '10' } }
  const status = `/admin/cache/warm/${job.id}`
  return { status: 202, body: { id: job.id, total: job.total, status }, headers: { location: status } }
}
