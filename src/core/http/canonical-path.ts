/**
 * Canonical form of an origin-form request target. Chaperone authorizes by path and must
 * authorize exactly the path it forwards, so every target is reduced to one spelling before the
 * filters run, and that spelling is what goes upstream. Whatever a server could read in two ways
 * (encoded separators, NUL, path parameters, backslashes, raw bytes outside ASCII) is refused
 * rather than guessed at.
 */

export type CanonicalTarget =
  | { ok: true; path: string; query: string }
  | { ok: false; reason: string }

type Refusal = { ok: false; reason: string }

// Node's own limit on a request line is larger; a longer target is no API route we know of.
const MAX_TARGET = 8192

const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const QUESTION = 0x3f

const PLAIN = 0
const ESCAPE = 1
// Printable ASCII that RFC 3986 does not allow raw in a path. Clients do send some of them raw
// (browsers keep `|`, `^`, `[`, `]`), so they are encoded rather than refused: a raw `|` and `%7C`
// must compare equal, as an upstream decodes both to the same byte.
const ENCODE = 2
const REFUSE = 3

const CLASS = new Uint8Array(128)
const REFUSE_REASON: string[] = []
function refuse(c: number, reason: string): void {
  CLASS[c] = REFUSE
  REFUSE_REASON[c] = reason
}
for (let c = 0; c < 0x20; c++) refuse(c, 'control character')
refuse(0x7f, 'control character')
refuse(0, 'nul')
// `#` can only reach the path scan before any `?`; the query is checked on its own.
refuse(0x23, 'fragment')
// Some servers read `\` as `/`, which would walk around a rule written with `/`.
refuse(0x5c, 'backslash')
// Path parameters: servlet containers strip `;…` from a segment, so `/admin;x` would reach `/admin`.
refuse(0x3b, 'path parameter')
CLASS[PERCENT] = ESCAPE
for (const ch of ' "<>[]^`{|}') CLASS[ch.charCodeAt(0)] = ENCODE

// RFC 3986 §2.3: the only escapes decoded, since decoding them never changes what a URI means.
const UNRESERVED = new Uint8Array(128)
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[ch.charCodeAt(0)] = 1

const HEX = '0123456789ABCDEF'

// NUL, `/` or `\` encoded once or more: `%25` is never decoded, so deeper encodings stay visible
// as a run of `25`s. An upstream that decodes twice would otherwise see a separator or a NUL the
// filters did not. Case-insensitive because the hex after a kept `%25` is raw text.
const ENCODED_SEPARATOR = /%(?:25)*(00|2F|5C)/i
const SEPARATOR_REASON: Record<string, string> = { '00': 'encoded nul', '2F': 'encoded slash', '5C': 'encoded backslash' }

export function canonicalizeTarget(target: string): CanonicalTarget {
  const len = target.length
  if (len > MAX_TARGET) return { ok: false, reason: 'target too long' }
  if (target.charCodeAt(0) !== SLASH) return { ok: false, reason: 'not origin-form' }

  // The common case: one scan that finds the end of the path and nothing to change in it.
  let i = 1
  let segmentStart = 1
  let plain = true
  for (; i < len; i++) {
    const c = target.charCodeAt(i)
    if (c === SLASH) {
      if (i === segmentStart || isDotSegment(target, segmentStart, i)) {
        plain = false
        break
      }
      segmentStart = i + 1
    } else if (c === QUESTION) break
    else if (c > 0x7e || CLASS[c] !== PLAIN) {
      plain = false
      break
    }
  }
  let end = i
  // The last segment may be empty (a trailing slash) but not a dot segment.
  if (plain) plain = !isDotSegment(target, segmentStart, end)
  else {
    const q = target.indexOf('?', i)
    end = q === -1 ? len : q
  }
  if (end < len && target.indexOf('#', end + 1) !== -1) return { ok: false, reason: 'fragment' }
  const query = end === len ? '' : target.slice(end)
  const rawPath = end === len ? target : target.slice(0, end)
  if (plain) return { ok: true, path: rawPath, query }
  const path = canonicalPath(rawPath)
  return typeof path === 'string' ? { ok: true, path, query } : path
}

function isDotSegment(s: string, from: number, to: number): boolean {
  const n = to - from
  return (n === 1 && s.charCodeAt(from) === DOT) || (n === 2 && s.charCodeAt(from) === DOT && s.charCodeAt(from + 1) === DOT)
}

/** The slow path: decode, check for encoded separators, merge slashes, resolve dot segments. */
function canonicalPath(path: string): string | Refusal {
  let decoded = ''
  let copyFrom = 0
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c > 0x7f) return { ok: false, reason: 'non-ascii byte' }
    const cls = CLASS[c]
    if (cls === PLAIN) continue
    if (cls === REFUSE) return { ok: false, reason: REFUSE_REASON[c]! }
    decoded += path.slice(copyFrom, i)
    if (cls === ENCODE) decoded += '%' + HEX[c >> 4]! + HEX[c & 15]!
    else {
      const hi = hexValue(path.charCodeAt(i + 1))
      const lo = hexValue(path.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return { ok: false, reason: 'malformed escape' }
      const byte = (hi << 4) | lo
      decoded += byte < 128 && UNRESERVED[byte] === 1 ? String.fromCharCode(byte) : '%' + HEX[hi]! + HEX[lo]!
      i += 2
    }
    copyFrom = i + 1
  }
  decoded += path.slice(copyFrom)
  // Checked before dot segments are resolved: `/a%2F/../b` must not lose its `%2F` with `a%2F`.
  const separator = ENCODED_SEPARATOR.exec(decoded)
  if (separator) return { ok: false, reason: SEPARATOR_REASON[separator[1]!.toUpperCase()]! }
  return mergeAndResolve(decoded)
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/**
 * Repeated slashes merged, then RFC 3986 §5.2.4 on the result: a `..` above the root stays at
 * the root, and a path ending in a dot segment keeps its trailing slash (`/a/b/..` is `/a/`).
 * Merging first means an empty segment never absorbs a `..` (`/a//../b` is `/b`, as nginx sees it).
 */
function mergeAndResolve(path: string): string {
  const segments = path.split('/')
  const out: string[] = []
  for (let k = 1; k < segments.length; k++) {
    const s = segments[k]!
    if (s === '' || s === '.') continue
    if (s === '..') out.pop()
    else out.push(s)
  }
  const last = segments[segments.length - 1]
  const trailingSlash = last === '' || last === '.' || last === '..'
  if (out.length === 0) return '/'
  return '/' + out.join('/') + (trailingSlash ? '/' : '')
}
