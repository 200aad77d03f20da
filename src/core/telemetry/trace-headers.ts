/**
 * The W3C trace context sent upstream when tracing is on: the client's traceparent and
 * tracestate give way to the proxy's own, whose parent is the upstream-call span, so that the
 * chatbot's spans nest under the hop that called it. Header names may come in any case.
 */
export function withTraceContext(headers: readonly string[], traceparent: string, tracestate: string | undefined): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!
    if (name.length >= 10 && name.length <= 11) {
      const lower = name.toLowerCase()
      if (lower === 'traceparent' || lower === 'tracestate') continue
    }
    out.push(name, headers[i + 1]!)
  }
  out.push('traceparent', traceparent)
  if (tracestate) out.push('tracestate', tracestate)
  return out
}
