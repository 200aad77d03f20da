/**
 * ASCII character classes as bit sets, so that the per-character work in the scanners is one
 * table load and a mask test. Code units ≥ 128 have no class: every detector here is ASCII-only
 * (the literal view is NFKC'd, so full-width digits and letters already arrived as ASCII).
 */
export const DIGIT = 1
export const UPPER = 2
export const LOWER = 4
/** Can appear inside a whitespace-free token (e-mail, key, JWT, IPv6, IBAN, URL…). */
export const TOKEN = 8
/** Can open a number run: a digit, '+' or '('. */
export const NUMBER_START = 16
export const HEX = 32
/** Can appear in a generic secret's value. */
export const SECRET_VALUE = 64
export const AT = 128
export const COLON = 256
export const DOT = 512

export const LETTER = UPPER | LOWER
export const ALNUM = DIGIT | LETTER

export const CLASS: Uint16Array = (() => {
  const t = new Uint16Array(128)
  const add = (chars: string, bits: number): void => {
    for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)]! |= bits
  }
  for (let c = 48; c <= 57; c++) t[c] = DIGIT | TOKEN | NUMBER_START | HEX | SECRET_VALUE
  for (let c = 65; c <= 90; c++) t[c] = UPPER | TOKEN | SECRET_VALUE
  for (let c = 97; c <= 122; c++) t[c] = LOWER | TOKEN | SECRET_VALUE
  add('abcdefABCDEF', HEX)
  add("!#$%&'*+-./:=?@^_`{|}~", TOKEN)
  add('+(', NUMBER_START)
  add('+/=_-.~', SECRET_VALUE)
  add('@', AT)
  add(':', COLON)
  add('.', DOT)
  return t
})()
