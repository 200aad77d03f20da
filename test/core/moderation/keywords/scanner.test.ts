import t from 'tap'
import { compileKeywords, type KeywordEntry } from '../../../../src/core/moderation/keywords/index.js'
import type { Hit } from '../../../../src/core/moderation/types.js'
import { ViewBuffer } from '../../../../src/core/moderation/view-buffer.js'

const kw = (text: string, wordBoundary = false): KeywordEntry => ({ text, wordBoundary })

interface Run {
  hits: Hit[]
  /** Hits found by each scan, one list per piece (the final scan included). */
  perScan: Hit[][]
  /** holdFrom() after each scan. */
  holds: number[]
}

/**
 * Streams the pieces through a real ViewBuffer, one scan per piece, trimming the view to the hold
 * point after each scan as the engine does. The last piece's scan is final.
 */
function run(entries: KeywordEntry[], pieces: string[]): Run {
  const scanner = compileKeywords(entries).scanner()
  const view = new ViewBuffer()
  const hits: Hit[] = []
  const perScan: Hit[][] = []
  const holds: number[] = []
  pieces.forEach((piece, i) => {
    view.append(piece, view.length, view.length + piece.length)
    const found: Hit[] = []
    scanner.scan(view, i === pieces.length - 1, found)
    hits.push(...found)
    perScan.push(found)
    holds.push(scanner.holdFrom())
    view.trim(scanner.holdFrom())
  })
  return { hits: sorted(hits), perScan, holds }
}

const sorted = (hits: Hit[]): Hit[] => [...hits].sort((a, b) => a.start - b.start || a.end - b.end || a.id - b.id)
const hit = (id: number, start: number, end: number): Hit => ({ id, start, end })

t.test('the compiled matcher reads the folded view', async (t) => {
  t.equal(compileKeywords([kw('x')]).view, 'folded')
})

t.test('finds every keyword, overlapping and nested, each once', async (t) => {
  const entries = [kw('he'), kw('she'), kw('his'), kw('hers'), kw('e')]
  const { hits } = run(entries, ['ushers and his shed'])
  t.same(hits, [
    hit(1, 1, 4),
    hit(0, 2, 4),
    hit(4, 3, 4),
    hit(3, 2, 6),
    hit(2, 11, 14),
    hit(1, 15, 18),
    hit(0, 16, 18),
    hit(4, 17, 18),
  ].sort((a, b) => a.start - b.start || a.end - b.end || a.id - b.id))
})

t.test('repeated and self-overlapping occurrences', async (t) => {
  t.same(run([kw('aa')], ['aaaa']).hits, [hit(0, 0, 2), hit(0, 1, 3), hit(0, 2, 4)])
})

t.test('duplicate texts report one hit per entry; empty texts never match', async (t) => {
  const entries = [kw('bad'), kw(''), kw('bad', true), kw('bad')]
  t.same(run(entries, ['a bad day, badly']).hits, [
    hit(0, 2, 5),
    hit(2, 2, 5),
    hit(3, 2, 5),
    hit(0, 11, 14),
    hit(3, 11, 14),
  ])
  t.same(run([kw('')], ['anything']).hits, [])
  t.same(run([], ['anything']).hits, [])
})

t.test('whole words need a non-word character or the text edge on both sides', async (t) => {
  const entries = [kw('ass', true)]
  t.same(run(entries, ['ass']).hits, [hit(0, 0, 3)], 'the whole text')
  t.same(run(entries, ['an ass.']).hits, [hit(0, 3, 6)])
  t.same(run(entries, ['_ass_']).hits, [hit(0, 1, 4)], 'underscore is Markdown emphasis, not a letter')
  t.same(run(entries, ['😀ass😀']).hits, [hit(0, 2, 5)], 'emoji around it')
  for (const text of ['class', 'assume', 'bass guitar', 'ass1', '2ass', 'жass', 'assж', '𝒜ass', 'ass𝒜', 'ass\u0301']) {
    t.same(run(entries, [text]).hits, [], `not inside ${JSON.stringify(text)}`)
  }
})

t.test('only the keyword edges that are word characters need a boundary', async (t) => {
  const entries = [kw('c++', true), kw('-x-', true), kw('a b', true)]
  t.same(run(entries, ['abc++ and c++x']).hits, [hit(0, 10, 13)])
  t.same(run(entries, ['y-x-z']).hits, [hit(1, 1, 4)])
  t.same(run(entries, ['a b a bc ca b']).hits, [hit(2, 0, 3)])
})

t.test('non-ASCII keywords, with failure links through other scripts', async (t) => {
  const entries = [kw('жжу'), kw('жу'), kw('𝒜b'), kw('中文'), kw('ab')]
  t.same(run(entries, ['жжжу 𝒜𝒜b 中中文 aab']).hits, [
    hit(0, 1, 4),
    hit(1, 2, 4),
    hit(2, 7, 10),
    hit(3, 12, 14),
    hit(4, 16, 18),
  ])
})

t.test('holds exactly the longest suffix that is a keyword prefix', async (t) => {
  const entries = [kw('forbidden'), kw('bidet')]
  const { holds, hits } = run(entries, ['this is for', 'bid', 'de', 'n fruit', ' now'])
  // "for", "forbid" and "forbidde" are prefixes of forbidden; "n fruit" completes it and leaves
  // no prefix behind.
  t.same(holds, [8, 8, 8, 23, 27])
  t.same(hits, [hit(0, 8, 17)])
  t.same(run(entries, ['abc']).holds, [3], 'final holds nothing')
  t.same(run(entries, ['forbi', '']).holds, [0, 5], 'a final scan without new text releases the rest')
})

t.test('a whole-word keyword is only held from a word start', async (t) => {
  t.same(run([kw('ogre', true)], ['Hello', ' end']).holds, [5, 9], 'no word starts at the "o" of Hello')
  t.same(run([kw('ogre', true)], ['Hello o', 'k']).holds, [6, 8], 'a word starts at the last "o"')
  t.same(run([kw('ogre')], ['Hello', ' end']).holds, [4, 9], 'a keyword without boundary starts anywhere')
  t.same(run([kw('ogre', true)], ['o']).holds, [1], 'final holds nothing')
  t.same(run([kw('ogre', true)], ['o', 'g', '']).holds, [0, 0, 2], 'the text start is a word start')
  t.same(run([kw('ogre', true), kw('ogre')], ['Hello', '']).holds, [4, 5], 'one entry that may start anywhere is enough')
  t.same(run([kw('-ogre', true)], ['Hello-', 'o', '']).holds, [5, 5, 7], 'a keyword starting with a non-word character needs no word start')
  t.same(run([kw('ogre', true)], ['x😀o', '']).holds, [3, 4], 'an emoji before is no word character…')
  t.same(run([kw('ogre', true)], ['x𝒜o', '']).holds, [4, 4], '…a letter outside the BMP is')
  t.same(run([kw('ogre', true)], ['жo', '']).holds, [2, 2], 'and so is a non-ASCII letter')
})

t.test('below a prefix that begins mid-word, the hold falls back to the longest one that may start', async (t) => {
  // After "ego-o": "go-o" begins mid-word; "o" begins after "-", a word start.
  t.same(run([kw('go-on', true), kw('one', true)], ['ego-o', '']).holds, [4, 5])
  // After "xgoi": "goi" begins mid-word and so does "i".
  t.same(run([kw('going', true), kw('in', true)], ['xgoi', '']).holds, [4, 4])
  t.same(run([kw('going', true), kw('in')], ['xgoi', '']).holds, [3, 4], '"in" may start anywhere')
  // After "a goi": "goi" begins at a word start, and it is the longest.
  const started = run([kw('going', true), kw('in', true)], ['a goi', 'ng!', ''])
  t.same(started.holds, [2, 8, 8])
  t.same(started.hits, [hit(0, 2, 7)])
})

t.test('the hold point follows failure links: "bidet" after "forbid"', async (t) => {
  const { holds, hits } = run([kw('forbidden'), kw('bidet')], ['forbid', 'e', 't!', ''])
  // after "forbide": "forbide" is no prefix, "bide" is → hold from 3.
  t.same(holds, [0, 3, 9, 9])
  t.same(hits, [hit(1, 3, 8)])
})

t.test('a whole-word match at the end of the view waits for the next code unit', async (t) => {
  const entries = [kw('bad', true)]
  const a = run(entries, ['so bad', 'ly', ' done'])
  t.same(a.perScan, [[], [], []], 'badly is not the word')
  t.same(a.holds, [3, 8, 13])
  const b = run(entries, ['so bad', ', truly', ''])
  t.same(b.perScan, [[], [hit(0, 3, 6)], []], 'reported once the comma arrives, then never again')
  t.same(b.holds, [3, 13, 13])
  const c = run(entries, ['so bad'])
  t.same(c.perScan, [[hit(0, 3, 6)]], 'final decides it: the text end is a boundary')
  const d = run([kw('bad', true), kw('baddest')], ['so bad', '', 'de', 'st'])
  t.same(d.holds, [3, 3, 3, 10], 'an empty push decides nothing')
  t.same(d.hits, [hit(1, 3, 10)])
})

t.test('right context that is a surrogate pair waits for both halves', async (t) => {
  const entries = [kw('bad', true)]
  const letter = run(entries, ['bad\uD835', '\uDC9C'])
  t.same(letter.perScan, [[], []], '𝒜 after it is a letter')
  t.same(letter.holds, [0, 5])
  const emoji = run(entries, ['bad\uD83D', '\uDE00', ''])
  t.same(emoji.perScan, [[], [hit(0, 0, 3)], []], '😀 after it is not')
  t.same(run(entries, ['bad\uD835']).hits, [hit(0, 0, 3)], 'a lone high surrogate at the end is no letter')
})

t.test('left context survives the engine trimming the view up to the hold point', async (t) => {
  const entries = [kw('bad', true)]
  // A whole word cannot start after "a", so nothing is held and the view trims all of
  // "xxxxxxxxxxxxxxxxxab"; the "a" before "bad" must still block the whole-word match.
  const blocked = run(entries, ['xxxxxxxxxxxxxxxxxab', 'ad', ' end'])
  t.same(blocked.holds, [19, 21, 25])
  t.same(blocked.hits, [])
  // Here "b" is held, and the space before it trimmed.
  const allowed = run(entries, ['xxxxxxxxxxxxxxxxx b', 'ad', ' end'])
  t.same(allowed.holds, [18, 18, 25])
  t.same(allowed.hits, [hit(0, 18, 21)])
  const pair = run(entries, ['xxxxxxxxxxxxxxxxx𝒜b', 'ad', ' end'])
  t.same(pair.hits, [], 'a letter outside the BMP, both halves trimmed away')
  const emoji = run(entries, ['xxxxxxxxxxxxxxxxx😀b', 'ad', ' end'])
  t.same(emoji.hits, [hit(0, 19, 22)])
})

t.test('a scanner is per stream: two scanners of one matcher do not share state', async (t) => {
  const matcher = compileKeywords([kw('secret')])
  const one = matcher.scanner()
  const two = matcher.scanner()
  const v1 = new ViewBuffer()
  const v2 = new ViewBuffer()
  const h1: Hit[] = []
  const h2: Hit[] = []
  v1.append('sec', 0, 3)
  one.scan(v1, false, h1)
  v2.append('ret', 0, 3)
  two.scan(v2, false, h2)
  v1.append('ret', 3, 6)
  one.scan(v1, true, h1)
  two.scan(v2, true, h2)
  t.same(h1, [hit(0, 0, 6)])
  t.same(h2, [])
})

t.test('ASCII code units that no keyword contains reset the match', async (t) => {
  t.same(run([kw('ab')], ['a', '?b', 'a', 'b']).hits, [hit(0, 3, 5)])
  t.same(run([kw('ab')], ['a\u00e9b']).hits, [], 'and so do non-ASCII ones')
})
