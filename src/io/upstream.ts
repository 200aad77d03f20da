import { Pool, errors as undiciErrors } from 'undici'
import type { Dispatcher } from 'undici'
import { ChaperoneError, type ErrorCode } from '../core/errors.js'
import type { ForwardRequest, InFlight, Origin, ResponseSink } from '../core/chain/origin.js'
import { upstreamTraces, type UpstreamTrace } from '../core/telemetry/channels.js'
import { withTraceContext } from '../core/telemetry/trace-headers.js'

export interface UpstreamTimeouts {
  connectMs: number
  headersMs: number
  idleMs: number
  totalMs: number
}

export interface UpstreamOptions {
  url: string
  connections: number
  timeouts: UpstreamTimeouts
}

export type { ForwardRequest, ResponseSink, InFlight } from '../core/chain/origin.js'

/**
 * The one connection pool to the chatbot. It uses undici's low-level dispatch with a raw handler
 * rather than request(): no intermediate stream objects, and raw header bytes we can pass on as
 * they came.
 */
export class Upstream implements Origin {
  readonly #pool: Pool
  readonly #timeouts: UpstreamTimeouts
  readonly #host: string
  readonly #port: number
  readonly origin: string

  constructor(opts: UpstreamOptions) {
    const u = new URL(opts.url)
    this.origin = u.origin
    this.#host = u.hostname
    this.#port = Number(u.port || 80)
    this.#timeouts = opts.timeouts
    this.#pool = new Pool(this.origin, {
      connections: opts.connections,
      pipelining: 1,
      connectTimeout: opts.timeouts.connectMs,
      headersTimeout: opts.timeouts.headersMs,
      bodyTimeout: opts.timeouts.idleMs,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
    })
  }

  forward(req: ForwardRequest, sink: ResponseSink): InFlight {
    if (upstreamTraces.hasSubscribers) return this.#traced(req, sink)
    return this.#dispatch(req, req.headers, sink)
  }

  /**
   * The exchange as a trace point: the chatbot gets the trace context a subscriber set (the
   * upstream-call span's). The sink is called back through asyncStart.runStores, which puts the
   * caller's async context back (the socket's is some earlier request's), so that what the sink
   * starts (a cache write to Redis) nests under this request.
   */
  #traced(req: ForwardRequest, sink: ResponseSink): InFlight {
    const msg: UpstreamTrace = { method: req.method, serverAddress: this.#host, serverPort: this.#port }
    upstreamTraces.start.publish(msg)
    const back = upstreamTraces.asyncStart
    let ended = false
    const end = (err?: ChaperoneError): void => {
      if (ended) return
      ended = true
      if (err) {
        msg.error = err
        upstreamTraces.error.publish(msg)
      }
      upstreamTraces.asyncEnd.publish(msg)
    }
    const traced: ResponseSink = {
      onHead: (status, rawHeaders, resume) => {
        if (status >= 200) msg.status = status
        return back.runStores(msg, sink.onHead, sink, status, rawHeaders, resume)
      },
      onData: (chunk) => back.runStores(msg, sink.onData, sink, chunk),
      onEnd: () => {
        end()
        back.runStores(msg, sink.onEnd, sink)
      },
      onError: (err) => {
        end(err)
        back.runStores(msg, sink.onError, sink, err)
      },
    }
    const flight = this.#dispatch(req, msg.traceparent ? withTraceContext(req.headers, msg.traceparent, msg.tracestate) : req.headers, traced)
    return {
      abort: (reason) => {
        if (!ended) msg.aborted = true
        end()
        flight.abort(reason)
      },
    }
  }

  #dispatch(req: ForwardRequest, headers: string[], sink: ResponseSink): InFlight {
    let abortFn: ((err: Error) => void) | undefined
    let pendingAbort: ChaperoneError | undefined
    let done = false
    const kill = (reason: ChaperoneError) => {
      if (abortFn) abortFn(reason)
      else pendingAbort = reason
    }
    const finish = () => {
      done = true
      clearTimeout(total)
    }
    // The timeout reaches the sink through onError; an abort by the caller does not, because
    // the caller has already decided what the client gets.
    const total = setTimeout(() => kill(new ChaperoneError('upstream_timeout', `total timeout ${this.#timeouts.totalMs} ms`)), this.#timeouts.totalMs)
    total.unref()

    // The legacy handler hooks: undici 7 dispatches them natively, while the controller-style
    // hooks go through an adapter that parses every header into an object we would not use.
    const handler: Dispatcher.DispatchHandler = {
      onConnect: (abort: (err?: Error) => void) => {
        abortFn = abort
        if (pendingAbort) abort(pendingAbort)
      },
      onHeaders: (status: number, rawHeaders: Buffer[], resume: () => void) => {
        if (done) return false
        return sink.onHead(status, latin1(rawHeaders), resume)
      },
      onData: (chunk: Buffer) => (done ? false : sink.onData(chunk)),
      onComplete: () => {
        if (done) return
        finish()
        sink.onEnd()
      },
      onError: (err: Error) => {
        if (done) return
        finish()
        sink.onError(toChaperoneError(err))
      },
    }
    const flight: InFlight = {
      abort: (reason = new ChaperoneError('upstream_error', 'aborted by proxy')) => {
        if (done) return
        finish()
        kill(reason)
      },
    }
    this.#pool.dispatch(
      {
        origin: this.origin,
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers,
        body: req.body as Dispatcher.DispatchOptions['body'],
        // A client that sent the request may be mid-retry; never replay a request body upstream.
        idempotent: false,
      },
      handler,
    )
    return flight
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }

  async destroy(): Promise<void> {
    await this.#pool.destroy()
  }
}

function latin1(raw: Buffer[] | string[] | null): string[] {
  if (!raw) return []
  const out = new Array<string>(raw.length)
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!
    out[i] = typeof v === 'string' ? v : v.toString('latin1')
  }
  return out
}

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

export function toChaperoneError(err: unknown): ChaperoneError {
  if (err instanceof ChaperoneError) return err
  const e = err as { code?: string; message?: string; cause?: unknown }
  const detail = `${e.code ?? 'error'}: ${e.message ?? String(err)}`
  let code: ErrorCode = 'upstream_error'
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    code = 'upstream_timeout'
  } else if (e.code && CONNECT_FAILURES.has(e.code)) {
    code = 'upstream_unavailable'
  } else if (err instanceof undiciErrors.SocketError) {
    code = 'upstream_error'
  } else if (err instanceof undiciErrors.RequestAbortedError) {
    code = 'upstream_error'
  }
  return new ChaperoneError(code, detail, { cause: err })
}
