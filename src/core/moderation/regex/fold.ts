import { CodeSet } from './code-set.js'

/**
 * RE2's `(?i)` (Unicode simple case folding) puts exactly two non-ASCII code units in the orbit of
 * an ASCII letter: U+017F LATIN SMALL LETTER LONG S (with s) and U+212A KELVIN SIGN (with k). A test
 * checks this against RE2 itself over the whole BMP.
 */
export const LONG_S = 0x17f
export const KELVIN = 0x212a

/**
 * The code unit the trigger automaton sees for u: ASCII upper case to lower case, and the two
 * non-ASCII members of ASCII orbits to their ASCII letter. Other units are left alone, so trigger
 * literals of case-insensitive rules must stay within ASCII (see literal-info.ts).
 */
export function foldUnit(u: number): number {
  if (u < 128) return u >= 0x41 && u <= 0x5a ? u | 0x20 : u
  if (u === KELVIN) return 0x6b
  if (u === LONG_S) return 0x73
  return u
}

/** True for units whose case orbit under RE2's `(?i)` is known here exactly (all of ASCII and the two above). */
export function hasKnownOrbit(u: number): boolean {
  return u < 128 || u === KELVIN || u === LONG_S
}

/**
 * The set plus every unit RE2's `(?i)` can match for one of its members. Orbits of non-ASCII
 * letters are not tabulated here: any such member widens the set to all non-ASCII units, which is
 * conservative (a prefilter may let more through, never less).
 */
export function caseClose(set: CodeSet): CodeSet {
  const out = set.clone()
  const add = (u: number): void => {
    out.add(u)
    const f = foldUnit(u)
    if (f >= 0x61 && f <= 0x7a) {
      out.add(f)
      out.add(f & ~0x20)
      if (f === 0x6b) out.add(KELVIN)
      if (f === 0x73) out.add(LONG_S)
    }
  }
  for (let u = 0x41; u <= 0x7a; u++) if (set.has(u)) add(u)
  if (set.has(KELVIN)) add(KELVIN)
  if (set.has(LONG_S)) add(LONG_S)
  if (set.hasAnyIn(0x80, LONG_S - 1) || set.hasAnyIn(LONG_S + 1, KELVIN - 1) || set.hasAnyIn(KELVIN + 1, 0xffff)) out.addRange(0x80, 0xffff)
  return out
}
