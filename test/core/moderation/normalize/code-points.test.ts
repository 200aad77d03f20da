import t from 'tap'
import { ASCII_COMPOSES, EXTENDER, IGNORABLE, LETTER, props } from '../../../../src/core/moderation/normalize/code-points.js'

const MARK = /^\p{M}$/u
const allCodePoints = function* (): Generator<number> {
  for (let cp = 0; cp < 0x110000; cp++) if (cp < 0xd800 || cp > 0xdfff) yield cp
}
const isExtender = (cp: number): boolean => (props(cp) & EXTENDER) !== 0

t.test('every code point NFKC may combine with what precedes it is an extender', async (t) => {
  // Second and later code points of canonical decompositions are what composition can join
  // to a preceding character; a code point whose compatibility decomposition starts with
  // such a one (or a mark) combines too.
  const missing: string[] = []
  for (const cp of allCodePoints()) {
    const d = [...String.fromCodePoint(cp).normalize('NFD')]
    for (let k = 1; k < d.length; k++) {
      const c = d[k]!.codePointAt(0)!
      if (!isExtender(c)) missing.push(c.toString(16))
    }
    const first = String.fromCodePoint(cp).normalize('NFKD').codePointAt(0)!
    if (first !== cp && isExtender(first) && !isExtender(cp)) missing.push(cp.toString(16))
  }
  t.same([...new Set(missing)], [])
})

t.test('marks are extenders, letters and ignorables are classified', async (t) => {
  t.ok(isExtender(0x0301) && isExtender(0x20dd) && isExtender(0xfe0f) && isExtender(0x1161))
  t.notOk(isExtender(0x61) || isExtender(0x200b) || isExtender(0x1100) || isExtender(0x1d421))
  for (const cp of [0x200b, 0x200c, 0x200d, 0x200e, 0x202e, 0x2066, 0x00ad, 0xfeff, 0xfe0f, 0xe0100]) {
    t.ok((props(cp) & IGNORABLE) !== 0, cp.toString(16))
  }
  t.ok((props(0x3b1) & LETTER) !== 0 && (props(0x1d421) & LETTER) !== 0)
  t.notOk((props(0x31) & LETTER) !== 0 || (props(0xdc00) & (LETTER | EXTENDER)) !== 0)
})

t.test('exactly the ASCII characters a mark can compose with wait for the next character', async (t) => {
  const marks: string[] = []
  for (let cp = 0x80; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue
    const ch = String.fromCodePoint(cp)
    if (MARK.test(ch)) marks.push(ch)
  }
  for (let c = 0; c < 128; c++) {
    const a = String.fromCharCode(c)
    const composes = marks.some((m) => (a + m).normalize('NFKC') !== a + m.normalize('NFKC'))
    t.equal(ASCII_COMPOSES[c] === 1, composes, `U+${c.toString(16).padStart(4, '0')}`)
  }
})
