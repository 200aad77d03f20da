// A client-supplied request id is reused so that traces join up across hops, but only when it
// is short and printable: it lands in logs and headers, so it must not carry injection payloads.
const SAFE_ID = /^[A-Za-z0-9._:\-]{1,128}$/

export function acceptRequestId(candidate: string | undefined): string | undefined {
  return candidate !== undefined && SAFE_ID.test(candidate) ? candidate : undefined
}
