/**
 * Turns the diagnostics_channel events of the data path and of the Redis connections
 * (core/telemetry/channels.ts) into OpenTelemetry spans.
 *
 * The current span lives in an AsyncLocalStorage bound to the `start` channels: runStores enters
 * it for the traced function, so whatever that function starts (a Redis command, a classifier
 * call) finds its parent. The tracer gets every parent explicitly, so nothing here touches
 * OpenTelemetry's global context manager or provider. Only a request starts a trace: a Redis
 * command or classifier run outside any request (revocation polling, model warm-up) has no span.
 * Nor does anything under a request the sampler dropped: its children would not be exported
 * either, and skipping them makes an unsampled request cost one non-recording span.
 *
 * Attributes are an allow-list of names, codes and counts; error messages are never recorded,
 * since they may quote what a client sent.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type dc from 'node:diagnostics_channel'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type Tracer } from '@opentelemetry/api'
import { classifierTraces, filterTraces, redisTraces, requestTraces, upstreamTraces, type ClassifierTrace, type FilterTrace, type RequestTrace, type UpstreamTrace } from '../../core/telemetry/channels.js'

interface Open {
  readonly span: Span
  readonly ctx: Context
  /** Of a request: response transforms still open, ended with it if their body never finished. */
  transforms?: Set<FilterTrace>
}

const traceContextGetter: TextMapGetter<RequestTrace> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
}

const traceContextSetter: TextMapSetter<UpstreamTrace> = {
  set(c, key, value) {
    if (key === 'traceparent') c.traceparent = value
    else if (key === 'tracestate') c.tracestate = value
  },
}

type Unsubscribe = () => void

/** Subscribes every trace point; the returned function undoes it all. */
export function subscribeSpans(tracer: Tracer, propagator: TextMapPropagator): Unsubscribe {
  const als = new AsyncLocalStorage<Context>()
  const open = new WeakMap<object, Open>()
  const undo: Unsubscribe[] = []

  /** The context spans started now nest in: the current one, if it holds a recorded span. */
  const ambient = (): Context | undefined => {
    const ctx = als.getStore()
    return ctx && trace.getSpan(ctx)?.isRecording() ? ctx : undefined
  }

  const start = (msg: object, name: string, kind: SpanKind, attributes: Attributes, parent: Context): Context => {
    const span = tracer.startSpan(name, { kind, attributes }, parent)
    const ctx = trace.setSpan(parent, span)
    open.set(msg, { span, ctx })
    return ctx
  }

  const recordError = (msg: { error?: unknown }): void => {
    const o = open.get(msg)
    if (!o) return
    const type = errorType(msg.error)
    o.span.setAttribute('error.type', type)
    o.span.setStatus({ code: SpanStatusCode.ERROR, message: type })
  }

  const finish = (msg: object, attributes?: Attributes): void => {
    const o = open.get(msg)
    if (!o) return
    open.delete(msg)
    if (attributes) o.span.setAttributes(attributes)
    o.span.end()
  }

  // Requests: the only root spans, parented by the client's traceparent when it sent one.
  const startRequest = (msg: RequestTrace): Context => {
    const parent = msg.traceparent ? propagator.extract(ROOT_CONTEXT, msg, traceContextGetter) : ROOT_CONTEXT
    const ctx = start(msg, msg.method, SpanKind.SERVER, { 'http.request.method': msg.method }, parent)
    if (!open.get(msg)!.span.isRecording()) msg.sampled = false
    return ctx
  }
  undo.push(
    bind(requestTraces.start, als, startRequest),
    // onComplete hooks run back in the request's context, from the response's close event.
    bind(requestTraces.asyncStart, als, (msg) => open.get(msg)?.ctx ?? als.getStore()),
    subscribe(requestTraces, {
      asyncEnd(msg) {
        const o = open.get(msg)
        if (!o) return
        for (const t of o.transforms ?? []) finish(t, { 'chaperone.filter.finished': false, 'chaperone.filter.units': t.units ?? 0 })
        const status = msg.status ?? 0
        if (msg.route !== undefined) o.span.updateName(`${msg.method} ${msg.route}`)
        const attrs: Attributes = { 'http.response.status_code': status }
        if (msg.route !== undefined) attrs['http.route'] = msg.route
        if (msg.requestId !== undefined) attrs['chaperone.request.id'] = msg.requestId
        if (msg.policyVersion !== undefined) attrs['chaperone.policy.version'] = msg.policyVersion
        if (msg.outcome !== undefined) attrs['chaperone.outcome'] = msg.outcome
        if (msg.code !== undefined) attrs['chaperone.outcome.code'] = msg.code
        // A server span is an error for 5xx only: a refusal is the policy working (OTel HTTP semconv).
        if (status >= 500 || msg.outcome === 'failed') {
          attrs['error.type'] = msg.code ?? String(status)
          o.span.setStatus({ code: SpanStatusCode.ERROR })
        }
        finish(msg, attrs)
      },
    }),
  )

  // Filter hooks: children of their request, whatever async context the hook was called from.
  const startFilter = (msg: FilterTrace): Context | undefined => {
    const parent = msg.request ? open.get(msg.request) : undefined
    const parentCtx = parent ? (parent.span.isRecording() ? parent.ctx : undefined) : ambient()
    if (!parentCtx) return als.getStore()
    const ctx = start(msg, `${msg.filter} ${msg.hook}`, SpanKind.INTERNAL, { 'chaperone.filter.name': msg.filter, 'chaperone.filter.hook': msg.hook }, parentCtx)
    if (msg.hook === 'responseTransform' && parent) (parent.transforms ??= new Set()).add(msg)
    return ctx
  }
  const endFilter = (msg: FilterTrace): void => {
    const attrs: Attributes = {}
    const verdict = msg.result as { kind?: unknown; code?: unknown } | undefined
    if (typeof verdict?.kind === 'string') {
      attrs['chaperone.filter.verdict'] = verdict.kind
      if (typeof verdict.code === 'string') attrs['chaperone.filter.code'] = verdict.code
    }
    if (msg.units !== undefined) {
      attrs['chaperone.filter.units'] = msg.units
      attrs['chaperone.filter.finished'] = msg.error === undefined
      if (msg.request) open.get(msg.request)?.transforms?.delete(msg)
    }
    finish(msg, attrs)
  }
  undo.push(
    bind(filterTraces.start, als, startFilter),
    // A response transform's later calls run in its span (traceTransform enters it with runStores).
    bind(filterTraces.asyncStart, als, (msg) => open.get(msg)?.ctx ?? als.getStore()),
    subscribe(filterTraces, {
      // traceTransform publishes start without runStores: no bound store ran, so start it here.
      start: (msg) => void (open.has(msg) || startFilter(msg)),
      end(msg) {
        if (msg.hook === 'onResponseHead' || msg.result !== undefined || msg.error !== undefined) endFilter(msg)
      },
      asyncEnd: endFilter,
      error: recordError,
    }),
  )

  // The upstream call: a client span whose context the chatbot receives as its traceparent. Its
  // callbacks run back in the caller's context, even after the span has ended (the sink's onEnd).
  const callers = new WeakMap<UpstreamTrace, Context>()
  undo.push(
    bind(upstreamTraces.asyncStart, als, (msg) => callers.get(msg) ?? als.getStore()),
    subscribe(upstreamTraces, {
      start(msg: UpstreamTrace) {
        const parent = als.getStore()
        const parentSpan = parent && trace.getSpan(parent)
        if (!parentSpan) return
        callers.set(msg, parent)
        // Unsampled, the chatbot still gets this trace's id (and its not-sampled flag).
        const ctx = parentSpan.isRecording() ? start(msg, msg.method, SpanKind.CLIENT, { 'http.request.method': msg.method, 'server.address': msg.serverAddress, 'server.port': msg.serverPort }, parent) : parent
        propagator.inject(ctx, msg, traceContextSetter)
      },
      error: recordError,
      asyncEnd(msg) {
        const o = open.get(msg)
        if (!o) return
        const attrs: Attributes = {}
        if (msg.status !== undefined) attrs['http.response.status_code'] = msg.status
        if (msg.aborted) attrs['chaperone.upstream.aborted'] = true
        // A client span is an error from 400 on (OTel HTTP semconv); a recorded error already set its type.
        if (msg.error === undefined && msg.status !== undefined && msg.status >= 400) {
          attrs['error.type'] = String(msg.status)
          o.span.setStatus({ code: SpanStatusCode.ERROR })
        }
        finish(msg, attrs)
      },
    }),
  )

  // Classifier calls: a local batch run or a remote request, nested where they were started.
  undo.push(
    bind(classifierTraces.start, als, (msg: ClassifierTrace) => {
      const parent = ambient()
      if (!parent) return als.getStore()
      return start(msg, `classifier ${msg.classifier}`, msg.mode === 'remote' ? SpanKind.CLIENT : SpanKind.INTERNAL, { 'chaperone.classifier.name': msg.classifier, 'chaperone.classifier.mode': msg.mode, 'chaperone.classifier.batch_size': msg.batchSize }, parent)
    }),
    subscribe(classifierTraces, {
      end: (msg) => void (msg.error !== undefined && finish(msg)),
      asyncEnd: (msg) => finish(msg),
      error: recordError,
    }),
  )

  // Redis: each command is published as it is sent, in the caller's async context.
  undo.push(
    subscribe(redisTraces, {
      start(msg) {
        const parent = ambient()
        if (!parent) return
        start(msg, msg.command, SpanKind.CLIENT, { 'db.system.name': 'redis', 'db.operation.name': msg.command, 'db.namespace': String(msg.database), 'server.address': msg.serverAddress, 'server.port': msg.serverPort, 'chaperone.redis.connection': msg.connection }, parent)
      },
      end: (msg) => void (msg.error !== undefined && finish(msg)),
      asyncEnd: (msg) => finish(msg),
      error: recordError,
    }),
  )

  return () => {
    for (const u of undo.splice(0).reverse()) u()
    // On Node 20 an enabled AsyncLocalStorage taxes every promise of the process.
    als.disable()
  }
}

function bind<M extends object>(channel: dc.Channel<unknown, M>, als: AsyncLocalStorage<Context>, transform: (msg: M) => Context | undefined): Unsubscribe {
  channel.bindStore(als, transform)
  return () => void channel.unbindStore(als)
}

function subscribe<M extends object>(channel: dc.TracingChannel<unknown, M>, handlers: Partial<dc.TracingChannelSubscribers<M>>): Unsubscribe {
  channel.subscribe(handlers as dc.TracingChannelSubscribers<M>)
  return () => void channel.unsubscribe(handlers as dc.TracingChannelSubscribers<M>)
}

/** A code, never a message: `upstream_timeout`, `ECONNREFUSED`, `ReplyError`. */
export function errorType(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && /^[\w.:-]{1,64}$/.test(code)) return code
    const name = (err as { name?: unknown }).name
    if (typeof name === 'string' && /^[\w.:-]{1,64}$/.test(name)) return name
  }
  return 'error'
}
