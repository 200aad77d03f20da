import { z } from 'zod'
import { durationMs } from '../../config/duration.js'
import { DEFAULT_IGNORE_FIELDS } from '../../cache/key.js'

const METHODS = ['GET', 'POST'] as const
export const SCOPES = ['user', 'tenant', 'role', 'shared'] as const
export type Scope = (typeof SCOPES)[number]


const normalize = z
  .strictObject({
    nfc: z.boolean().default(true).describe('Unicode NFC, so that composed and decomposed accents are one prompt.'),
    whitespace: z.boolean().default(true).describe('Trim and collapse runs of whitespace to one space.'),
    caseFold: z.boolean().default(false).describe('Fold case: "Hello" and "hello" share an entry.'),
    numbers: z.boolean().default(false).describe('Canonical numbers: "1,000.50" and "1000.5" share an entry.'),
    dates: z
      .union([z.literal(false), z.enum(['ymd', 'mdy', 'dmy'])])
      .default(false)
      .describe('Canonical dates (YYYY-MM-DD): ymd reads only unambiguous forms (2026-11-26, 26 Nov 2026); mdy and dmy also read 11/26/2026 or 26/11/2026.'),
  })
  .prefault({})
  .describe('How prompt text is normalized before it is keyed; normalization never changes what is sent upstream.')

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export const cacheRouteSchema = z
  .strictObject({
    name: z.string().min(1).max(64).regex(NAME, 'letters, digits, ".", "_" and "-"').optional().describe('Names the route in keys, metrics and /admin/cache; default route-<index>.'),
    match: z
      .strictObject({
        paths: z.array(z.string().min(1).max(1024)).min(1).describe('Path patterns as in access rules (exact, /prefix/**, globs).'),
        methods: z.array(z.string().toUpperCase().pipe(z.enum(METHODS))).min(1).default(['POST']),
      })
      .describe('The requests this route caches; the first matching route applies.'),
    scope: z.enum(SCOPES).default('user').describe('Who shares an entry: user (the default: never two users), tenant, role (the same set of roles), or shared (everyone; choose it on purpose).'),
    ttl: durationMs(1000, 30 * 86_400_000).default(600_000).describe('How long an entry is fresh.'),
    ttlJitter: z.number().min(0).max(0.5).default(0.1).describe('Each entry lives ttl × (1 ± jitter), so a warm-up does not expire all at once.'),
    staleWhileRevalidate: durationMs(0, 7 * 86_400_000).default(0).describe('After ttl, serve the stale entry for this long while one request refreshes it in the background.'),
    maxEntryBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024).describe('Responses bigger than this are never stored (nor coalesced past it).'),
    maxTemperature: z.number().min(0).max(2).default(0).describe('Only requests at or below this temperature are cached (a request without one counts as 1, the APIs\' default). 0: deterministic requests only.'),
    replay: z.enum(['instant', 'original']).default('instant').describe('A cached stream is replayed at once, or with its events paced as the upstream sent them.'),
    tags: z.array(z.string().min(1).max(128)).max(32).default([]).describe('Tags put on every entry of this route, for DELETE /admin/cache?tag=.'),
    tagsHeader: z.string().min(1).max(64).toLowerCase().optional().describe('A request header whose comma-separated values are added as tags.'),
    normalize,
    varyHeaders: z
      .array(z.string().min(1).max(64).toLowerCase().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name'))
      .max(16)
      .default([])
      .describe('Request headers whose values are part of the key (e.g. accept-language when the chatbot answers in the caller\'s language). The upstream\'s own Vary header is not read.'),
    ignoreFields: z.array(z.string().min(1).max(64)).default(() => [...DEFAULT_IGNORE_FIELDS]).describe('Top-level body fields left out of the key; every other field is keyed.'),
    coalesce: z.boolean().default(true).describe('Identical requests in flight share one upstream request, on this replica and (with Redis) across replicas.'),
    lockTtl: durationMs(500, 120_000).default(10_000).describe('The cross-replica fill lock lives this long unless its holder renews it (it does while it fetches); a holder that died frees it after this.'),
    lockWait: durationMs(0, 600_000).default(30_000).describe('How long a replica waits for another replica\'s fetch before it fetches itself.'),
    honorNoCache: z.boolean().default(false).describe('Do not store answers whose Cache-Control says no-cache. Off by default: SSE servers send no-cache on every stream (to stop proxy buffering), not about the answer; private, no-store and Set-Cookie always prevent storing.'),
    honorClientCacheControl: z.boolean().default(true).describe('A client\'s Cache-Control: no-store skips the cache, no-cache fetches a fresh answer (and stores it).'),
  })

export const cacheSchema = z
  .strictObject({
    keyVersion: z.union([z.number().int().min(0), z.string().min(1).max(32).regex(NAME)]).default(1).describe('The key namespace: change it to invalidate every entry at once.'),
    routes: z.array(cacheRouteSchema).default([]),
  })
  .describe('Response caching: per-scope keys, streams replayed as streams, coalesced misses, re-moderated on every hit.')

export type CacheRouteConfig = z.output<typeof cacheRouteSchema>
export type CacheConfig = z.output<typeof cacheSchema>
