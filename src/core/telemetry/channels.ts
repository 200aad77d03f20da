/**
 * Trace points of the data path on node:diagnostics_channel, so that the core never imports
 * OpenTelemetry: io/telemetry subscribes when traces are configured. Each operation is a
 * TracingChannel (start, end, asyncStart, asyncEnd, error) whose events share one message object.
 * Callers check `hasSubscribers` before building a message, so with traces off nothing is built.
 *
 * Messages carry what a span may show and nothing else: no headers (the client's trace context
 * only, to parent the span), no bodies, user ids or text.
 */
import dc from 'node:diagnostics_channel'
import type { Filter, Outcome, RequestContext, ResponseHead, ResponseTransform, ResponseUnit, Verdict } from '../chain/types.js'
import { rawHeaderValues } from '../http/hop-by-hop.js'

export const CHANNEL_NAMES = {
  request: 'chaperone:request',
  filter: 'chaperone:filter',
  upstream: 'chaperone:upstream',
  classifier: 'chaperone:classifier',
  redis: 'chaperone:redis',
} as const

/**
 * One proxied request. traceSync covers the handler's synchronous part (a bound store makes the
 * span current for everything it starts); onComplete hooks run later inside asyncStart.runStores
 * (back in the request's context, so that their Redis calls nest under it); asyncEnd is
 * published once the response has closed and every onComplete has run.
 */
export interface RequestTrace {
  readonly method: string
  /** The client's W3C trace context: the parent of the request span, never an attribute. */
  readonly traceparent: string | undefined
  readonly tracestate: string | undefined
  requestId?: string
  /** core/http/route-label.ts: a bounded label, never the raw path (it may hold ids). */
  route?: string
  policyVersion?: number
  status?: number
  outcome?: Outcome['kind']
  /** The error code of a refused or failed request. */
  code?: string
  /** Set false by a subscriber at start when it records nothing under this request (sampled out). */
  sampled?: boolean
}

/** Whether the filter hooks of a request are trace points: traced, sampled, and subscribed to. */
export function hooksTraced(request: RequestTrace | undefined): request is RequestTrace {
  return request !== undefined && request.sampled !== false && filterTraces.hasSubscribers
}

/** onComplete is not one: it does bookkeeping (its Redis calls are spans of their own, under the request). */
export type FilterHook = 'onRequest' | 'onResponseHead' | 'responseTransform'

/**
 * One filter hook. A synchronous call ends at `end` (onResponseHead, and an onRequest
 * that answered or threw synchronously: `result` or `error` is then set); an onRequest promise at
 * asyncEnd; a response transform lives from its creation to the end of its flush (asyncEnd), or
 * to the end of the request when the body never finished.
 */
export interface FilterTrace {
  readonly filter: string
  readonly hook: FilterHook
  /** The request it runs for: the span's parent whatever the async context (a socket callback has none). */
  readonly request: RequestTrace | undefined
  /** responseTransform: units (SSE events or a JSON body) it was given. */
  units?: number
  /** The verdict the hook returned (onRequest, onResponseHead). */
  result?: unknown
  error?: unknown
}

/**
 * One exchange with the chatbot (io/upstream.ts): start when it is dispatched, asyncEnd when the
 * body has ended, failed or been aborted by the proxy. Each callback to the sink runs inside
 * asyncStart.runStores, so a bound store can put the caller's async context back.
 */
export interface UpstreamTrace {
  readonly method: string
  readonly serverAddress: string
  readonly serverPort: number
  /** Filled by a subscriber at start: the trace context sent upstream in place of the client's. */
  traceparent?: string
  tracestate?: string
  status?: number
  /** The proxy ended the exchange (client gone, moderation cut, refused head). */
  aborted?: boolean
  error?: unknown
}

/** One classifier call: a local model batch run, or one request to a remote endpoint. */
export interface ClassifierTrace {
  readonly classifier: string
  readonly mode: 'local' | 'remote'
  /** Windows scored in this call. */
  readonly batchSize: number
  result?: unknown
  error?: unknown
}

/**
 * One Redis command (io/redis/trace-commands.ts): start when it is sent, asyncEnd when it is
 * answered or fails. Its arguments are never part of it: keys hold subjects, values hold text.
 */
export interface RedisTrace {
  /** Upper case, e.g. EVALSHA. */
  readonly command: string
  /** Which of Chaperone's connections sent it (chaperone-ratelimit, chaperone-cache, …). */
  readonly connection: string
  readonly serverAddress: string
  readonly serverPort: number
  readonly database: number
  error?: unknown
}

export const requestTraces = dc.tracingChannel<unknown, RequestTrace>(CHANNEL_NAMES.request)
export const filterTraces = dc.tracingChannel<unknown, FilterTrace>(CHANNEL_NAMES.filter)
export const upstreamTraces = dc.tracingChannel<unknown, UpstreamTrace>(CHANNEL_NAMES.upstream)
export const classifierTraces = dc.tracingChannel<unknown, ClassifierTrace>(CHANNEL_NAMES.classifier)
export const redisTraces = dc.tracingChannel<unknown, RedisTrace>(CHANNEL_NAMES.redis)

/** The message of a request about to be handled, with the client's trace context if it sent exactly one. */
export function requestTrace(method: string | undefined, rawHeaders: readonly string[]): RequestTrace {
  const parents = rawHeaderValues(rawHeaders, 'traceparent')
  const states = parents.length === 1 ? rawHeaderValues(rawHeaders, 'tracestate') : []
  return {
    method: method ?? 'GET',
    // Several traceparent headers are ambiguous (W3C trace-context §3.2): start a new trace.
    traceparent: parents.length === 1 ? parents[0] : undefined,
    tracestate: states.length > 0 ? states.join(',') : undefined,
  }
}

// The hook helpers are called by the chain runner once it has seen that the filter has the hook.

/**
 * Not tracePromise: a hook may answer synchronously, and what tracePromise publishes for a value
 * that is not a promise differs between Node versions. Here a synchronous answer publishes start
 * and end with `result` set; a promise adds asyncStart and asyncEnd when it settles.
 */
export function traceOnRequest(f: Filter, ctx: RequestContext, request: RequestTrace | undefined): Promise<Verdict> | Verdict {
  const msg: FilterTrace = { filter: f.name, hook: 'onRequest', request }
  return filterTraces.start.runStores(msg, callOnRequest, undefined, f, ctx, msg)
}

function callOnRequest(f: Filter, ctx: RequestContext, msg: FilterTrace): Promise<Verdict> | Verdict {
  let r: Promise<Verdict> | Verdict
  try {
    r = f.onRequest!(ctx)
  } catch (err) {
    msg.error = err
    filterTraces.error.publish(msg)
    filterTraces.end.publish(msg)
    throw err
  }
  if (!(r instanceof Promise)) {
    msg.result = r
    filterTraces.end.publish(msg)
    return r
  }
  filterTraces.end.publish(msg)
  return r.then(
    (v) => {
      msg.result = v
      filterTraces.asyncStart.publish(msg)
      filterTraces.asyncEnd.publish(msg)
      return v
    },
    (err: unknown) => {
      msg.error = err
      filterTraces.error.publish(msg)
      filterTraces.asyncStart.publish(msg)
      filterTraces.asyncEnd.publish(msg)
      throw err
    },
  )
}

export function traceResponseHead(f: Filter, ctx: RequestContext, head: ResponseHead, request: RequestTrace | undefined): Verdict {
  return filterTraces.traceSync(f.onResponseHead!, { filter: f.name, hook: 'onResponseHead', request }, f, ctx, head)
}

/**
 * A response transform whose calls run inside its span (asyncStart.runStores enters the span's
 * context), so that what it starts (a classifier call) nests under it.
 */
export function traceTransform(filter: string, t: ResponseTransform, request: RequestTrace | undefined): ResponseTransform {
  const msg: FilterTrace = { filter, hook: 'responseTransform', request, units: 0 }
  filterTraces.start.publish(msg)
  const failed = (err: unknown): never => {
    msg.error = err
    filterTraces.error.publish(msg)
    filterTraces.asyncEnd.publish(msg)
    throw err
  }
  return {
    transform(unit: ResponseUnit, emit: (u: ResponseUnit) => void) {
      msg.units!++
      try {
        const r = filterTraces.asyncStart.runStores(msg, t.transform, t, unit, emit)
        return r instanceof Promise ? r.catch(failed) : r
      } catch (err) {
        return failed(err)
      }
    },
    flush(emit: (u: ResponseUnit) => void) {
      const ended = (): void => void filterTraces.asyncEnd.publish(msg)
      try {
        const r = filterTraces.asyncStart.runStores(msg, t.flush, t, emit)
        if (r instanceof Promise) return r.then(ended, failed)
        ended()
      } catch (err) {
        failed(err)
      }
    },
  }
}

/**
 * Runs one classifier call (`fn`) as a traced operation. Call sites check
 * `classifierTraces.hasSubscribers` first, so that with traces off neither the message nor the
 * closure is built.
 */
export function traceClassifierCall<T>(call: ClassifierTrace, fn: () => Promise<T>): Promise<T> {
  return classifierTraces.tracePromise(fn, call)
}
