import t from 'tap'
import { foldCodePoint, literalSegment } from '../../../../src/core/moderation/normalize/fold-char.js'

const MARK = /^\p{M}$/u
const hex = (ch: string): string => 'U+' + ch.codePointAt(0)!.toString(16).toUpperCase()
const UNASSIGNED_OR_PRIVATE = /^[\p{Cn}\p{Co}]$/u
/** Every assigned code point (unassigned and private-use ones fold to themselves, as tested below). */
const assignedCodePoints = function* (): Generator<number> {
  for (let cp = 0; cp < 0x110000; cp++) {
    if ((cp < 0xd800 || cp > 0xdfff) && !UNASSIGNED_OR_PRIVATE.test(String.fromCodePoint(cp))) yield cp
  }
}
const fold = (s: string): string => [...s].map((ch) => (ch.codePointAt(0)! < 0x80 ? ch.toLowerCase() : foldCodePoint(ch.codePointAt(0)!))).join('')

t.test('look-alikes fold to the ASCII letter they imitate', async (t) => {
  const cases: [string, string][] = [
    ['ΗΑΤΕ', 'hate'], ['ηατε', 'nate'], ['τκε', 'tke'], ['ΚΙΒΟΜ', 'kibom'], ['ιο', 'io'],
    ['НАТЕ', 'hate'], ['нтвк', 'htbk'], ['аеорсухі', 'aeopcyxi'], ['І', 'i'], ['ԁѕј', 'dsj'],
    ['𝐡𝐚𝐭𝐞', 'hate'], ['𝒽𝒶𝓉ℯ', 'hate'], ['ℌ𝔞𝔱𝔢', 'hate'], ['ｈａｔｅ', 'hate'], ['Ⓐ', 'a'],
    ['ſ', 's'], ['ı', 'i'], ['İ', 'i'], ['Ł', 'l'], ['ł', 'l'], ['ø', 'o'], ['đ', 'd'],
  ]
  for (const [from, to] of cases) t.equal(fold(from), to, from)
})

t.test('case folding: ß, ẞ and both sigmas', async (t) => {
  t.equal(fold('ß'), 'ss')
  t.equal(fold('ẞ'), 'ss')
  t.equal(fold('ς'), fold('σ'))
  t.equal(fold('Σ'), fold('σ'))
})

t.test('marks and default-ignorables fold to nothing, whitespace to a space', async (t) => {
  for (const ch of ['\u0301', '\u0336', '\u20DD', '\u200B', '\u200D', '\u00AD', '\u202E', '\u2066', '\uFEFF', '\uFE0F']) {
    t.equal(fold(ch), '', hex(ch))
  }
  for (const ch of ['\u00A0', '\u2003', '\u3000', '\u2028', '\u0085', '\u1680']) t.equal(fold(ch), ' ', hex(ch))
})

t.test('unassigned and private-use code points fold to themselves', async (t) => {
  for (const cp of [0x0378, 0xe000, 0xf8ff, 0x40000, 0xf0000, 0x10fffd]) t.equal(foldCodePoint(cp), String.fromCodePoint(cp))
})

t.test('punctuation and symbols never fold to letters', async (t) => {
  t.equal(fold('–'), '-', 'en dash → hyphen (a prototype that is punctuation)')
  t.equal(fold('•'), '·')
  t.equal(fold('“”„«»'), '"""""', 'typographic double quotes → "')
  t.equal(fold('’'), "'")
  for (const ch of ['—', '€', '¢', '×', '∞', '∣', '‖', '℮']) t.equal(fold(ch), ch, `${hex(ch)} keeps its shape, not a letter`)
})

t.test('compatibility decompositions', async (t) => {
  t.equal(fold('ﬁ'), 'fi')
  t.equal(fold('½'), '1/2')
  t.equal(fold('…'), '...')
  t.equal(fold('①'), '1')
  t.equal(fold('•'), '·')
})

t.test('literal segments: NFKC without default-ignorables, case kept', async (t) => {
  t.equal(literalSegment('e\u0301'), '\u00E9')
  t.equal(literalSegment('ﬁ'), 'fi')
  t.equal(literalSegment('１'), '1')
  t.equal(literalSegment('Ａ'), 'A')
  t.equal(literalSegment('a\uFE0F'), 'a')
  t.equal(literalSegment('\u1100\u1161\u11A8'), '각')
  t.equal(literalSegment('\uFF76\uFF9E'), 'ガ')
})

t.test('the context-free fold of every code point is its own fold', async (t) => {
  // Folding folded text must change nothing; the contextual stages rely on this per code point.
  const bad: string[] = []
  for (const cp of assignedCodePoints()) {
    if (cp < 0x80) continue
    const f = foldCodePoint(cp)
    if (MARK.test(String.fromCodePoint(cp)) && f !== '') bad.push(cp.toString(16))
    let again = ''
    for (const ch of f) {
      const c = ch.codePointAt(0)!
      again += c < 0x80 ? ch.toLowerCase().replace(/\s/, ' ') : foldCodePoint(c)
    }
    if (again !== f) bad.push(`${cp.toString(16)}: ${JSON.stringify(f)} → ${JSON.stringify(again)}`)
    if (bad.length > 20) break
  }
  t.same(bad, [])
})
