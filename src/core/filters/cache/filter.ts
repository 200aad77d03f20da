import { principalOf, type Principal } from '../../chain/principal.js'
import { CONTINUE, type Filter, type RequestContext } from '../../chain/types.js'
import { requestDirectives } from '../../cache/cache-control.js'
import { fetchThrough, serveEntry, type ExchangeDeps, type ExchangePlan } from '../../cache/exchange.js'
import { cacheKey, type KeyOptions } from '../../cache/key.js'
import type { CacheStore } from '../../cache/types.js'
import { hasDuplicateKeys } from '../../formats/duplicate-keys.js'
import { isObject, modelOf } from '../../formats/json.js'
import type { PathMatcher } from '../../http/path-pattern.js'
import type { Ports } from '../../ports.js'
import type { CacheRouteConfig, Scope } from './schema.js'

export interface CompiledRoute {
  readonly name: string
  readonly config: CacheRouteConfig
  readonly paths: readonly PathMatcher[]
  readonly methods: ReadonlySet<string>
  readonly key: KeyOptions
}

/** Why a request on a cache route is neither served from nor stored in the cache. */
export type BypassReason = 'no_body' | 'not_json' | 'duplicate_keys' | 'temperature' | 'no_subject' | 'no_tenant' | 'no_principal' | 'client_no_store' | 'no_store'

export const CACHE_STATE = 'cache'

/**
 * `spec.cache`: the last filter on the way in, so that only requests every other filter let
 * through reach it, and the first on the way back, so that it sees (and stores) the upstream's
 * own answer before moderation. A hit stands in for the upstream, not for the chain.
 */
export function createCacheFilter(namespace: string, routes: readonly CompiledRoute[], ports: Ports): Filter {
  const store: CacheStore | undefined = ports.cache
  if (!store || routes.length === 0) return { name: 'cache' }
  const deps: ExchangeDeps = {
    store,
    metrics: ports.cacheMetrics,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    now: ports.now ? () => ports.now!().getTime() : Date.now,
    random: ports.random ?? Math.random,
    ...(ports.cacheFlightBytes !== undefined ? { flightBytes: ports.cacheFlightBytes } : {}),
  }

  return {
    name: 'cache',
    needsRequestBody: true,
    async onRequest(ctx) {
      const route = routeFor(routes, ctx)
      if (!route || !ctx.interceptUpstream) return CONTINUE
      const c = route.config
      const bypass = (reason: BypassReason) => {
        ports.cacheMetrics?.lookup(route.name, 'bypass', reason)
        ctx.state.set(CACHE_STATE, { route: route.name, result: 'bypass', reason })
        return CONTINUE
      }
      const client = c.honorClientCacheControl ? requestDirectives(ctx.request.rawHeaders) : { noStore: false, noCache: false }
      if (client.noStore) return bypass('client_no_store')
      const body = ctx.body
      // A GET (a model list, a stored answer by id) is keyed on its path and query alone.
      const bodiless = !body && ctx.request.method === 'GET'
      if (!body && !bodiless) return bypass('no_body')
      const json = body ? body.json() : null
      if (body && !isObject(json)) return bypass('not_json')
      // Two values for one field: the upstream and the key could each read a different one.
      if (body && hasDuplicateKeys(Buffer.from(body.bytes.buffer, body.bytes.byteOffset, body.bytes.byteLength).toString('utf8'))) return bypass('duplicate_keys')
      if (isObject(json)) {
        const temperature = typeof json.temperature === 'number' ? json.temperature : 1
        if (temperature > c.maxTemperature) return bypass('temperature')
      }
      const scope = scopeValue(c.scope, principalOf(ctx.state))
      if (typeof scope !== 'string') return bypass(scope.reason)

      const tags = [...c.tags, ...headerTags(ctx, c.tagsHeader)]
      const headers = c.varyHeaders.map((name): [string, string] => [name, headerValue(ctx, name)])
      const { key } = cacheKey(
        { namespace, route: route.name, method: ctx.request.method, path: ctx.request.path, query: ctx.request.query, scopeKind: c.scope, scopeValue: scope, body: json, headers },
        route.key,
      )
      // Stored bytes must be readable by every client that may get them, and by moderation.
      ctx.upstreamHeaders.set('accept-encoding', 'identity')
      const model = isObject(json) ? modelOf(json) : undefined
      const plan: ExchangePlan = {
        key,
        route: route.name,
        tags,
        ttlMs: c.ttl,
        ttlJitter: c.ttlJitter,
        staleMs: c.staleWhileRevalidate,
        maxEntryBytes: c.maxEntryBytes,
        honorNoCache: c.honorNoCache,
        pacing: c.replay,
        coalesce: c.coalesce,
        lockTtlMs: c.lockTtl,
        lockWaitMs: c.lockWait,
        ...(model !== undefined ? { model } : {}),
      }
      // Resolved only if something is logged: ctx.log makes a child logger on first use.
      const d: ExchangeDeps = { ...deps, log: { debug: (o, m) => ctx.log.debug(o, m), info: (o, m) => ctx.log.info(o, m), warn: (o, m) => ctx.log.warn(o, m), error: (o, m) => ctx.log.error(o, m) } }
      const entry = client.noCache ? undefined : await store.get(key)
      const now = d.now()
      if (entry && entry.meta.staleUntil > now) {
        const stale = entry.meta.freshUntil <= now
        ports.cacheMetrics?.lookup(route.name, stale ? 'stale' : 'hit')
        ports.cacheMetrics?.saved(route.name, entry.meta.usage)
        // What the audit log (issue 9) records of a cached answer: which entry, how old. Not logged
        // here: a child logger and a line per hit cost more than the rest of the hit path.
        ctx.state.set(CACHE_STATE, { route: route.name, result: stale ? 'stale' : 'hit', key, ageMs: now - entry.meta.createdAt })
        ctx.interceptUpstream((req, sink, next) => serveEntry(entry, stale, plan, d, req, sink, next))
        return CONTINUE
      }
      ctx.state.set(CACHE_STATE, { route: route.name, result: 'miss', key })
      ctx.interceptUpstream((req, sink, next) => fetchThrough(plan, d, req, sink, next))
      return CONTINUE
    },
  }
}

function routeFor(routes: readonly CompiledRoute[], ctx: RequestContext): CompiledRoute | undefined {
  const { method, path } = ctx.request
  for (const r of routes) {
    if (!r.methods.has(method)) continue
    if (r.paths.some((p) => p.test(path))) return r
  }
  return undefined
}

/** Who shares entries: never two users unless the route says so. */
function scopeValue(scope: Scope, p: Principal | undefined): string | { reason: BypassReason } {
  switch (scope) {
    case 'shared':
      return ''
    case 'user':
      return p?.subject ?? { reason: 'no_subject' }
    case 'tenant':
      return p?.tenant ?? { reason: 'no_tenant' }
    case 'role':
      return p ? [...p.roles].sort().join(',') : { reason: 'no_principal' }
  }
}

const MAX_HEADER_TAGS = 16

function headerValue(ctx: RequestContext, name: string): string {
  const v = ctx.request.headers[name]
  return Array.isArray(v) ? v.join(', ') : (v ?? '')
}

function headerTags(ctx: RequestContext, header: string | undefined): string[] {
  if (!header) return []
  const out: string[] = []
  for (const t of headerValue(ctx, header).split(',')) {
    const tag = t.trim()
    if (tag && tag.length <= 128 && out.length < MAX_HEADER_TAGS) out.push(tag)
  }
  return out
}
