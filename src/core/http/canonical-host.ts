/**
 * Host names are case-insensitive (RFC 9110 §4.2.3) and a port or a trailing dot does not make
 * another host: `Example.COM:8080` and `example.com.` are both `example.com`. An IPv6 literal
 * keeps its brackets. Rules compare this form, never the header as sent.
 */
export function canonicalHost(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let h = value.trim().toLowerCase()
  const colon = h.lastIndexOf(':')
  if (colon !== -1 && !h.endsWith(']')) h = h.slice(0, colon)
  if (h.endsWith('.')) h = h.slice(0, -1)
  return h === '' ? undefined : h
}
