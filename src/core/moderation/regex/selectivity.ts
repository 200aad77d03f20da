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
