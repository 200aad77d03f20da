/**
 * Hop-by-hop header handling (RFC 9110 §7.6.1). Works on Node's flat rawHeaders arrays
 * ([name, value, name, value, …]) so that the forwarded headers keep the client's order, case
 * and duplicates: a transparent proxy should not rewrite what it has no reason to touch.
 */

// Always connection-specific, whatever `Connection` says. `expect` is here too: Node answers
// `100-continue` itself, and undici refuses to forward it.
const ALWAYS = new Set([
  'connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
  'expect',
])

function isAlwaysHopByHop(lower: string): boolean {
  return ALWAYS.has(lower) || lower.startsWith('proxy-')
}

/** The header names listed in every `Connection` header, lower-cased. */
export function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue
    for (const t of raw[i + 1]!.split(',')) {
      const name = t.trim().toLowerCase()
      if (name) (tokens ??= new Set()).add(name)
    }
  }
  return tokens
}

/**
 * Returns rawHeaders without hop-by-hop headers and without any header named in `Connection`.
 * `drop` names further headers the caller will set itself (lower-case).
 */
export function stripHopByHop(raw: readonly string[], drop?: ReadonlySet<string>): string[] {
  const named = connectionTokens(raw)
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    if (isAlwaysHopByHop(lower) || named?.has(lower) || drop?.has(lower)) continue
    out.push(name, raw[i + 1]!)
  }
  return out
}

/** The first value of a header in a flat raw array, or undefined. */
export function rawHeaderValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) return raw[i + 1]
  }
  return undefined
}

/** Every value of a header in a flat raw array, in order (a comma list may span several lines). */
export function rawHeaderValues(raw: readonly string[], lowerName: string): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) out.push(raw[i + 1]!)
  }
  return out
}

/** How many times a header occurs; Node's req.headers hides duplicates of some (Host, Authorization). */
export function countHeader(raw: readonly string[], lowerName: string): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) n++
  return n
}

/**
 * Adds the headers Chaperone owns to a stripped header list, after stripping so that a client
 * cannot remove them through `Connection:`. X-Forwarded-Proto set by an earlier hop (a mesh
 * sidecar that terminated TLS) is kept; only a missing one is filled in.
 */
export function addForwardingHeaders(headers: string[], peer: string, requestId: string): string[] {
  appendForwardedFor(headers, peer)
  if (rawHeaderValue(headers, 'x-forwarded-proto') === undefined) headers.push('x-forwarded-proto', 'http')
  headers.push('x-request-id', requestId)
  return headers
}

/**
 * Folds every X-Forwarded-For the client sent (and that survived stripping) into one header
 * and appends the peer, so the chatbot sees a single, ordered chain ending in the real socket.
 */
export function appendForwardedFor(headers: string[], peer: string): void {
  let prior: string | undefined
  for (let i = 0; i < headers.length; ) {
    if (headers[i]!.toLowerCase() === 'x-forwarded-for') {
      prior = prior === undefined ? headers[i + 1]! : `${prior}, ${headers[i + 1]!}`
      headers.splice(i, 2)
    } else i += 2
  }
  headers.push('x-forwarded-for', prior ? `${prior}, ${peer}` : peer)
}
