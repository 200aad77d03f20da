import type { CountryCode } from 'libphonenumber-js'
import { validateCnpj, validateCpf } from './br-tax-id.js'
import { validateCard } from './card.js'
import { validateIpv4 } from './ip.js'
import { IS_PHONE, NEEDS_CONTEXT, NOT_PHONE, phoneVerdict } from './phone.js'
import { CARD, CNPJ, CPF, IPV4, MRN, PHONE, SSN, type TypeMask } from './pii-types.js'
import { validateSsn } from './ssn.js'

/** What the text around a number run says about it. */
export interface NumberContext {
  /** A phone context word ("phone", "call", "fax"…) shortly before the run. */
  phone: boolean
  /** "SSN" or "social" shortly before: nine bare digits may be an SSN. */
  ssn: boolean
  cpf: boolean
  cnpj: boolean
  /** The run starts right after `MRN`, `MRN:`, `MRN#` or `MRN: `. */
  mrn: boolean
  /** A letter or digit touches the run's last digit: the last candidate is part of a word. */
  gluedRight: boolean
}

/** Longest number run considered; a longer run (a digit dump, a table row) has no hits. */
export const MAX_NUMBER_RUN = 48

const CARD_GROUPED = /^\d{4}([ -])\d{3,6}(?:\1\d{1,6}){1,3}$/
const CARD_BARE = /^\d{12,19}$/
const SSN_SEPARATED = /^\d{3}([- ])\d{2}\1\d{4}$/
const SSN_BARE = /^\d{9}$/
const CPF_FORMATTED = /^\d{3}\.\d{3}\.\d{3}-\d{2}$/
const CNPJ_FORMATTED = /^\d{2}\.\d{3}\.\d{3}\/\d{4}-\d{2}$/
const MRN_DIGITS = /^\d{6,10}$/
const QUAD = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d]|\.\d)/g

interface WordRule {
  type: number
  minDigits: number
  maxDigits: number
  test(w: string, ctx: NumberContext): boolean
}

const WORD_RULES: readonly WordRule[] = [
  {
    type: CARD,
    minDigits: 12,
    maxDigits: 19,
    test: (w) => (CARD_BARE.test(w) || CARD_GROUPED.test(w)) && validateCard(w),
  },
  {
    type: SSN,
    minDigits: 9,
    maxDigits: 9,
    test: (w, ctx) => (SSN_SEPARATED.test(w) || (ctx.ssn && SSN_BARE.test(w))) && validateSsn(w),
  },
  {
    type: CPF,
    minDigits: 11,
    maxDigits: 11,
    test: (w, ctx) => (CPF_FORMATTED.test(w) || (ctx.cpf && w.length === 11)) && validateCpf(w),
  },
  {
    type: CNPJ,
    minDigits: 14,
    maxDigits: 14,
    test: (w, ctx) => (CNPJ_FORMATTED.test(w) || (ctx.cnpj && w.length === 14)) && validateCnpj(w),
  },
]

/**
 * Finds the hits in one finished number run (digits, single spaces and `-.()+/`, at most
 * MAX_NUMBER_RUN long). Each type is tried on the whole run first, then on its space-separated
 * words, so `4111 1111 1111 1111` is one card while `SSN 123-45-6789 2` still finds the SSN.
 *
 * Appends (typeBit, start, end) triples to `out`, offsets relative to `text`. Phone-shaped
 * candidates that would need a context word after them go to `trailing` as (start, end) pairs,
 * for the caller to confirm once it has read the next word.
 */
export function evaluateNumberRun(
  text: string,
  want: TypeMask,
  ctx: NumberContext,
  country: CountryCode,
  out: number[],
  trailing: number[],
): void {
  const [s, e] = trim(text, 0, text.length)
  if (s >= e) return
  const glueEnd = ctx.gluedRight && e === text.length
  const whole = text.slice(s, e)
  const digits = countDigits(text, s, e)
  // (start, end, digits) triples, or null for a single word.
  const words = whole.indexOf(' ') < 0 ? null : splitWords(text, s, e)

  if (want & IPV4) {
    QUAD.lastIndex = 0
    for (let m = QUAD.exec(whole); m !== null; m = QUAD.exec(whole)) {
      const end = s + m.index + m[0].length
      if (!(glueEnd && end === e) && validateIpv4(m[0])) out.push(IPV4, s + m.index, end)
    }
  }
  for (const rule of WORD_RULES) {
    if (!(want & rule.type)) continue
    if (!glueEnd && digits >= rule.minDigits && digits <= rule.maxDigits && rule.test(whole, ctx)) {
      out.push(rule.type, s, e)
      continue
    }
    if (words === null) continue
    for (let i = 0; i < words.length; i += 3) {
      const ws = words[i]!
      const we = words[i + 1]!
      const wd = words[i + 2]!
      if (wd < rule.minDigits || wd > rule.maxDigits || (glueEnd && we === e)) continue
      if (rule.test(text.slice(ws, we), ctx)) out.push(rule.type, ws, we)
    }
  }
  if (want & MRN && ctx.mrn) {
    const we = words === null ? e : words[1]!
    if (!(glueEnd && we === e) && MRN_DIGITS.test(text.slice(s, we))) out.push(MRN, s, we)
  }
  if (want & PHONE) phones(text, s, e, digits, words, glueEnd, ctx.phone, country, out, trailing)
}

/** Digits a phone number may have, its extension aside. */
const PHONE_MIN_DIGITS = 7
const PHONE_MAX_DIGITS = 15 + 6

function phones(
  text: string,
  s: number,
  e: number,
  digits: number,
  words: number[] | null,
  glueEnd: boolean,
  context: boolean,
  country: CountryCode,
  out: number[],
  trailing: number[],
): void {
  const fits = digits >= PHONE_MIN_DIGITS && digits <= PHONE_MAX_DIGITS
  const whole = glueEnd || !fits ? NOT_PHONE : phoneVerdict(text.slice(s, e), country)
  if (whole === IS_PHONE || (whole === NEEDS_CONTEXT && context)) {
    out.push(PHONE, s, e)
    return
  }
  let found = false
  if (words !== null) {
    for (let i = 0; i < words.length; i += 3) {
      const ws = words[i]!
      const we = words[i + 1]!
      const wd = words[i + 2]!
      if (wd < PHONE_MIN_DIGITS || wd > PHONE_MAX_DIGITS || (glueEnd && we === e)) continue
      const v = phoneVerdict(text.slice(ws, we), country)
      if (v === IS_PHONE || (v === NEEDS_CONTEXT && context)) {
        out.push(PHONE, ws, we)
        found = true
      }
    }
  }
  if (!found && whole === NEEDS_CONTEXT) trailing.push(s, e)
}

function countDigits(text: string, s: number, e: number): number {
  let n = 0
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) n++
  }
  return n
}

/** Number punctuation that cannot begin or end a number. */
function trim(text: string, s: number, e: number): [number, number] {
  while (s < e && !startsNumber(text.charCodeAt(s))) s++
  while (e > s && !endsNumber(text.charCodeAt(e - 1))) e--
  // A closing parenthesis ends a number only when it closes one opened inside it: "(0)".
  while (e > s && text.charCodeAt(e - 1) === 41 && text.lastIndexOf('(', e - 1) < s) {
    e--
    while (e > s && !endsNumber(text.charCodeAt(e - 1))) e--
  }
  return [s, e]
}

function startsNumber(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 43 || c === 40
}

function endsNumber(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 41
}

/** (start, end, digit count) triples of the space-separated words of text[s, e), each trimmed. */
function splitWords(text: string, s: number, e: number): number[] {
  const out: number[] = []
  let i = s
  while (i < e) {
    let j = text.indexOf(' ', i)
    if (j < 0 || j > e) j = e
    const [ws, we] = trim(text, i, j)
    if (ws < we) out.push(ws, we, countDigits(text, ws, we))
    i = j + 1
  }
  return out
}
