/**
 * Cache-Control (RFC 9111 §5.2) as far as a cache of LLM answers needs it: which upstream
 * responses may be stored, and what a client asks of the cache. Freshness is not read from the
 * upstream: the route's policy sets the TTL, as upstream LLM APIs send no useful max-age.
 */

import { rawHeaderValue, rawHeaderValues } from '../http/hop-by-hop.js'

const HTAB = 0x09
const SPACE = 0x20
const COMMA = 0x2c
const EQUALS = 0x3d
const DQUOTE = 0x22
const BACKSLASH = 0x5c

/** RFC 9110 §5.6.2 tchar: the characters a directive name may hold. */
const TCHAR = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1

const isTchar = (c: number): boolean => c < 128 && TCHAR[c] === 1
const isOws = (c: number): boolean => c === SPACE || c === HTAB

/**
 * Every directive of every Cache-Control value, names lower-cased, `true` for a directive
 * without an argument. Never throws, and reads each character a bounded number of times
 * (see parseInto) whatever the input.
 *
 * Malformed input is read so that no directive is lost: a quoted string that never closes ends
 * at the next comma, so `private="x, no-store` still yields `no-store`. A name is read up to
 * its first non-token character and the rest up to the next comma is ignored (`no-store;x` is
 * `no-store`); an element that does not start with a token is skipped. When a directive repeats, the first occurrence wins; the
 * directives that decide storing are read for their presence, so this choice cannot make a
 * response storable.
 */
export function parseCacheControl(values: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>()
  for (const v of values) parseInto(v, out)
  return out
}

function parseInto(s: string, out: Map<string, string | true>): void {
  const n = s.length
  // Once a quote has been found without its closing quote, no later quote in `s` can close
  // either, so later quoted values are read like tokens instead of rescanned to the end: this
  // keeps the parse linear on inputs like `a="x,b="x,c="x…`.
  let unclosedQuote = false
  let i = 0
  while (i < n) {
    while (i < n && (isOws(s.charCodeAt(i)) || s.charCodeAt(i) === COMMA)) i++
    if (i >= n) break
    const nameStart = i
    while (i < n && isTchar(s.charCodeAt(i))) i++
    const name = s.slice(nameStart, i).toLowerCase()
    let value: string | true = true
    while (i < n && isOws(s.charCodeAt(i))) i++
    if (i < n && s.charCodeAt(i) === EQUALS) {
      i++
      while (i < n && isOws(s.charCodeAt(i))) i++
      if (i < n && s.charCodeAt(i) === DQUOTE && !unclosedQuote) {
        const q = readQuoted(s, i + 1)
        if (q) {
          value = q.value
          i = q.next
        } else {
          unclosedQuote = true
          const end = nextComma(s, i)
          value = s.slice(i + 1, end)
          i = end
        }
      } else {
        const start = i
        while (i < n && s.charCodeAt(i) !== COMMA && !isOws(s.charCodeAt(i))) i++
        value = s.slice(start, i)
      }
    }
    // Junk before the next comma is skipped but does not void the directive: `no-store;x` must
    // still forbid storing, as reading a directive too eagerly only ever stores less.
    i = nextComma(s, i)
    if (name.length > 0 && !out.has(name)) out.set(name, value)
  }
}

/** A quoted-string's content (escapes removed) from just past its opening quote; undefined when it never closes. */
function readQuoted(s: string, from: number): { value: string; next: number } | undefined {
  let value = ''
  let chunkStart = from
  let i = from
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c === DQUOTE) return { value: value + s.slice(chunkStart, i), next: i + 1 }
    if (c === BACKSLASH && i + 1 < s.length) {
      value += s.slice(chunkStart, i)
      chunkStart = i + 1
      i += 2
      continue
    }
    i++
  }
  return undefined
}

function nextComma(s: string, from: number): number {
  const c = s.indexOf(',', from)
  return c === -1 ? s.length : c
}


/** True when a comma-separated header list (several headers allowed) has `member`, case-insensitively. */
function listHas(values: readonly string[], member: string): boolean {
  for (const v of values) {
    for (const part of v.split(',')) if (part.trim().toLowerCase() === member) return true
  }
  return false
}

export type Storability = { readonly ok: true } | { readonly ok: false; readonly reason: 'status' | 'cache_control' | 'set_cookie' }

const OK: Storability = Object.freeze({ ok: true })
const NOT_STATUS: Storability = Object.freeze({ ok: false, reason: 'status' })
const NOT_CACHE_CONTROL: Storability = Object.freeze({ ok: false, reason: 'cache_control' })
const NOT_SET_COOKIE: Storability = Object.freeze({ ok: false, reason: 'set_cookie' })

/**
 * Whether an upstream response may be stored. Only a 200: a redirect, a partial content or an
 * error is never an answer worth replaying. Never one that sets a cookie: a cookie belongs to
 * one client. Never one whose Cache-Control says:
 * - `no-store`;
 * - `private`, with or without a field list: `private="set-cookie"` allows a shared cache to
 *   store the response without the named fields, but we store the upstream's response whole,
 *   so any form of `private` means not stored;
 * - `no-cache` (and `Pragma: no-cache` without Cache-Control, the HTTP/1.0 spelling) when
 *   `honorNoCache`: it allows storing only with revalidation on every use, and an LLM answer
 *   cannot be revalidated. It is off by default because nearly every SSE server (OpenAI-
 *   compatible ones included) sends `no-cache` on every stream to keep intermediaries from
 *   buffering it, not as a statement about the answer; the operator opted the route in.
 * Also never `Vary: *` (no request can match it), reported as `cache_control`.
 */
export function responseStorable(status: number, rawHeaders: readonly string[], opts: { honorNoCache?: boolean } = {}): Storability {
  if (status !== 200) return NOT_STATUS
  if (setsCookie(rawHeaders)) return NOT_SET_COOKIE
  const cc = rawHeaderValues(rawHeaders, 'cache-control')
  if (cc.length > 0) {
    const d = parseCacheControl(cc)
    if (d.has('no-store') || d.has('private') || (opts.honorNoCache && d.has('no-cache'))) return NOT_CACHE_CONTROL
  } else if (opts.honorNoCache && listHas(rawHeaderValues(rawHeaders, 'pragma'), 'no-cache')) {
    return NOT_CACHE_CONTROL
  }
  if (listHas(rawHeaderValues(rawHeaders, 'vary'), '*')) return NOT_CACHE_CONTROL
  return OK
}

/**
 * Whether a live answer may reach requests other than the one that caused it (coalesced ones):
 * cookies and `private`/`no-store` answers belong to their caller (RFC 9111 §5.2.2.7), while
 * no-cache only forbids storing without revalidation.
 */
export function responseShareable(rawHeaders: readonly string[]): boolean {
  if (setsCookie(rawHeaders)) return false
  const d = parseCacheControl(rawHeaderValues(rawHeaders, 'cache-control'))
  return !d.has('private') && !d.has('no-store')
}

function setsCookie(raw: readonly string[]): boolean {
  return rawHeaderValue(raw, 'set-cookie') !== undefined || rawHeaderValue(raw, 'set-cookie2') !== undefined
}

export interface RequestDirectives {
  /** Neither serve this request from the cache nor store its answer. */
  readonly noStore: boolean
  /** Do not serve from the cache (the fresh answer may be stored). Always true when `noStore` is. */
  readonly noCache: boolean
}

/**
 * What a client's request asks of the cache. `no-store` means neither read nor store; `no-cache`
 * and `max-age=0` mean do not read (the client wants a fresh answer, which may then be stored).
 * `Pragma: no-cache` counts as no-cache only without any Cache-Control (RFC 9111 §5.4). Other
 * request directives (`max-stale`, `min-fresh`, `only-if-cached`, a non-zero `max-age`) are not
 * honoured: the route's policy sets freshness.
 */
export function requestDirectives(rawHeaders: readonly string[]): RequestDirectives {
  const cc = rawHeaderValues(rawHeaders, 'cache-control')
  if (cc.length === 0) {
    const pragma = listHas(rawHeaderValues(rawHeaders, 'pragma'), 'no-cache')
    return { noStore: false, noCache: pragma }
  }
  const d = parseCacheControl(cc)
  const noStore = d.has('no-store')
  const maxAge = d.get('max-age')
  // Any all-digit spelling of zero ("0", "00") is zero; a junk max-age is ignored rather than guessed.
  const maxAgeZero = typeof maxAge === 'string' && /^0+$/.test(maxAge)
  return { noStore, noCache: noStore || d.has('no-cache') || maxAgeZero }
}
