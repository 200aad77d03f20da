import http from 'node:http'
import { randomUUID } from 'node:crypto'
import type net from 'node:net'
import type { Duplex } from 'node:stream'
import type { Filter, RequestBody, RequestContext, RequestInfo, LogPort, Outcome, ResponseHead, Verdict } from './core/chain/types.js'
import { bufferedBody, withContentLength } from './core/http/request-body.js'
import { runRequestFilters, runResponseHead, collectTransforms, runComplete } from './core/chain/runner.js'
import { ChaperoneError, ERRORS, type ErrorCode } from './core/errors.js'
import { errorReply } from './core/reply.js'
import { stripHopByHop, rawHeaderValue, addForwardingHeaders } from './core/http/hop-by-hop.js'
import { acceptRequestId } from './core/http/request-id.js'
import { routeLabel } from './core/http/route-label.js'
import { isWebSocketUpgrade, serializeRequestHead, upgradeRequestHeaders } from './core/http/upgrade.js'
import { openTunnel, type Tunnel } from './io/tunnel.js'
import { admitTarget } from './core/http/request-target.js'
import { canonicalHost } from './core/http/canonical-host.js'
import { HeaderEditList } from './core/http/header-edits.js'
import { clientIp } from './core/http/client-ip.js'
import { createBodyPipeline, type BodyPipeline } from './core/chain/body-pipeline.js'
import { requestTrace, requestTraces, type RequestTrace } from './core/telemetry/channels.js'
import type { Upstream } from './io/upstream.js'
import type { InFlight, Origin, OriginInterceptor } from './core/chain/origin.js'
import type { Metrics } from './io/metrics.js'
import type { Logger } from './io/logger.js'

/** What the data path needs of a policy snapshot. */
export interface ActiveSnapshot {
  readonly version: number
  readonly digest: string
  readonly chain: readonly Filter[]
  readonly responseHooks: boolean
  /** Some filter reads the request body, so bodies are read whole (bounded) before the chain. */
  readonly requestBody?: boolean
}

export interface ProxyServerOptions {
  store: { current(): ActiveSnapshot | undefined }
  upstream: Upstream
  metrics: Metrics
  log: Logger
  limits: {
    maxRequestBodyBytes: number
    maxHeaderBytes: number
    maxEventBytes: number
    maxJsonBodyBytes: number
  }
  /** Bound on receiving a whole request from the client; replaces Node's 300 s default. */
  requestTimeoutMs: number
  /** WebSocket tunnels: time to connect upstream, and how long both directions may be silent. */
  tunnel: { connectMs: number; idleMs: number }
  accessLog: boolean
  /** Proxies in front that append to X-Forwarded-For (core/http/client-ip.ts); 0 by default. */
  trustedHops?: number
  /** The audit log: requests on audit-required routes are refused while it cannot keep records. */
  audit?: { accepting(): boolean; required(path: string): boolean }
  /** At the end of every request with a context: its decisions (audit log and decision metrics). */
  onDecisions?: (state: ReadonlyMap<string, unknown>, route: string, outcome: Outcome, requestId: string, policyVersion: number) => void
}

export interface ProxyServer {
  readonly server: http.Server
  /** Stops accepting, lets in-flight exchanges finish for up to `timeoutMs`, then cuts the rest. */
  drain(timeoutMs: number): Promise<{ cut: number }>
}

// A client's copy is dropped: Chaperone sets its own (see addForwardingHeaders).
const OWN_REQUEST_HEADERS = new Set(['x-request-id'])
const OWN_RESPONSE_HEADERS = new Set(['x-request-id'])

export function createProxyServer(opts: ProxyServerOptions): ProxyServer {
  const { store, upstream, metrics, log, limits } = opts
  let draining = false
  let active = 0
  const tunnels = new Set<Tunnel>()
  const idleWaiters: Array<() => void> = []

  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: opts.requestTimeoutMs,
    headersTimeout: Math.min(60_000, opts.requestTimeoutMs),
    keepAliveTimeout: 5_000,
    noDelay: true,
  })

  server.on('request', handle)

  function settled(): void {
    active--
    metrics.inflight(-1)
    if (draining) {
      server.closeIdleConnections()
      if (active === 0) for (const w of idleWaiters.splice(0)) w()
    }
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const raw = req.rawHeaders
    const requestId = acceptRequestId(rawHeaderValue(raw, 'x-request-id')) ?? randomUUID()
    const refuse = (code: ErrorCode, detail?: string, extra?: Record<string, string>) => {
      metrics.refusal(code)
      if (detail) log.info({ requestId, code, detail }, 'upgrade refused')
      writeRawError(socket, code, requestId, extra)
    }
    if (!isWebSocketUpgrade(req.method, raw)) return refuse('upgrade_refused', `upgrade: ${rawHeaderValue(raw, 'upgrade') ?? ''}`)
    const target = admitTarget(req.url, raw)
    if (!target.ok) return refuse(target.code, target.detail)
    const snapshot = store.current()
    if (!snapshot) return refuse('not_ready')
    if (draining) return refuse('shutting_down')
    const tunnel = (ctx?: Context) => {
      let outcome: Outcome = { kind: 'completed', status: 101 }
      const headers = addForwardingHeaders(upgradeRequestHeaders(raw, OWN_REQUEST_HEADERS), socket.remoteAddress ?? '', requestId)
      active++
      metrics.inflight(1)
      metrics.tunnel(1)
      const t = openTunnel(socket, serializeRequestHead('GET', target.path + (ctx?.upstreamQuery ?? target.query), ctx ? ctx.upstreamHeaders.apply(headers) : headers), head, { origin: upstream.origin, ...opts.tunnel }, {
        connectFailed: (err) => {
          outcome = { kind: 'failed', status: ERRORS[err.code].status, code: err.code }
          metrics.upstreamError(err.code)
          log.warn({ requestId, code: err.code, detail: err.message }, 'websocket upstream failed')
          writeRawError(socket, err.code, requestId)
        },
        closed: () => {
          tunnels.delete(t)
          metrics.tunnel(-1)
          settled()
          if (ctx) runComplete(snapshot.chain, ctx, outcome)
        },
      })
      tunnels.add(t)
    }
    // A WebSocket handshake is authorized and limited like any request; its messages are not
    // filtered (the tunnel carries bytes untouched).
    if (snapshot.chain.length === 0) return tunnel()
    const childLog = log.child({ requestId, policyVersion: snapshot.version })
    const ctx = requestContext(req, target, opts.trustedHops ?? 0, requestId, snapshot, () => childLog)
    runRequestFilters(snapshot.chain, ctx).then(
      (v) => {
        if (socket.destroyed) return
        if (v.kind === 'continue') return tunnel(ctx)
        const code = v.kind === 'error' ? v.code : 'forbidden'
        // A filter's headers are part of its answer: a 401 without WWW-Authenticate tells the
        // client nothing about how to authenticate (RFC 6750 §3).
        refuse(code, undefined, v.kind === 'error' ? v.headers : undefined)
        runComplete(snapshot.chain, ctx, { kind: 'refused', status: ERRORS[code].status, code })
      },
      (err: unknown) => {
        ctx.log.error({ err }, 'filter failed')
        refuse('internal_error')
      },
    )
  })

  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    metrics.refusal('method_not_allowed')
    writeRawError(socket, 'method_not_allowed', randomUUID())
  })

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? 'unknown'
    metrics.clientError(code)
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    log.info({ err: { code, message: err.message } }, 'client protocol error')
    writeRawError(socket, code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request', randomUUID())
  })

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!requestTraces.hasSubscribers) return serve(req, res, undefined)
    // Traced, the handler runs inside the request span (a store bound to the start channel), so
    // that what it starts nests under it; asyncEnd follows once the response has closed.
    const trace = requestTrace(req.method, req.rawHeaders)
    requestTraces.traceSync(serve, trace, undefined, req, res, trace)
  }

  function serve(req: http.IncomingMessage, res: http.ServerResponse, trace: RequestTrace | undefined): void {
    const started = performance.now()
    active++
    metrics.inflight(1)
    const raw = req.rawHeaders
    const requestId = acceptRequestId(rawHeaderValue(raw, 'x-request-id')) ?? randomUUID()
    const target = admitTarget(req.url, raw)
    const forwardPath = target.ok ? target.path : pathOnly(req.url)
    const forwardUrl = target.ok ? target.path + target.query : (req.url ?? '/')
    const route = routeLabel(forwardPath)
    const snapshot = store.current()
    if (trace) {
      trace.requestId = requestId
      trace.route = route
      trace.policyVersion = snapshot?.version
    }
    // The status we report in metrics and the access log; set when the head is written.
    let status = 0
    let outcome: Outcome | undefined
    let lazyLog: LogPort | undefined
    let ctx: Context | undefined
    // Set once the upstream exchange starts: a client that goes away must not keep the chatbot
    // generating tokens for nobody.
    let abortUpstream: (() => void) | undefined
    const ctxLog = (): LogPort => (lazyLog ??= log.child({ requestId, policyVersion: snapshot?.version }))

    res.sendDate = false
    res.once('close', () => {
      if (!res.writableFinished) abortUpstream?.()
      settled()
      const seconds = (performance.now() - started) / 1000
      if (!outcome) outcome = res.writableFinished ? { kind: 'completed', status } : { kind: 'aborted', status }
      metrics.request(route, status || 499, seconds)
      if (ctx) {
        if (trace) requestTraces.asyncStart.runStores(trace, runComplete, undefined, snapshot!.chain, ctx, outcome)
        else runComplete(snapshot!.chain, ctx, outcome)
        opts.onDecisions?.(ctx.state, route, outcome, requestId, snapshot!.version)
      }
      if (trace) {
        trace.status = status || 499
        trace.outcome = outcome.kind
        if (outcome.kind === 'refused' || outcome.kind === 'failed') trace.code = outcome.code
        requestTraces.asyncEnd.publish(trace)
      }
      if (opts.accessLog) {
        // The root logger with the bindings inline: a child logger per request costs more.
        log.info(
          { requestId, policyVersion: snapshot?.version, method: req.method, path: forwardPath, route, status: status || 499, outcome: outcome.kind, ms: Math.round(seconds * 1e4) / 10 },
          'request',
        )
      }
    })

    const fail = (code: ErrorCode, extra?: Record<string, string>, detail?: string, fields?: Readonly<Record<string, string | number>>): void => {
      if (detail) ctxLog().warn({ code, detail }, 'request refused')
      metrics.refusal(code)
      status = ERRORS[code].status
      outcome = { kind: 'refused', status, code }
      sendError(res, code, requestId, extra, draining, fields)
    }

    if (!snapshot) return fail('not_ready')
    if (!target.ok) return fail(target.code, target.close ? { connection: 'close' } : undefined, target.detail)
    // Refused before any filter runs: no decision is made on this route that could not be recorded.
    if (opts.audit && opts.audit.required(forwardPath) && !opts.audit.accepting()) return fail('audit_unavailable', undefined, 'the audit log is not accepting records')

    const bodyState = { tooLarge: false }
    // Scanning rawHeaders avoids building req.headers, which Node does lazily on first access.
    const declared = rawHeaderValue(raw, 'content-length')
    if (declared !== undefined && Number(declared) > limits.maxRequestBodyBytes) {
      // The body is never read, so the connection cannot be reused for another request.
      return fail('body_too_large', { connection: 'close' }, `content-length ${declared} > ${limits.maxRequestBodyBytes}`)
    }

    const { chain, responseHooks } = snapshot
    const hasBody = declared !== undefined ? declared !== '0' : rawHeaderValue(raw, 'transfer-encoding') !== undefined
    if (chain.length > 0) {
      const filter = (body: RequestBody | undefined) => {
        const c = (ctx = requestContext(req, target, opts.trustedHops ?? 0, requestId, snapshot, ctxLog, body))
        runRequestFilters(chain, c, trace).then(
          (v) => (v.kind === 'continue' ? forward(c) : answerLocally(v)),
          (err: unknown) => {
            ctxLog().error({ err }, 'filter failed')
            fail('internal_error')
          },
        )
      }
      if (!snapshot.requestBody || !hasBody) return filter(undefined)
      readBody(req, limits.maxRequestBodyBytes).then(
        (bytes) => filter(bufferedBody(bytes, rawHeaderValue(raw, 'content-type'), rawHeaderValue(raw, 'content-encoding'))),
        (err: unknown) => {
          if (err instanceof ChaperoneError && err.code === 'body_too_large') return fail('body_too_large', { connection: 'close' }, err.message)
          // The client went away or sent a broken body; there is nobody to answer.
          ctxLog().info({ detail: String(err) }, 'request body not received')
          if (!res.destroyed) fail('bad_request', { connection: 'close' })
        },
      )
      return
    }
    forward(undefined)

    function answerLocally(v: Exclude<Verdict, { kind: 'continue' }>): void {
      if (res.destroyed) return
      if (v.kind === 'error') return fail(v.code, v.headers, undefined, v.fields)
      status = v.reply.status
      outcome = { kind: 'refused', status, code: 'local_reply' }
      res.writeHead(status, { ...v.reply.headers, 'x-request-id': requestId })
      res.end(v.reply.body)
    }

    function forward(c: Context | undefined): void {
      if (res.destroyed) return
      // Filters read response bodies as text: a compressed body would pass moderation unread.
      if (c && responseHooks) c.upstreamHeaders.set('accept-encoding', 'identity')
      const buffered = c?.body
      // Built on first use: a cache hit never sends them anywhere.
      let upstreamHeaders: string[] | undefined
      const headers = (): string[] => {
        if (upstreamHeaders) return upstreamHeaders
        const stripped = c ? c.upstreamHeaders.apply(stripHopByHop(raw, OWN_REQUEST_HEADERS)) : stripHopByHop(raw, OWN_REQUEST_HEADERS)
        return (upstreamHeaders = addForwardingHeaders(buffered ? withContentLength(stripped, buffered.outgoing.byteLength) : stripped, req.socket.remoteAddress ?? '', requestId))
      }

      // A declared length is already within the limit (checked above) and enforced by Node's
      // parser, so the request stream itself goes upstream; only a chunked body is counted.
      if (buffered) exchange(buffered.outgoing)
      else exchange(!hasBody ? null : declared !== undefined ? req : limitBody(req, limits.maxRequestBodyBytes, bodyState))

      function exchange(body: Uint8Array | NodeJS.ReadableStream | AsyncIterable<Buffer> | null): void {
        if (res.destroyed) return
        const needsHooks = c !== undefined && responseHooks
        let pipeline: BodyPipeline | undefined
        let jsonOut: { head: ResponseHead; parts: Uint8Array[] } | undefined
        let resumeUpstream: () => void = () => {}
        let waitingForDrain = false
        let cut = false
        let finished = false
        let sentBody = false
        const firstByte = (): void => {
          sentBody = true
          metrics.firstByte(route, (performance.now() - started) / 1000)
        }

        const finishBody = (): void => {
          if (finished || res.destroyed) return
          finished = true
          if (!jsonOut) return void res.end()
          const bytes = Buffer.concat(jsonOut.parts)
          jsonOut.head.headers['content-length'] = String(bytes.byteLength)
          status = jsonOut.head.status
          res.writeHead(status, flatHeaders(jsonOut.head.headers))
          if (bytes.byteLength > 0) firstByte()
          res.end(bytes)
        }

        const write = (chunk: Uint8Array): boolean => {
          if (!sentBody) firstByte()
          if (res.write(chunk)) return true
          if (!waitingForDrain) {
            waitingForDrain = true
            res.once('drain', () => {
              waitingForDrain = false
              resumeUpstream()
            })
          }
          return false
        }

        const interceptor = c?.interceptor
        const origin: Origin = interceptor ? { forward: (r, s) => interceptor(r, s, upstream) } : upstream
        const flight: InFlight = origin.forward(
          {
            method: req.method ?? 'GET',
            path: c?.upstreamQuery !== undefined ? forwardPath + c.upstreamQuery : forwardUrl,
            get headers() {
              return headers()
            },
            body,
          },
          {
            onHead(upstreamStatus, rawHeaders, resume) {
              if (upstreamStatus < 200) return true
              resumeUpstream = resume
              const out = stripHopByHop(rawHeaders, OWN_RESPONSE_HEADERS)
              out.push('x-request-id', requestId)
              if (draining) out.push('connection', 'close')
              if (isEventStream(rawHeaderValue(out, 'content-type'))) {
                metrics.streamStarted()
                res.once('close', () => metrics.streamEnded())
              }
              if (!needsHooks) {
                status = upstreamStatus
                res.writeHead(upstreamStatus, out)
                return true
              }
              const head: ResponseHead = { status: upstreamStatus, headers: headerObject(out) }
              const encoding = rawHeaderValue(out, 'content-encoding')?.trim().toLowerCase()
              if (encoding && encoding !== 'identity') {
                // Asked for identity and got something else: nothing can check these bytes.
                flight.abort(new ChaperoneError('upstream_error', 'encoded response'))
                ctxLog().warn({ code: 'upstream_error', detail: `content-encoding ${encoding} despite accept-encoding: identity` }, 'upstream failed')
                metrics.upstreamError('upstream_error')
                fail('upstream_error')
                return false
              }
              const v = runResponseHead(chain, c, head, trace)
              if (v.kind !== 'continue') {
                flight.abort(new ChaperoneError('upstream_error', 'response refused by filter'))
                answerLocally(v)
                return false
              }
              const transforms = collectTransforms(chain, c, head, trace)
              if (transforms.length > 0) {
                const p = createBodyPipeline(
                  head,
                  transforms,
                  limits,
                  (bytes) => {
                    if (jsonOut) jsonOut.parts.push(bytes)
                    else write(bytes)
                  },
                  (reason) => {
                    // A filter ended the response (a moderation block): the chatbot stops
                    // generating, and what was emitted before the cut is all the client gets.
                    cut = true
                    flight.abort(new ChaperoneError('upstream_error', reason))
                    finishBody()
                  },
                )
                if (p.mode !== 'raw') {
                  pipeline = p
                  delete head.headers['content-length']
                }
                if (p.mode === 'json') {
                  // The head waits for the transformed body: its length is not known before.
                  jsonOut = { head, parts: [] }
                  return true
                }
              }
              status = head.status
              res.writeHead(head.status, flatHeaders(head.headers))
              return true
            },
            onData(chunk) {
              // undici hands over an empty remainder after each resume; pausing on it again
              // would spin resume/pause in microtasks and starve the socket.
              if (chunk.byteLength === 0) return true
              if (!pipeline) return write(chunk)
              // One chunk in the pipeline at a time bounds what a slow transform can pile up.
              const arrived = performance.now()
              pipeline.push(chunk).then(() => {
                metrics.eventLatency((performance.now() - arrived) / 1000)
                if (!waitingForDrain) resumeUpstream()
              }, abortWith)
              return false
            },
            onEnd() {
              if (!pipeline) return void res.end()
              pipeline.end().then(finishBody, abortWith)
            },
            onError(err) {
              if (res.destroyed || cut) return
              const code: ErrorCode = bodyState.tooLarge ? 'body_too_large' : err.code
              if (code !== 'body_too_large') metrics.upstreamError(code)
              ctxLog().warn({ code, detail: err.message }, 'upstream failed')
              if (!res.headersSent) {
                fail(code, code === 'body_too_large' ? { connection: 'close' } : undefined)
              } else {
                // Headers are gone, so the status cannot change: cut the connection so the client
                // sees a truncated response rather than one that looks complete.
                outcome = { kind: 'failed', status, code }
                res.destroy()
              }
            },
          },
        )

        function abortWith(err: unknown): void {
          const e = err instanceof ChaperoneError ? err : new ChaperoneError('internal_error', String(err))
          ctxLog().error({ code: e.code, detail: e.message }, 'response transform failed')
          flight.abort(e)
          if (!res.headersSent) return fail(e.code)
          outcome = { kind: 'failed', status, code: e.code }
          res.destroy()
        }

        abortUpstream = () => flight.abort(new ChaperoneError('upstream_error', 'client disconnected'))
      }
    }
  }

  return {
    server,
    drain(timeoutMs: number) {
      draining = true
      server.close()
      server.closeIdleConnections()
      if (active === 0) return Promise.resolve({ cut: 0 })
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer)
          resolve({ cut: 0 })
        }
        const timer = setTimeout(() => {
          // Resolve first: cutting connections settles them, which would report nothing cut.
          idleWaiters.splice(idleWaiters.indexOf(done), 1)
          resolve({ cut: active })
          server.closeAllConnections()
          for (const t of tunnels) t.close()
        }, timeoutMs)
        idleWaiters.push(done)
      })
    },
  }
}

/** What the filters see of a request: a class, so every request's context has one shape. */
class Context implements RequestContext {
  readonly state = new Map<string, unknown>()
  readonly upstreamHeaders = new HeaderEditList()
  readonly body?: RequestBody
  /** Set by a filter (setUpstreamQuery); the query forwarded instead of the client's. */
  upstreamQuery: string | undefined
  /** Set by a filter (interceptUpstream): answers in place of, or in front of, the upstream. */
  interceptor: OriginInterceptor | undefined
  readonly #log: () => LogPort

  constructor(
    readonly id: string,
    readonly snapshot: ActiveSnapshot,
    readonly request: RequestInfo,
    log: () => LogPort,
    body: RequestBody | undefined,
  ) {
    this.#log = log
    if (body) this.body = body
  }

  /** Resolved on first use: a child logger per request costs more than most requests log. */
  get log(): LogPort {
    return this.#log()
  }

  setUpstreamQuery(query: string): void {
    this.upstreamQuery = query
  }

  interceptUpstream(interceptor: OriginInterceptor): void {
    this.interceptor = interceptor
  }
}

class ProxyRequestInfo implements RequestInfo {
  readonly method: string
  readonly url: string
  readonly path: string
  readonly query: string
  readonly rawHeaders: readonly string[]
  readonly remoteAddress: string
  readonly protocol = 'http' as const
  readonly #req: http.IncomingMessage
  readonly #trustedHops: number
  #clientIp: string | undefined
  #host: { value: string | undefined } | undefined

  constructor(req: http.IncomingMessage, target: { path: string; query: string }, trustedHops: number) {
    this.#req = req
    this.method = req.method ?? 'GET'
    this.url = target.path + target.query
    this.path = target.path
    this.query = target.query
    this.rawHeaders = req.rawHeaders
    this.remoteAddress = req.socket.remoteAddress ?? ''
    this.#trustedHops = trustedHops
  }

  // Read on first use: most policies need neither.
  get clientIp(): string {
    return (this.#clientIp ??= clientIp(this.rawHeaders, this.remoteAddress, this.#trustedHops))
  }

  get host(): string | undefined {
    return (this.#host ??= { value: canonicalHost(rawHeaderValue(this.rawHeaders, 'host')) }).value
  }

  get headers(): http.IncomingHttpHeaders {
    return this.#req.headers
  }
}

function requestContext(req: http.IncomingMessage, target: { path: string; query: string }, trustedHops: number, requestId: string, snapshot: ActiveSnapshot, log: () => LogPort, body?: RequestBody): Context {
  return new Context(requestId, snapshot, new ProxyRequestInfo(req, target, trustedHops), log, body)
}

/** Reads a whole request body, refusing it as soon as it passes `max` bytes. */
async function readBody(req: http.IncomingMessage, max: number): Promise<Uint8Array> {
  const parts: Buffer[] = []
  for await (const chunk of limitBody(req, max, { tooLarge: false })) parts.push(chunk)
  return Buffer.concat(parts)
}

/** Counts request bytes as they stream; Content-Length alone is never trusted. */
async function* limitBody(req: http.IncomingMessage, max: number, state: { tooLarge: boolean }): AsyncGenerator<Buffer> {
  let seen = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    seen += chunk.length
    if (seen > max) {
      state.tooLarge = true
      throw new ChaperoneError('body_too_large', `request body exceeded ${max} bytes`)
    }
    yield chunk
  }
}

function sendError(res: http.ServerResponse, code: ErrorCode, requestId: string, extra: Record<string, string> | undefined, closing: boolean, fields?: Readonly<Record<string, string | number>>): void {
  if (res.headersSent || res.destroyed) return
  const r = errorReply(code, requestId, { 'x-request-id': requestId, ...extra, ...(closing ? { connection: 'close' } : {}) }, fields)
  res.writeHead(r.status, r.headers)
  res.end(r.body)
}

function writeRawError(socket: Duplex, code: ErrorCode, requestId: string, extra?: Record<string, string>): void {
  const r = errorReply(code, requestId, { 'x-request-id': requestId, ...extra, connection: 'close' })
  let head = `HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status] ?? ''}\r\n`
  for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`
  socket.end(head + '\r\n' + r.body)
}

function pathOnly(url: string | undefined): string {
  if (!url) return '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.toLowerCase().startsWith('text/event-stream')
}

function headerObject(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    const v = raw[i + 1]!
    const prev = out[k]
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
  }
  return out
}

function flatHeaders(h: Record<string, string | string[]>): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) out.push(k, x)
    else out.push(k, v)
  }
  return out
}
