/**
 * Whether JSON text has an object with the same key twice. JSON.parse keeps the last one, while
 * other parsers (the upstream's, a WAF's) may keep the first: a body with duplicates can mean one
 * thing to the cache key and another to the model, so the cache refuses such bodies.
 *
 * Keys are compared after unescaping, as a parser sees them (`"a"` and `"\u0061"` are the same
 * key). One pass, O(n); nesting is tracked on an explicit stack, so depth is bounded by memory, not
 * by the call stack. A key set is allocated only for objects with a second key. Text that is not
 * JSON may give either answer, but the scan never throws and always ends.
 */

/** A stack entry: an open array, an open object with no key yet, its only key, or its keys. */
type Frame = typeof ARRAY | typeof NO_KEY | string | Set<string>
const ARRAY = 0
const NO_KEY = 1

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a

export function hasDuplicateKeys(text: string): boolean {
  const stack: Frame[] = []
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x7b /* { */) {
      stack.push(NO_KEY)
      i++
    } else if (c === 0x5b /* [ */) {
      stack.push(ARRAY)
      i++
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      i++
    } else if (c === QUOTE) {
      const end = stringEnd(text, i + 1)
      if (end < 0) return false
      let j = end + 1
      while (j < n && isJsonSpace(text.charCodeAt(j))) j++
      // A string followed by a colon is a key of the innermost open object.
      if (j < n && text.charCodeAt(j) === COLON) {
        const top = stack.length > 0 ? stack[stack.length - 1]! : ARRAY
        if (top !== ARRAY) {
          const key = decode(text, i + 1, end)
          if (top === NO_KEY) stack[stack.length - 1] = key
          else if (typeof top === 'string') {
            if (top === key) return true
            stack[stack.length - 1] = new Set([top, key])
          } else {
            if (top.has(key)) return true
            top.add(key)
          }
        }
      }
      i = j
    } else {
      i++
    }
  }
  return false
}

/** Index of the quote closing a string whose body starts at `from`, or -1 when it never closes. */
function stringEnd(text: string, from: number): number {
  const n = text.length
  for (let i = from; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) return i
    if (c === BACKSLASH) i++
  }
  return -1
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** The string value of the body text[from, end): a slice when it has no escapes. */
function decode(text: string, from: number, end: number): string {
  // Bounded by `end`, never text.indexOf: an unbounded search per key would make the scan O(n²).
  let bs = nextBackslash(text, from, end)
  if (bs < 0) return text.slice(from, end)
  let out = ''
  let start = from
  while (bs >= 0) {
    out += text.slice(start, bs)
    const e = text.charCodeAt(bs + 1)
    let len = 2
    switch (e) {
      case 0x62 /* b */: out += '\b'; break
      case 0x66 /* f */: out += '\f'; break
      case 0x6e /* n */: out += '\n'; break
      case 0x72 /* r */: out += '\r'; break
      case 0x74 /* t */: out += '\t'; break
      case 0x75 /* u */: {
        const code = hex4(text, bs + 2, end)
        if (code >= 0) {
          out += String.fromCharCode(code)
          len = 6
        } else out += 'u' // not JSON; any answer will do, as long as it is stable
        break
      }
      default: out += text.charAt(bs + 1) // \" \\ \/ (and, in invalid text, anything)
    }
    start = Math.min(bs + len, end)
    bs = nextBackslash(text, start, end)
  }
  return out + text.slice(start, end)
}

function nextBackslash(text: string, from: number, end: number): number {
  for (let i = from; i < end; i++) if (text.charCodeAt(i) === BACKSLASH) return i
  return -1
}

/** The value of four hex digits at text[at, at+4) within `end`, or -1. */
function hex4(text: string, at: number, end: number): number {
  if (at + 4 > end) return -1
  let v = 0
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k)
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1
    if (d < 0) return -1
    v = v * 16 + d
  }
  return v
}
