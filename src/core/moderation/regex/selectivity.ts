import type { CodeSet } from './code-set.js'

/**
 * How rarely a set of trigger literals occurs in ordinary text, in bits: -log2 of the expected
 * number of occurrences per position, from rough per-character frequencies of English prose
 * (after foldUnit). It ranks candidate triggers: "acme-" beats "-", one literal of 16 digits
 * beats a hundred digit pairs, and a hundred letter pairs ("ab", "ac"…) rank below almost
 * anything, since folded letters are everywhere.
 */
export function selectivity(atoms: readonly string[]): number {
  let expected = 0
  for (const a of atoms) {
    let bits = 0
    for (let i = 0; i < a.length; i++) bits += unitBits(a.charCodeAt(i))
    expected += 2 ** -bits
  }
  return expected === 0 ? Infinity : -Math.log2(expected)
}

const COMMON_LETTERS = new Set('etaoinshr')

function unitBits(u: number): number {
  if (u >= 0x61 && u <= 0x7a) return COMMON_LETTERS.has(String.fromCharCode(u)) ? 3.8 : 5.5
  if (u === 0x20) return 2.5
  if (u >= 0x30 && u <= 0x39) return 7
  if (u === 0x2e || u === 0x2c || u === 0x0a) return 6
  if (u === 0x2d) return 7
  if (u < 0x80) return 8
  return 9
}

/** Share of prose code units outside ASCII (accents, CJK, emoji halves…), spread evenly over them. */
const NON_ASCII_SHARE = 0.02

let asciiShares: Float64Array | null = null

/**
 * The share of the code units of ordinary text that fall in `set` (0..1), from the same rough
 * per-character frequencies as selectivity(), normalised over ASCII, plus a small even share for
 * everything beyond ASCII. Only for ranking: how often a rule's start occurs, how long a run of
 * its alphabet lasts.
 */
export function proseShare(set: CodeSet): number {
  if (asciiShares === null) {
    const w = new Float64Array(128)
    let total = 0
    for (let u = 0; u < 128; u++) total += w[u] = 2 ** -unitBits(u)
    asciiShares = w.map((x) => (x / total) * (1 - NON_ASCII_SHARE))
  }
  let share = 0
  for (let u = 0; u < 128; u++) if (set.has(u)) share += asciiShares[u]!
  let beyond = set.size
  for (let u = 0; u < 128; u++) if (set.has(u)) beyond--
  return share + (beyond / (65536 - 128)) * NON_ASCII_SHARE
}
