/**
 * What counts as a word character for whole-word keywords: letters, digits and combining marks
 * in any script. '_' is not one: LLM output is Markdown, where `_word_` is emphasis and must not
 * hide the word inside it. Boundaries are only checked where a match is found, so the non-ASCII
 * test can afford a regex.
 */

/** By ASCII code unit: 1 for a word character, for callers' fast paths. */
export const ASCII_WORD = new Uint8Array(128)
for (let c = 0x30; c <= 0x39; c++) ASCII_WORD[c] = 1
for (let c = 0x41; c <= 0x5a; c++) ASCII_WORD[c] = 1
for (let c = 0x61; c <= 0x7a; c++) ASCII_WORD[c] = 1

const WORD = /^[\p{L}\p{N}\p{M}]$/u

/** Whether code point `cp` is a word character; negative (no character) is not. */
export function isWordCodePoint(cp: number): boolean {
  if (cp < 128) return cp >= 0 && ASCII_WORD[cp] === 1
  // Lone surrogates are malformed text, not letters: the regex says no for them too.
  return WORD.test(String.fromCodePoint(cp))
}

export const isHighSurrogate = (u: number): boolean => u >= 0xd800 && u <= 0xdbff
export const isLowSurrogate = (u: number): boolean => u >= 0xdc00 && u <= 0xdfff

/** The code point a high and a low surrogate encode together. */
export const combineSurrogates = (hi: number, lo: number): number => ((hi - 0xd800) << 10) + (lo - 0xdc00) + 0x10000

/** The first code point of a non-empty string (a lone surrogate stands for itself). */
export const firstCodePoint = (s: string): number => s.codePointAt(0)!

/** The last code point of a non-empty string. */
export function lastCodePoint(s: string): number {
  const lo = s.charCodeAt(s.length - 1)
  if (s.length >= 2 && isLowSurrogate(lo)) {
    const hi = s.charCodeAt(s.length - 2)
    if (isHighSurrogate(hi)) return combineSurrogates(hi, lo)
  }
  return lo
}
