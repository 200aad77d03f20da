import t from 'tap'
import { foldText } from '../../../../src/core/moderation/normalize/index.js'
import { CORPUS_KEYWORDS, NEGATIVE_CASES, OBFUSCATION_CASES } from '../../../fixtures/obfuscation-corpus.js'

const REQUIRED_CLASSES = [
  'homoglyph-cyrillic', 'homoglyph-greek', 'homoglyph-math', 'fullwidth', 'zero-width', 'soft-hyphen',
  'combining-marks', 'bidi-controls', 'spaced-letters', 'leet', 'mixed-case', 'combinations',
]

t.test('the corpus has at least 8 cases of every class', async (t) => {
  for (const cls of REQUIRED_CLASSES) {
    t.ok(OBFUSCATION_CASES.filter((c) => c.class === cls).length >= 8, cls)
  }
  t.ok(NEGATIVE_CASES.length >= 8)
})

t.test('every obfuscated keyword is found in the folded text', async (t) => {
  const found = new Map<string, [number, number]>()
  for (const c of OBFUSCATION_CASES) {
    const folded = foldText(c.text)
    const keyword = foldText(c.keyword)
    const hit = folded.includes(keyword)
    t.ok(hit, `${c.class}: ${JSON.stringify(c.text)} folds to ${JSON.stringify(folded)}, contains ${JSON.stringify(keyword)}`)
    const [n, total] = found.get(c.class) ?? [0, 0]
    found.set(c.class, [n + (hit ? 1 : 0), total + 1])
  }
  for (const [cls, [n, total]] of found) t.comment(`${cls}: ${n}/${total} detected (${((100 * n) / total).toFixed(0)} %)`)
})

t.test('tricky ordinary sentences contain no keyword once folded', async (t) => {
  const keywords = CORPUS_KEYWORDS.map(foldText)
  for (const { text } of NEGATIVE_CASES) {
    const folded = foldText(text)
    t.same(keywords.filter((k) => folded.includes(k)), [], `${JSON.stringify(text)} folds to ${JSON.stringify(folded)}`)
  }
})

t.test('the corpus keywords fold to themselves (plain lowercase English)', async (t) => {
  for (const k of CORPUS_KEYWORDS) t.equal(foldText(k), k)
})
