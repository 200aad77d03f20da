import { prototypeOf } from './confusables.js'

/**
 * The context-free half of the folded view: what one code point folds to on its own. The
 * contextual half (leetspeak, spaced-out letters, whitespace runs) works on this output.
 *
 * For a code point c the fold is the fixed point of one step, so folding folded text changes
 * nothing. One step, on every code point of NFKD(c):
 * - combining marks (\p{M}) and default-ignorables are dropped;
 * - White_Space becomes ' ' (the spacing stage collapses runs);
 * - ASCII is lowercased and nothing else: TR39 would map 'I', '1' and '|' to 'l' and 'm' to
 *   'rn', which is the leetspeak stage's job (contextually) or plainly wrong for English;
 * - ß and ẞ become "ss", final ς becomes σ (full case folding; toLowerCase alone keeps them);
 * - typographic double quotes become '"' (see DOUBLE_QUOTES);
 * - punctuation and symbols take their TR39 prototype only when it is not a letter: – → -
 *   and • → · do, but — stays (not ー), € stays (not ꞓ), × stays (not x), ∞ stays (not oo);
 *   an em dash or a price must not turn the word next to it into a longer word;
 * - anything else goes through the TR39 prototype, trying the character as written, then its
 *   lowercase, then its uppercase, and keeping the first that lands in ASCII: Greek Η → H → h,
 *   τ → (ᴛ is not ASCII) → Τ → T → t, Cyrillic е → e. TR39 maps capital look-alikes of I to
 *   'l'; those become 'i', as ASCII 'I' does. When no form lands in ASCII the prototype of the
 *   character as written is lowercased and kept (the next step folds it further).
 */

/** ASCII code → its fold (lowercase; whitespace → space). */
export const ASCII_FOLD = new Uint8Array(128)
for (let c = 0; c < 128; c++) ASCII_FOLD[c] = c >= 0x41 && c <= 0x5a ? c + 32 : c
for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d]) ASCII_FOLD[c] = 0x20

const STRIPPED = /^[\p{M}\p{DI}]$/u
const STRIP_ALL = /[\p{M}\p{DI}]/gu
const WHITE_SPACE = /^\p{White_Space}$/u
/** TR39 makes “ and ” two apostrophes; as quotes they bound words, which ' inside "I'm" does not. */
const DOUBLE_QUOTES = '\u201C\u201D\u201E\u201F\u00AB\u00BB\uFF02'
const SYMBOL = /^[\p{P}\p{S}]$/u
const LETTER_IN = /\p{L}/u

function foldAscii(s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) out += String.fromCharCode(ASCII_FOLD[s.charCodeAt(i)]!)
  return out
}

/** `t` as ASCII after NFKD and mark stripping, or null when it is not all ASCII. */
function asAscii(t: string, capital: boolean): string | null {
  const d = t.normalize('NFKD').replace(STRIP_ALL, '')
  if (d.length === 0) return null
  for (let i = 0; i < d.length; i++) if (d.charCodeAt(i) >= 0x80) return null
  if (capital && d === 'l') return 'i'
  return foldAscii(d)
}

function foldOne(ch: string): string {
  const cp = ch.codePointAt(0)!
  if (cp < 0x80) return String.fromCharCode(ASCII_FOLD[cp]!)
  if (WHITE_SPACE.test(ch)) return ' '
  if (ch === 'ß' || ch === 'ẞ') return 'ss'
  if (ch === 'ς') return 'σ'
  if (DOUBLE_QUOTES.includes(ch)) return '"'
  const proto = prototypeOf(ch) ?? ch
  if (SYMBOL.test(ch)) return LETTER_IN.test(proto) ? ch : proto
  const lower = ch.toLowerCase()
  const upper = ch.toUpperCase()
  const capital = lower !== ch
  return (
    asAscii(proto, capital) ??
    asAscii(prototypeOf(lower) ?? lower, false) ??
    asAscii(prototypeOf(upper) ?? upper, true) ??
    proto.normalize('NFKD').replace(STRIP_ALL, '').toLowerCase()
  )
}

function step(s: string): string {
  let out = ''
  for (const ch of s.normalize('NFKD')) if (!STRIPPED.test(ch)) out += foldOne(ch)
  return out
}

function compute(cp: number): string {
  let s = String.fromCodePoint(cp)
  // Converges in at most 4 steps over all of Unicode 17; the bound only guards a future table.
  for (let i = 0; i < 8; i++) {
    const next = step(s)
    if (next === s) break
    s = next
  }
  return s
}

const bmp: (string | undefined)[] = new Array<string | undefined>(0x10000).fill(undefined)
const astral = new Map<number, string>()

/** What code point `cp` (≥ 0x80) folds to on its own; '' when it disappears. Cached. */
export function foldCodePoint(cp: number): string {
  if (cp < 0x10000) {
    let s = bmp[cp]
    if (s === undefined) bmp[cp] = s = compute(cp)
    return s
  }
  let s = astral.get(cp)
  if (s === undefined) astral.set(cp, (s = compute(cp)))
  return s
}

const IGNORABLES = /\p{DI}/gu
const literalCache = new Map<number, string>()

/** The literal view of one normalization segment: NFKC, default-ignorables removed. */
export function literalSegment(s: string): string {
  const n = s.normalize('NFKC')
  IGNORABLES.lastIndex = 0
  return IGNORABLES.test(n) ? n.replace(IGNORABLES, '') : n
}

/** literalSegment of a segment that is the single code point `cp` (≥ 0x80). Cached. */
export function literalCodePoint(cp: number): string {
  let s = literalCache.get(cp)
  if (s === undefined) literalCache.set(cp, (s = literalSegment(String.fromCodePoint(cp))))
  return s
}
