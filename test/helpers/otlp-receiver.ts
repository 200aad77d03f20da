import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A span as OTLP/JSON carries it, flattened: ids in hex, attribute values unwrapped. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number
  attributes: Record<string, string | number | boolean>
  status: { code?: number; message?: string }
  resource: Record<string, string | number | boolean>
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const

export interface OtlpReceiver {
  /** The traces URL to configure as telemetry.traces.endpoint. */
  url: string
  readonly spans: ReceivedSpan[]
  /** Raw request bodies, to scan for anything that must not be exported. */
  readonly bodies: string[]
  readonly contentTypes: string[]
  close(): Promise<void>
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type KeyValue = { key: string; value: AnyValue }

function unwrap(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.boolValue !== undefined) return v.boolValue
  if (v.doubleValue !== undefined) return v.doubleValue
  return JSON.stringify(v)
}

function attributes(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, unwrap(kv.value)]))
}

/** An OTLP/HTTP collector stand-in on 127.0.0.1:0 that accepts JSON exports on POST /v1/traces. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const bodies: string[] = []
  const contentTypes: string[] = []
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c)
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end()
      return
    }
    const text = Buffer.concat(parts).toString('utf8')
    bodies.push(text)
    contentTypes.push(req.headers['content-type'] ?? '')
    const doc = JSON.parse(text) as {
      resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: (Omit<ReceivedSpan, 'attributes' | 'resource' | 'parentSpanId'> & { parentSpanId?: string; attributes?: KeyValue[] })[] }[] }[]
    }
    for (const rs of doc.resourceSpans ?? []) {
      const resource = attributes(rs.resource?.attributes)
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind, attributes: attributes(s.attributes), status: s.status ?? {}, resource })
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    bodies,
    contentTypes,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
