/**
 * OpenTelemetry traces, exported over OTLP/HTTP (JSON) when `telemetry.traces.endpoint` is set.
 * The SDK is loaded only then: without an endpoint nothing subscribes to the trace channels, and
 * the data path builds no trace messages at all.
 *
 * The tracer provider is this process' own and is never registered globally, so two instances
 * in one process (tests) do not share state, and nothing else in the process is traced by it.
 */
import { hostname } from 'node:os'
import type { LogPort } from '../../core/chain/types.js'
import type { TracesConfig } from '../../core/telemetry/config-schema.js'

export interface Tracing {
  /** Stops tracing new work, then exports what is buffered (bounded by exportTimeoutMs). */
  shutdown(): Promise<void>
}

export type TracingLog = Pick<LogPort, 'info' | 'warn'>

/**
 * An export serializes its batch on the event loop (about 5-10 µs a span), delaying whatever
 * request is in flight then: 128 spans bound that to about a millisecond, where the SDK's 512
 * would stall a request four times longer. Under load that means more, smaller exports.
 */
const EXPORT_BATCH_SPANS = 128
/** Spans waiting for export; past it (a slow or absent collector) new spans are dropped. */
const QUEUED_SPANS = 4096

export async function startTracing(config: TracesConfig, log: TracingLog): Promise<Tracing | undefined> {
  if (config.endpoint === null) return undefined
  const [{ tracing, core, resources }, { OTLPTraceExporter }, { subscribeSpans }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('./span-subscribers.js'),
  ])
  const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: config.headers, timeoutMillis: config.exportTimeoutMs })
  const provider = new tracing.BasicTracerProvider({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': config.serviceName, 'service.instance.id': hostname() })),
    sampler: new tracing.ParentBasedSampler({ root: new tracing.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new tracing.BatchSpanProcessor(reportFailures(exporter, log, where(config.endpoint)), { exportTimeoutMillis: config.exportTimeoutMs, maxExportBatchSize: EXPORT_BATCH_SPANS, maxQueueSize: QUEUED_SPANS })],
  })
  const unsubscribe = subscribeSpans(provider.getTracer('chaperone'), new core.W3CTraceContextPropagator())
  log.info({ endpoint: where(config.endpoint), sampleRatio: config.sampleRatio }, 'traces exported over OTLP/HTTP')
  let stopped = false
  return {
    async shutdown() {
      if (stopped) return
      stopped = true
      unsubscribe()
      // A collector that is away must not fail the shutdown; the failed export is already logged.
      await provider.shutdown().catch(() => {})
    },
  }
}

type Exporter = ConstructorParameters<typeof import('@opentelemetry/sdk-node').tracing.BatchSpanProcessor>[0]

/**
 * Logs failed exports on a change of state only: a collector that is away would otherwise log
 * every few seconds. The error's message names the transport problem, never span content.
 */
function reportFailures(exporter: Exporter, log: TracingLog, endpoint: string): Exporter {
  let failing = false
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== 0 && !failing) {
          failing = true
          log.warn({ endpoint, spans: spans.length, err: result.error?.message ?? 'export failed' }, 'trace export failed; spans dropped until the collector answers')
        } else if (result.code === 0 && failing) {
          failing = false
          log.info({ endpoint }, 'trace export recovered')
        }
        done(result)
      })
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
}

/** The endpoint for logs: without credentials or query. */
function where(url: string): string {
  const u = new URL(url)
  return `${u.protocol}//${u.host}${u.pathname}`
}
