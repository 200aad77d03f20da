import t from 'tap'
import {
  combineSurrogates,
  firstCodePoint,
  isWordCodePoint,
  lastCodePoint,
} from '../../../../src/core/moderation/keywords/word-chars.js'

const cp = (s: string): number => s.codePointAt(0)!

t.test('letters, digits and marks of any script are word characters', async (t) => {
  for (const ch of ['a', 'Z', '0', '9', 'é', 'ж', 'ß', 'ا', '中', 'ก', '٣', '𝒜', '𠀀', '\u0301', '\u093F']) {
    t.ok(isWordCodePoint(cp(ch)), `${JSON.stringify(ch)} is a word character`)
  }
})

t.test('underscore, punctuation, spaces, symbols and emoji are not', async (t) => {
  for (const ch of ['_', ' ', '-', "'", '.', '*', '\n', '\u00A0', '—', '€', '😀', '\u3000', '。']) {
    t.notOk(isWordCodePoint(cp(ch)), `${JSON.stringify(ch)} is not a word character`)
  }
})

t.test('no character and lone surrogates are not word characters', async (t) => {
  t.notOk(isWordCodePoint(-1))
  t.notOk(isWordCodePoint(0xd835))
  t.notOk(isWordCodePoint(0xdc9c))
})

t.test('code points at the edges of a string', async (t) => {
  t.equal(firstCodePoint('𝒜bc'), 0x1d49c)
  t.equal(lastCodePoint('bc𝒜'), 0x1d49c)
  t.equal(lastCodePoint('abc'), 0x63)
  t.equal(lastCodePoint('\uDC9C'), 0xdc9c, 'a lone low surrogate stands for itself')
  t.equal(lastCodePoint('a\uDC9C'), 0xdc9c)
  t.equal(combineSurrogates(0xd835, 0xdc9c), 0x1d49c)
})
