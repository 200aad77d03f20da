/**
 * Metrics label for a request path. Raw paths would give unbounded label cardinality (and let
 * any client grow the metrics registry), so only the well-known LLM API routes get their own
 * label and everything else is `other`.
 */
const KNOWN = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/responses',
  '/v1/messages',
  '/v1/embeddings',
  '/v1/models',
  '/v1/moderations',
])

export function routeLabel(path: string): string {
  const q = path.indexOf('?')
  const p = q === -1 ? path : path.slice(0, q)
  return KNOWN.has(p) ? p : 'other'
}
