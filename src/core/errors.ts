/**
 * The one catalogue of error codes Chaperone replies with. Codes are stable API: clients and
 * dashboards key on them, so never rename one; add a new code instead. Messages are generic on
 * purpose: the detail of a failure goes to the log, never to the client.
 */
export const ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  invalid_path: { status: 400, message: 'The request path is not allowed.' },
  content_policy_violation: { status: 400, message: 'The request was refused by the content policy.' },
  unauthorized: { status: 401, message: 'Authentication is required.' },
  forbidden: { status: 403, message: 'The request is not allowed.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  body_too_large: { status: 413, message: 'The request body exceeds the configured limit.' },
  unsupported_encoding: { status: 415, message: 'The request body encoding is not supported here.' },
  rate_limited: { status: 429, message: 'Too many requests: a rate limit was reached.' },
  abuse_penalty: { status: 429, message: 'Too many requests: refused for a while after repeated policy violations.' },
  headers_too_large: { status: 431, message: 'The request headers exceed the configured limit.' },
  upgrade_refused: { status: 501, message: 'This protocol upgrade is not supported.' },
  internal_error: { status: 500, message: 'Internal error.' },
  upstream_unavailable: { status: 502, message: 'The upstream service is unavailable.' },
  upstream_error: { status: 502, message: 'The upstream service failed while responding.' },
  dependency_unavailable: { status: 503, message: 'A dependency the policy needs is unavailable.' },
  audit_unavailable: { status: 503, message: 'The request cannot be audited right now.' },
  shutting_down: { status: 503, message: 'The proxy is shutting down.' },
  not_ready: { status: 503, message: 'The proxy has no policy loaded yet.' },
  upstream_timeout: { status: 504, message: 'The upstream service timed out.' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** An error that carries a catalogue code through the I/O layers to the reply. */
export class ChaperoneError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options)
    this.code = code
    this.name = 'ChaperoneError'
  }
  get status(): number {
    return ERRORS[this.code].status
  }
}
