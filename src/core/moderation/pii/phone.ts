import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js'

/**
 * Phone numbers, in three grades: shapes that are numbers of some kind but not phones (dates,
 * dotted quads, too few or too many digits), phone-shaped numbers that only count next to a
 * context word ("Phone:", "call me at", "… office"), and numbers that are phones on their own:
 * international with a plausible length for their country code, North American layouts, or
 * formatted numbers libphonenumber finds valid in the default country.
 */
export const NOT_PHONE = 0
export const NEEDS_CONTEXT = 1
export const IS_PHONE = 2
export type PhoneVerdict = typeof NOT_PHONE | typeof NEEDS_CONTEXT | typeof IS_PHONE

const NANP = new Set<string>(['US', 'CA', 'AG', 'AI', 'AS', 'BB', 'BM', 'BS', 'DM', 'DO', 'GD', 'GU', 'JM',
  'KN', 'KY', 'LC', 'MP', 'MS', 'PR', 'SX', 'TC', 'TT', 'VC', 'VG', 'VI'])

const EXTENSION = /^(.*?\d)\s*(?:x|ext\.?|#)\s*\d{1,6}$/i
const CHARS = /^[+(]?[\d(][\d ().-]*\d$/
const PARENS = /\(\d{1,4}\)/g
const DATE_YMD = /^\d{4}([-./])\d{1,2}\1\d{1,2}(?:$| )/
const DATE_DMY = /^(\d{1,2})([-./])(\d{1,2})\2(?:\d{2}|\d{4})$/
const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/
// Brazilian CPF layout: 123.456.789-09.
const CPF_LAYOUT = /^\d{3}\.\d{3}\.\d{3}-\d{2}$/
// NXX-NXX-XXXX with the usual layouts: (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567.
const NANP_LAYOUT = /^(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[-. ])\d{3}[-. ]\d{4}$/

export function phoneVerdict(s: string, defaultCountry: CountryCode): PhoneVerdict {
  const ext = EXTENSION.exec(s)
  const main = ext === null ? s : ext[1]!
  if (!CHARS.test(main)) return NOT_PHONE
  if (main.replace(PARENS, '').search(/[()]/) >= 0) return NOT_PHONE
  const digits = main.replace(/\D/g, '')
  const international = main.charCodeAt(0) === 43
  if (digits.length < (international ? 8 : 7) || digits.length > 15) return NOT_PHONE
  if (DOTTED_QUAD.test(main) || DATE_YMD.test(main) || CPF_LAYOUT.test(main)) return NOT_PHONE
  const dmy = DATE_DMY.exec(main)
  if (dmy !== null && plausibleDayMonth(Number(dmy[1]), Number(dmy[3]))) return NOT_PHONE

  if (international) {
    const p = parsePhoneNumberFromString(main)
    return p !== undefined && p.isPossible() ? IS_PHONE : NOT_PHONE
  }
  if (NANP.has(defaultCountry)) {
    // libphonenumber would only confirm real area codes here, and "(555) 123-4567" must count.
    return NANP_LAYOUT.test(main) ? IS_PHONE : NEEDS_CONTEXT
  }
  if (digits.length !== main.length) {
    const p = parsePhoneNumberFromString(main, defaultCountry)
    if (p !== undefined && p.isValid()) return IS_PHONE
  }
  return NEEDS_CONTEXT
}

function plausibleDayMonth(a: number, b: number): boolean {
  return a >= 1 && b >= 1 && ((a <= 12 && b <= 31) || (a <= 31 && b <= 12))
}

/** Whether s is a phone number on its own, without any context word around it. */
export function validatePhone(s: string, defaultCountry: CountryCode = 'US'): boolean {
  return phoneVerdict(s, defaultCountry) === IS_PHONE
}
