/**
 * The trace points in isolation: the client trace context a request carries, the trace context
 * sent upstream, the chain runner's events, and the telemetry.traces config block.
 */
import t from 'tap'
import dc from 'node:diagnostics_channel'
import { withTraceContext } from '../../src/core/telemetry/trace-headers.js'
import { CHANNEL_NAMES, classifierTraces, filterTraces, hooksTraced, redisTraces, requestTrace, requestTraces, upstreamTraces, type FilterTrace } from '../../src/core/telemetry/channels.js'
import { collectTransforms, runRequestFilters, runResponseHead } from '../../src/core/chain/runner.js'
import { CONTINUE, refuse, type Filter, type RequestContext, type ResponseUnit } from '../../src/core/chain/types.js'
import { parseProcessConfig } from '../../src/core/config/process-schema.js'
import { errorType } from '../../src/io/telemetry/span-subscribers.js'

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

t.test('requestTrace takes the client trace context from the raw headers', async (t) => {
  t.same(requestTrace('POST', ['Host', 'x', 'TraceParent', TP, 'tracestate', 'a=1', 'tracestate', 'b=2']), { method: 'POST', traceparent: TP, tracestate: 'a=1,b=2' }, 'any case; tracestate lines joined')
  t.same(requestTrace(undefined, ['host', 'x']), { method: 'GET', traceparent: undefined, tracestate: undefined })
  t.same(requestTrace('GET', ['traceparent', TP, 'traceparent', TP, 'tracestate', 'a=1']), { method: 'GET', traceparent: undefined, tracestate: undefined }, 'two traceparents: ambiguous, a new trace')
})

t.test("withTraceContext replaces the client's trace context and keeps everything else in order", async (t) => {
  const headers = ['Host', 'bot', 'TRACEPARENT', 'client', 'x-trace', 'keep', 'Tracestate', 'client=1', 'traceparents', 'keep too', 'content-type', 'application/json']
  t.same(withTraceContext(headers, TP, 'ours=1'), ['Host', 'bot', 'x-trace', 'keep', 'traceparents', 'keep too', 'content-type', 'application/json', 'traceparent', TP, 'tracestate', 'ours=1'])
  t.same(withTraceContext(['host', 'bot'], TP, undefined), ['host', 'bot', 'traceparent', TP], 'no tracestate when there is none')
  t.same(headers.length, 12, 'the input is not changed')
})

t.test('the chain runner publishes each hook, and only for a sampled, traced request', async (t) => {
  const events: Array<[string, FilterTrace]> = []
  const handlers = {
    start: (m: FilterTrace) => events.push(['start', m]),
    end: (m: FilterTrace) => events.push(['end', m]),
    asyncEnd: (m: FilterTrace) => events.push(['asyncEnd', m]),
    error: (m: FilterTrace) => events.push(['error', m]),
    asyncStart: () => {},
  }
  filterTraces.subscribe(handlers)
  t.teardown(() => void filterTraces.unsubscribe(handlers))
  const ctx = { id: 'r1' } as unknown as RequestContext
  const boom = new Error('boom')
  const chain: Filter[] = [
    { name: 'sync', onRequest: () => CONTINUE },
    { name: 'async', onRequest: async () => CONTINUE, onResponseHead: () => CONTINUE },
    { name: 'refuses', onRequest: async () => refuse('forbidden') },
    { name: 'never', onRequest: () => Promise.reject(boom) },
  ]
  const request = requestTrace('POST', [])
  t.equal(hooksTraced(request), true)

  const v = await runRequestFilters(chain, ctx, request)
  t.equal(v.kind, 'error', 'the verdict is unchanged')
  const seen = events.map(([e, m]) => `${e} ${m.filter}`)
  t.same(seen, ['start sync', 'end sync', 'start async', 'end async', 'asyncEnd async', 'start refuses', 'end refuses', 'asyncEnd refuses'], 'a synchronous answer ends at end, a promise at asyncEnd; the chain stops at the refusal')
  t.same(events[1]![1].result, CONTINUE, 'a synchronous verdict is on the end event')
  t.same(events[7]![1].result, refuse('forbidden'), 'an async verdict is on asyncEnd')
  t.ok(events.every(([, m]) => m.request === request && m.hook === 'onRequest'))

  events.length = 0
  await t.rejects(runRequestFilters([chain[3]!], ctx, request), boom)
  t.same(events.map(([e]) => e), ['start', 'end', 'error', 'asyncEnd'])
  t.equal(events[2]![1].error, boom)

  events.length = 0
  t.same(runResponseHead(chain, ctx, { status: 200, headers: {} }, request), CONTINUE)
  t.same(events.map(([e, m]) => `${e} ${m.filter} ${m.hook}`), ['start async onResponseHead', 'end async onResponseHead'])

  events.length = 0
  request.sampled = false
  t.equal(hooksTraced(request), false)
  await runRequestFilters(chain.slice(0, 2), ctx, request)
  await runRequestFilters(chain.slice(0, 2), ctx, undefined)
  t.same(events, [], 'a request sampled out, or not traced at all, publishes nothing')
})

t.test('a traced response transform runs inside its own store and ends after its flush', async (t) => {
  const { AsyncLocalStorage } = await import('node:async_hooks')
  const als = new AsyncLocalStorage<string>()
  filterTraces.asyncStart.bindStore(als, (m) => `in ${m.filter}`)
  t.teardown(() => void filterTraces.asyncStart.unbindStore(als))
  const events: string[] = []
  const handlers = { start: (m: FilterTrace) => events.push(`start ${m.hook}`), asyncEnd: (m: FilterTrace) => events.push(`asyncEnd units=${m.units}`), end: () => {}, asyncStart: () => {}, error: () => {} }
  filterTraces.subscribe(handlers)
  t.teardown(() => void filterTraces.unsubscribe(handlers))
  const stores: Array<string | undefined> = []
  const chain: Filter[] = [
    {
      name: 'mod',
      responseTransform: () => ({
        transform(u: ResponseUnit, emit: (u: ResponseUnit) => void) {
          stores.push(als.getStore())
          emit(u)
        },
        async flush() {
          stores.push(als.getStore())
        },
      }),
    },
  ]
  const [tr] = collectTransforms(chain, {} as RequestContext, { status: 200, headers: {} }, requestTrace('POST', []))
  const out: ResponseUnit[] = []
  const unit: ResponseUnit = { kind: 'json', body: {} }
  await tr!.transform(unit, (u) => out.push(u))
  await tr!.transform(unit, (u) => out.push(u))
  t.same(events, ['start responseTransform'])
  await tr!.flush(() => {})
  t.same(out, [unit, unit], 'units pass through')
  t.same(stores, ['in mod', 'in mod', 'in mod'])
  t.same(events, ['start responseTransform', 'asyncEnd units=2'])
})

t.test('telemetry.traces in chaperone.yaml', async (t) => {
  const off = parseProcessConfig('chaperone.yaml', 'telemetry: { logLevel: warn }\n')
  t.ok(off.ok && off.config.telemetry.traces === undefined, 'absent: off')
  const on = parseProcessConfig('chaperone.yaml', 'telemetry:\n  traces:\n    endpoint: http://otel-collector:4318/v1/traces\n    sampleRatio: 0.25\n    headers: { x-api-key: k }\n')
  t.ok(on.ok)
  if (on.ok) t.same(on.config.telemetry.traces, { endpoint: 'http://otel-collector:4318/v1/traces', serviceName: 'chaperone', sampleRatio: 0.25, headers: { 'x-api-key': 'k' }, exportTimeoutMs: 10000 })
  const defaults = parseProcessConfig('chaperone.yaml', 'telemetry: { traces: {} }\n')
  t.ok(defaults.ok && defaults.config.telemetry.traces?.endpoint === null, 'an empty block is off too')
  for (const [yaml, path] of [
    ['telemetry: { traces: { endpoint: "otel:4318" } }', 'telemetry.traces.endpoint'],
    ['telemetry: { traces: { endpoint: "grpc://otel:4317" } }', 'telemetry.traces.endpoint'],
    ['telemetry: { traces: { sampleRatio: 2 } }', 'telemetry.traces.sampleRatio'],
    ['telemetry: { traces: { headers: { "bad header": x } } }', 'telemetry.traces.headers'],
    ['telemetry: { traces: { exporter: zipkin } }', 'telemetry.traces'],
  ] as const) {
    const r = parseProcessConfig('chaperone.yaml', `${yaml}\n`)
    t.notOk(r.ok, yaml)
    if (!r.ok) t.ok(r.errors.some((e) => e.path.startsWith(path)), `${yaml}: error at ${path} (${r.errors.map((e) => e.path).join(', ')})`)
  }
})

t.test('errorType names an error without its message', async (t) => {
  t.equal(errorType(Object.assign(new Error('user said: my card is 4111 1111 1111 1111'), { code: 'upstream_timeout' })), 'upstream_timeout')
  t.equal(errorType(new TypeError('secret text')), 'TypeError')
  t.equal(errorType(Object.assign(new Error('x'), { code: 'has spaces and text' })), 'Error', 'a code that is not code-shaped is not used')
  t.equal(errorType('a string'), 'error')
})

t.test('a subscriber that knows only the names reaches the channels the data path publishes on', async (t) => {
  const channels = { request: requestTraces, filter: filterTraces, upstream: upstreamTraces, classifier: classifierTraces, redis: redisTraces }
  for (const [key, name] of Object.entries(CHANNEL_NAMES)) {
    const tc = channels[key as keyof typeof channels]
    for (const event of ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const) t.equal(dc.channel(`tracing:${name}:${event}`), tc[event], `tracing:${name}:${event}`)
  }
})
