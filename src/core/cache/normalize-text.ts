/**
 * Text normalizers for cache keys: two prompts that differ only in ways the options declare
 * irrelevant map to the same string, and so to the same cache entry. Steps run in a fixed order:
 * NFC, dates, numbers, case fold, whitespace. Dates go before numbers so that `26.11.2026` is read
 * as a date and not as numbers; case fold and whitespace go last so that the date and number
 * patterns see the text as written (any case, any spacing).
 *
 * Every pattern here is linear on attacker-sized input (1 MB): bounded or single quantifiers,
 * lookarounds of one or two characters, and no quantified group that can match the same text in
 * two ways.
 *
 * Decisions:
 * - Case fold is `toLowerCase().toUpperCase().toLowerCase()`, locale-independent. Upper-casing
 *   folds ß to ss and ﬁ to fi, and makes final sigma and σ one form (both become Σ, then
 *   toLowerCase applies its context rule), which plain toLowerCase does not; the first
 *   toLowerCase is for capital ẞ, which toUpperCase keeps but which lower-cases to ß. It is not
 *   Unicode's CaseFolding.txt (Turkish İ becomes i + U+0307), but it maps the case variants of a
 *   string to one form, which is what a key needs.
 * - Whitespace is JavaScript's `\s` (Unicode White_Space: NBSP, U+2000–U+200A, U+3000, line and
 *   paragraph separators, tabs, newlines…) plus U+0085 (NEL), which `\s` lacks.
 * - A number token is a run of ASCII digits, optionally in strict thousands groups (`1,234,567`:
 *   a head of 1–3 digits then groups of exactly 3) and optionally with a `.` fraction. It must
 *   stand alone: neither side may touch a letter, digit, mark or `_`, nor a joiner (`- : / . ,`)
 *   that itself touches one. So `gpt4o`, `ACME-000123`, `v1.20`, `09:05`, `1.2.3`, `555-0123`,
 *   `1,2,3` and `3,50` are left as they are, and `007`, `1,000`, `3.50` and `$2.0` become `7`,
 *   `1000`, `3.5` and `$2`. `.` is always the decimal point (`1.000` becomes `1`).
 * - Dates are read only where unambiguous for the chosen mode (see DateOrder) and only when valid
 *   on the Gregorian calendar; they become `YYYY-MM-DD`. Month names are English, full or
 *   three-letter (and `Sept`), in any case, with an optional `.`.
 */

/** Which numeric dates are read: `ymd` only year-first ones; `mdy` and `dmy` also `11/26/2026`-like ones. */
export type DateOrder = 'ymd' | 'mdy' | 'dmy'

export interface TextNormalizeOptions {
  readonly nfc: boolean
  readonly whitespace: boolean
  readonly caseFold: boolean
  readonly numbers: boolean
  readonly dates: false | DateOrder
}

export function createTextNormalizer(opts: TextNormalizeOptions): (s: string) => string {
  const steps: ((s: string) => string)[] = []
  if (opts.nfc) steps.push((s) => s.normalize('NFC'))
  if (opts.dates) steps.push(dateNormalizer(opts.dates))
  if (opts.numbers) steps.push(canonicalNumbers)
  if (opts.caseFold) steps.push(caseFold)
  if (opts.whitespace) steps.push(collapseWhitespace)
  return (s) => {
    for (const step of steps) s = step(s)
    return s
  }
}

function caseFold(s: string): string {
  return s.toLowerCase().toUpperCase().toLowerCase()
}

const SPACE_RUN = /[\s\u0085]+/g

function collapseWhitespace(s: string): string {
  const c = s.replace(SPACE_RUN, ' ')
  const from = c.startsWith(' ') ? 1 : 0
  const to = c.length > from && c.endsWith(' ') ? c.length - 1 : c.length
  return c.slice(from, to)
}

/** A word character: what a number or date must not touch. */
const W = String.raw`[\p{L}\p{N}\p{M}_]`
/** Not inside a word, and not joined to one by a separator (the `000123` of `ACME-000123`). */
const BEFORE = String.raw`(?<!${W}|${W}[\-:\/.,])`
const AFTER = String.raw`(?!${W}|[\-:\/.,]${W})`

const NUMBER = new RegExp(String.raw`${BEFORE}(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?${AFTER}`, 'gu')

function canonicalNumbers(s: string): string {
  return s.replace(NUMBER, canonicalNumber)
}

function canonicalNumber(token: string): string {
  const plain = token.includes(',') ? token.replaceAll(',', '') : token
  const dot = plain.indexOf('.')
  let int = dot < 0 ? plain : plain.slice(0, dot)
  let frac = dot < 0 ? '' : plain.slice(dot + 1)
  let i = 0
  while (i < int.length - 1 && int.charCodeAt(i) === 0x30) i++
  int = int.slice(i)
  let j = frac.length
  while (j > 0 && frac.charCodeAt(j - 1) === 0x30) j--
  frac = frac.slice(0, j)
  return frac === '' ? int : `${int}.${frac}`
}

const MONTH = String.raw`(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`
const SP = String.raw`[\s\u0085]+`

/** The date forms each order reads, each alternative with its own named groups. */
function datePattern(order: DateOrder): RegExp {
  const forms = [
    // 2026-11-26, 2026/11/26 (one separator throughout)
    String.raw`(?<y1>\d{4})(?<s1>[\-\/])(?<m1>\d{1,2})\k<s1>(?<d1>\d{1,2})`,
    // 26 Nov 2026, 26 November 2026
    String.raw`(?<d2>\d{1,2})${SP}(?<n2>${MONTH})\.?,?${SP}(?<y2>\d{4})`,
    // Nov 26, 2026, November 26 2026
    String.raw`(?<n3>${MONTH})\.?${SP}(?<d3>\d{1,2}),?${SP}(?<y3>\d{4})`,
  ]
  // 11/26/2026, 11-26-2026
  if (order === 'mdy') forms.push(String.raw`(?<m4>\d{1,2})(?<s4>[\-\/])(?<d4>\d{1,2})\k<s4>(?<y4>\d{4})`)
  // 26/11/2026, 26.11.2026
  if (order === 'dmy') forms.push(String.raw`(?<d5>\d{1,2})(?<s5>[\/.])(?<m5>\d{1,2})\k<s5>(?<y5>\d{4})`)
  return new RegExp(`${BEFORE}(?:${forms.join('|')})${AFTER}`, 'giu')
}

const MONTH_NUMBER: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }

type DateGroups = Partial<Record<string, string>>

function dateNormalizer(order: DateOrder): (s: string) => string {
  const re = datePattern(order)
  return (s) =>
    s.replace(re, (...args: unknown[]) => {
      const match = args[0] as string
      const g = args[args.length - 1] as DateGroups
      const year = g.y1 ?? g.y2 ?? g.y3 ?? g.y4 ?? g.y5
      const name = g.n2 ?? g.n3
      const month = name !== undefined ? MONTH_NUMBER[name.slice(0, 3).toLowerCase()] : Number(g.m1 ?? g.m4 ?? g.m5)
      const day = Number(g.d1 ?? g.d2 ?? g.d3 ?? g.d4 ?? g.d5)
      if (year === undefined || month === undefined || !validDate(Number(year), month, day)) return match
      return `${year}-${pad2(month)}-${pad2(day)}`
    })
}

function validDate(year: number, month: number, day: number): boolean {
  if (!(month >= 1 && month <= 12) || !(day >= 1)) return false
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
  return day <= days
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}
