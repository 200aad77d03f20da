/**
 * CEL's lexical grammar, only as far as the syntax diagnostics need it: token kinds and
 * offsets, not values (the library's parser builds the tree). A lexical error stops the scan.
 */

export type TokenKind = 'ident' | 'number' | 'string' | 'op'

export interface Token {
  readonly kind: TokenKind
  /** The source text of the token (for strings and numbers, as written). */
  readonly text: string
  readonly offset: number
}

export type LexResult = { ok: true; tokens: Token[] } | { ok: false; offset: number; message: string }

const TWO_CHAR_OPS: ReadonlySet<string> = new Set(['||', '&&', '==', '!=', '<=', '>='])
const ONE_CHAR_OPS = '<>!+-*/%?:.,()[]{}'
const STRING_PREFIXES: ReadonlySet<string> = new Set(['r', 'R', 'b', 'B', 'rb', 'rB', 'Rb', 'RB', 'br', 'bR', 'Br', 'BR'])
const LONE_OPERATOR_HINTS: Readonly<Record<string, string>> = {
  '=': "'=' is not an operator: write '==' to compare",
  '&': "'&' is not an operator: write '&&' for and",
  '|': "'|' is not an operator: write '||' for or",
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
const isIdentStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c)
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 12 || c === 13

export function lex(src: string): LexResult {
  const tokens: Token[] = []
  let i = 0
  const n = src.length
  while (i < n) {
    const c = src.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    if (c === 47 && src.charCodeAt(i + 1) === 47) {
      while (i < n && src.charCodeAt(i) !== 10) i++
      continue
    }
    const start = i
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(src.charCodeAt(i))) i++
      const word = src.slice(start, i)
      const q = src.charCodeAt(i)
      if ((q === 34 || q === 39) && STRING_PREFIXES.has(word)) {
        const end = scanString(src, i, /r/i.test(word))
        if (end < 0) return { ok: false, offset: start, message: 'this string is never closed' }
        tokens.push({ kind: 'string', text: src.slice(start, end), offset: start })
        i = end
        continue
      }
      tokens.push({ kind: 'ident', text: word, offset: start })
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const end = scanNumber(src, i)
      if (end < 0) return { ok: false, offset: start, message: 'malformed number' }
      tokens.push({ kind: 'number', text: src.slice(start, end), offset: start })
      i = end
      continue
    }
    if (c === 34 || c === 39) {
      const end = scanString(src, i, false)
      if (end < 0) return { ok: false, offset: start, message: 'this string is never closed' }
      tokens.push({ kind: 'string', text: src.slice(start, end), offset: start })
      i = end
      continue
    }
    const two = src.slice(i, i + 2)
    if (TWO_CHAR_OPS.has(two)) {
      tokens.push({ kind: 'op', text: two, offset: start })
      i += 2
      continue
    }
    const one = src[i]!
    if (ONE_CHAR_OPS.includes(one)) {
      tokens.push({ kind: 'op', text: one, offset: start })
      i++
      continue
    }
    const char = String.fromCodePoint(src.codePointAt(i)!)
    return { ok: false, offset: start, message: LONE_OPERATOR_HINTS[char] ?? `unexpected character '${char}'` }
  }
  return { ok: true, tokens }
}

/** Offset just past the string whose opening quote is at `at`, or -1 when it is never closed. */
function scanString(src: string, at: number, raw: boolean): number {
  const quote = src[at]!
  const triple = src.startsWith(quote.repeat(3), at)
  const close = triple ? quote.repeat(3) : quote
  let i = at + close.length
  while (i < src.length) {
    const c = src[i]!
    if (!raw && c === '\\') {
      i += 2
      continue
    }
    if (!triple && (c === '\n' || c === '\r')) return -1
    if (src.startsWith(close, i)) return i + close.length
    i++
  }
  return -1
}

/** Offset just past the number starting at `at`, or -1 when it is malformed (`1e`, `0x`, `12abc`). */
function scanNumber(src: string, at: number): number {
  let i = at
  const n = src.length
  if (src[i] === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
    i += 2
    const digits = i
    while (i < n && isHexDigit(src.charCodeAt(i))) i++
    if (i === digits) return -1
    if (src[i] === 'u' || src[i] === 'U') i++
    return isIdentPart(src.charCodeAt(i)) ? -1 : i
  }
  while (i < n && isDigit(src.charCodeAt(i))) i++
  let float = false
  if (src[i] === '.' && isDigit(src.charCodeAt(i + 1))) {
    float = true
    i++
    while (i < n && isDigit(src.charCodeAt(i))) i++
  }
  if (src[i] === 'e' || src[i] === 'E') {
    float = true
    i++
    if (src[i] === '+' || src[i] === '-') i++
    const digits = i
    while (i < n && isDigit(src.charCodeAt(i))) i++
    if (i === digits) return -1
  }
  if (!float && (src[i] === 'u' || src[i] === 'U')) i++
  return isIdentPart(src.charCodeAt(i)) ? -1 : i
}
