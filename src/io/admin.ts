import http from 'node:http'
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import type { ErrorCode } from '../core/errors.js'
import { errorReply } from '../core/reply.js'
import type { RevocationStore } from '../core/ports.js'
import { handleRevocations } from './admin-revocations.js'
import { handleCache, type CacheAdmin } from './admin-cache.js'
import { parseFalsePositive } from './admin-false-positives.js'
import type { Metrics } from './metrics.js'
import type { Logger } from './logger.js'

export interface AdminOptions {
  metrics: Metrics
  log: Logger
  /** The bearer token for /admin/*; undefined disables those endpoints (fail closed). */
  token: string | undefined
  ready(): boolean
  configStatus(): unknown
  reload(reason: string): Promise<unknown>
  /** POST /admin/moderation/check: previews text against the active or a candidate policy. */
  moderationCheck(body: unknown): Promise<{ status: number; body: unknown }>
  /** /admin/revocations; absent when the process has no revocation store. */
  revocations?: RevocationStore
  /** JWKS endpoints and their cache state, for /admin/jwks. */
  jwksStatus?(): unknown
  /** /admin/cache: stats, entries, invalidation and warming. */
  cache?: CacheAdmin
  /** /admin/audit: the audit writer's state, and forgetting a subject (crypto-shredding). */
  audit?: AuditAdmin
}

export interface AuditAdmin {
  stats(): unknown
  /** Only with per-subject pseudonyms; resolves whether the subject had a key. */
  forget?(subject: string): Promise<boolean>
}

/** Preview requests carry text and maybe a candidate policy; more than this is refused. */
const MAX_ADMIN_BODY = 2 * 1024 * 1024

/**
 * The admin listener, on its own port so that it is never reachable through the data path.
 * Probes and /metrics are open (kubelet and Prometheus do not carry tokens); /admin/* needs the
 * bearer token.
 */
export function createAdminServer(opts: AdminOptions): http.Server {
  const expected = opts.token !== undefined ? digest(opts.token) : undefined
  return http.createServer({ requestTimeout: 10_000 }, (req, res) => {
    void route(req, res).catch((err: unknown) => {
      opts.log.error({ err }, 'admin request failed')
      if (!res.headersSent) send(res, 500, { error: 'internal_error' })
      else res.destroy()
    })
  })

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    const method = req.method ?? 'GET'
    if (path === '/healthz') return send(res, 200, { status: 'ok' })
    if (path === '/readyz') return opts.ready() ? send(res, 200, { status: 'ready' }) : send(res, 503, { status: 'not ready' })
    if (path === '/metrics') {
      const m = await opts.metrics.render()
      res.writeHead(200, { 'content-type': m.contentType })
      res.end(m.body)
      return
    }
    if (!path?.startsWith('/admin/')) return sendError(res, 'not_found')
    if (!authorized(req.headers.authorization)) {
      opts.log.warn({ path, configured: expected !== undefined }, 'admin request without a valid token')
      return sendError(res, 'unauthorized', { 'www-authenticate': 'Bearer realm="chaperone-admin"' })
    }
    if (path === '/admin/config') {
      if (method !== 'GET') return sendError(res, 'method_not_allowed', { allow: 'GET' })
      return send(res, 200, opts.configStatus())
    }
    if (path === '/admin/reload') {
      if (method !== 'POST') return sendError(res, 'method_not_allowed', { allow: 'POST' })
      const result = await opts.reload('admin')
      return send(res, 200, result)
    }
    if (path === '/admin/moderation/check') {
      if (method !== 'POST') return sendError(res, 'method_not_allowed', { allow: 'POST' })
      const body = await readJson(req)
      if (body === TOO_LARGE) return sendError(res, 'body_too_large')
      if (body === NOT_JSON) return send(res, 400, { error: 'bad_request', errors: ['(body): expected a JSON object'] })
      const out = await opts.moderationCheck(body)
      return send(res, out.status, out.body)
    }
    if (path === '/admin/moderation/false-positives') {
      if (method !== 'POST') return sendError(res, 'method_not_allowed', { allow: 'POST' })
      const body = await readJson(req)
      if (body === TOO_LARGE) return sendError(res, 'body_too_large')
      const parsed = parseFalsePositive(body === NOT_JSON ? undefined : body)
      if (!parsed.ok) return send(res, 400, { error: 'bad_request', errors: parsed.errors })
      const counted = opts.metrics.falsePositive(parsed.report.rule)
      opts.log.info({ falsePositive: parsed.report }, 'moderation false positive reported')
      return send(res, 202, { accepted: true, rule: counted })
    }
    if (path === '/admin/revocations' && opts.revocations) {
      let tooLarge = false
      const out = await handleRevocations(opts.revocations, method, new URL(req.url ?? '/', 'http://admin').searchParams, async () => {
        const body = await readJson(req)
        if (body === TOO_LARGE) tooLarge = true
        return body === TOO_LARGE || body === NOT_JSON ? undefined : body
      }, Date.now())
      if (tooLarge) return sendError(res, 'body_too_large')
      if (out.status !== 200 && out.status !== 201) opts.log.info({ status: out.status, body: out.body }, 'revocation request refused')
      else if (method !== 'GET') opts.log.info({ method, result: out.body }, 'revocations changed')
      return send(res, out.status, out.body)
    }
    if (opts.cache && (path === '/admin/cache' || path.startsWith('/admin/cache/'))) {
      let tooLarge = false
      const out = await handleCache(opts.cache, method, path.slice('/admin/cache'.length), new URL(req.url ?? '/', 'http://admin').searchParams, async () => {
        const body = await readJson(req)
        if (body === TOO_LARGE) tooLarge = true
        return body === TOO_LARGE || body === NOT_JSON ? undefined : body
      })
      if (tooLarge) return sendError(res, 'body_too_large')
      if (method === 'DELETE' && out.status === 200) opts.log.info({ result: out.body }, 'cache invalidated')
      if (out.headers) for (const [k, v] of Object.entries(out.headers)) res.setHeader(k, v)
      return send(res, out.status, out.body)
    }
    if (path === '/admin/audit' && opts.audit) {
      if (method !== 'GET') return sendError(res, 'method_not_allowed', { allow: 'GET' })
      return send(res, 200, opts.audit.stats())
    }
    if (path === '/admin/audit/forget' && opts.audit) {
      if (method !== 'POST') return sendError(res, 'method_not_allowed', { allow: 'POST' })
      // The subject travels in the body, never in the URL, so it stays out of access logs.
      const body = await readJson(req)
      if (body === TOO_LARGE) return sendError(res, 'body_too_large')
      const subject = body !== NOT_JSON && typeof body === 'object' && body !== null ? (body as { subject?: unknown }).subject : undefined
      if (typeof subject !== 'string' || subject === '' || subject.length > 1024) return send(res, 400, { error: 'bad_request', errors: ['subject: the subject (the token\'s sub) to forget, 1-1024 characters'] })
      if (!opts.audit.forget) return send(res, 409, { error: 'conflict', message: 'forgetting needs audit.pseudonyms.mode: per-subject' })
      const forgotten = await opts.audit.forget(subject)
      opts.log.info({ forgotten }, 'audit subject forgotten')
      return send(res, 200, { forgotten })
    }
    if (path === '/admin/jwks' && opts.jwksStatus) {
      if (method !== 'GET') return sendError(res, 'method_not_allowed', { allow: 'GET' })
      return send(res, 200, { keySets: opts.jwksStatus() })
    }
    return sendError(res, 'not_found')
  }

  function authorized(header: string | undefined): boolean {
    if (!expected || !header) return false
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) return false
    // Comparing fixed-length digests keeps the comparison constant-time whatever the length.
    return timingSafeEqual(digest(m[1]!), expected)
  }
}

const TOO_LARGE = Symbol('too large')
const NOT_JSON = Symbol('not JSON')

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_ADMIN_BODY) return TOO_LARGE
    parts.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown
  } catch {
    return NOT_JSON
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

function sendError(res: http.ServerResponse, code: ErrorCode, extra?: Record<string, string>): void {
  const r = errorReply(code, randomUUID(), extra)
  res.writeHead(r.status, r.headers)
  res.end(r.body)
}
