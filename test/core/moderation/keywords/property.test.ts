import t from 'tap'
import { compileKeywords, type KeywordEntry } from '../../../../src/core/moderation/keywords/index.js'
import type { Hit, TextView } from '../../../../src/core/moderation/types.js'
import { mulberry32 } from '../../../helpers/prng.js'

// Random keyword sets and texts over a small alphabet, streamed in every possible way, against a
// naive matcher that sees the whole text at once. The alphabet mixes ASCII letters, a non-ASCII
// letter, letters and an emoji outside the BMP (surrogate pairs, split across pushes too), and
// the non-letters that matter for whole words.
const ALPHABET = ['a', 'b', 'a', 'b', 'c', ' ', '_', '1', 'ж', 'ж', '𝒜', '😀', '-']

// --- the naive reference, written independently of the implementation --------------------------

const WORD = /^[\p{L}\p{N}\p{M}]$/u
const isWord = (cp: number | undefined): boolean => cp !== undefined && WORD.test(String.fromCodePoint(cp))
const isHigh = (u: number): boolean => u >= 0xd800 && u <= 0xdbff
const isLow = (u: number): boolean => u >= 0xdc00 && u <= 0xdfff

/** The code point that ends just before offset i, if any. */
function codePointBefore(text: string, i: number): number | undefined {
  if (i === 0) return undefined
  const u = text.charCodeAt(i - 1)
  if (isLow(u) && i >= 2 && isHigh(text.charCodeAt(i - 2))) return text.codePointAt(i - 2)
  return u
}

interface RefMatch extends Hit {
  /** The verdict needs the code point at `end`, which a prefix of the text may not hold yet. */
  needsRight: boolean
}

/** Every occurrence of every entry whose left side passes (the left side is known once found). */
function occurrences(entries: KeywordEntry[], text: string): RefMatch[] {
  const out: RefMatch[] = []
  entries.forEach(({ text: kw, wordBoundary }, id) => {
    if (kw === '') return
    const needsLeft = wordBoundary && isWord(kw.codePointAt(0))
    const needsRight = wordBoundary && isWord(codePointBefore(kw, kw.length))
    for (let i = text.indexOf(kw); i >= 0; i = text.indexOf(kw, i + 1)) {
      if (needsLeft && isWord(codePointBefore(text, i))) continue
      out.push({ id, start: i, end: i + kw.length, needsRight })
    }
  })
  return out
}

/** Whether the code point at `end` is known from the first n code units, and is a word char. */
function rightSide(text: string, n: number, end: number): 'word' | 'boundary' | 'unknown' {
  if (end >= n) return 'unknown'
  const u = text.charCodeAt(end)
  if (isHigh(u) && end + 1 >= n) return 'unknown'
  return isWord(text.slice(0, n).codePointAt(end)) ? 'word' : 'boundary'
}

interface Expected {
  /** Hits decided by the first n code units (sorted). */
  decided: Hit[]
  /** holdFrom() after scanning the first n code units, not final. */
  hold: number
}

/**
 * What the scanner must report and hold after seeing text[0, n) without the final flag. Held: the
 * earliest suffix that a keyword could still match from, i.e. a prefix of a keyword that may start
 * there (a whole word only after a non-word character or at the text start).
 */
function expectedAt(entries: KeywordEntry[], text: string, n: number): Expected {
  const prefix = text.slice(0, n)
  let hold = n
  for (const { text: kw, wordBoundary } of entries) {
    const needsLeft = wordBoundary && isWord(kw.codePointAt(0))
    for (let p = Math.max(0, n - kw.length); p < n; p++) {
      if (kw.startsWith(prefix.slice(p)) && !(needsLeft && isWord(codePointBefore(prefix, p)))) {
        hold = Math.min(hold, p)
        break
      }
    }
  }
  const decided: Hit[] = []
  for (const m of occurrences(entries, prefix)) {
    const right = m.needsRight ? rightSide(text, n, m.end) : 'boundary'
    if (right === 'boundary') decided.push({ id: m.id, start: m.start, end: m.end })
    else if (right === 'unknown') hold = Math.min(hold, m.start)
  }
  return { decided: sorted(decided), hold }
}

/** All hits of the whole, ended text. */
function finalHits(entries: KeywordEntry[], text: string): Hit[] {
  return sorted(
    occurrences(entries, text)
      .filter((m) => !m.needsRight || rightSide(text, text.length, m.end) !== 'word')
      .map(({ id, start, end }) => ({ id, start, end })),
  )
}

const sorted = (hits: Hit[]): Hit[] => [...hits].sort((a, b) => a.start - b.start || a.end - b.end || a.id - b.id)

// --- a view that drops everything below what it was trimmed to, and refuses reads there --------

class StrictView implements TextView {
  /** The text from base on. */
  private kept = ''
  private _base = 0
  /** charCodeAt calls so far. */
  reads = 0
  get length(): number {
    return this._base + this.kept.length
  }
  get base(): number {
    return this._base
  }
  push(s: string): void {
    this.kept += s
  }
  charCodeAt(i: number): number {
    if (i < this._base || i >= this.length) throw new RangeError(`read at ${i} outside [${this._base}, ${this.length})`)
    this.reads++
    return this.kept.charCodeAt(i - this._base)
  }
  slice(from: number, to = this.length): string {
    if (from < this._base || to > this.length) throw new RangeError(`slice [${from}, ${to}) outside the view`)
    return this.kept.slice(from - this._base, to - this._base)
  }
  origStart(i: number): number {
    return i
  }
  origEnd(i: number): number {
    return i + 1
  }
  trim(to: number): void {
    const drop = Math.min(to, this.length) - this._base
    if (drop <= 0) return
    this.kept = this.kept.slice(drop)
    this._base += drop
  }
}

// --- random cases --------------------------------------------------------------------------------

function randomText(rand: () => number, minChars: number, maxChars: number): string {
  const n = minChars + Math.floor(rand() * (maxChars - minChars + 1))
  let s = ''
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]!
  return s
}

function randomEntries(rand: () => number): KeywordEntry[] {
  const entries: KeywordEntry[] = []
  const count = 1 + Math.floor(rand() * 6)
  for (let i = 0; i < count; i++) {
    const r = rand()
    // Now and then: the same text again (other boundary flag or not), or an empty text.
    const text = r < 0.15 && entries.length > 0 ? entries[Math.floor(rand() * entries.length)]!.text : r < 0.2 ? '' : randomText(rand, 1, 4)
    entries.push({ text, wordBoundary: rand() < 0.5 })
  }
  return entries
}

interface Checker {
  /** Streams text cut at the given offsets; returns the first mismatch, or undefined. */
  (cuts: number[], extraFinalScan: boolean): string | undefined
}

function checker(entries: KeywordEntry[], text: string): Checker {
  const matcher = compileKeywords(entries)
  const expected = Array.from({ length: text.length + 1 }, (_, n) => expectedAt(entries, text, n))
  const all = finalHits(entries, text)
  return (cuts, extraFinalScan) => {
    const scanner = matcher.scanner()
    const view = new StrictView()
    const hits: Hit[] = []
    const ends = [...cuts, text.length]
    let from = 0
    for (let p = 0; p < ends.length; p++) {
      const to = ends[p]!
      view.push(text.slice(from, to))
      from = to
      const final = p === ends.length - 1 && !extraFinalScan
      scanner.scan(view, final, hits)
      const hold = scanner.holdFrom()
      const got = JSON.stringify(sorted(hits))
      if (final) {
        if (got !== JSON.stringify(all)) return `final hits ${got}, want ${JSON.stringify(all)}`
        if (hold !== to) return `final hold ${hold}, want ${to}`
        return undefined
      }
      const want = expected[to]!
      if (got !== JSON.stringify(want.decided)) return `after ${to}: hits ${got}, want ${JSON.stringify(want.decided)}`
      if (new Set(hits.map((h) => `${h.id}:${h.start}`)).size !== hits.length) return `after ${to}: a hit reported twice`
      // The safety property on its own: no part of a match still to come has been let go.
      const early = all.find((h) => h.start < hold && !hits.some((g) => g.id === h.id && g.start === h.start))
      if (early) return `after ${to}: hold ${hold} already released the start of ${JSON.stringify(early)}`
      if (hold !== want.hold) return `after ${to}: hold ${hold}, want ${want.hold}`
      view.trim(hold)
    }
    scanner.scan(view, true, hits)
    const got = JSON.stringify(sorted(hits))
    if (got !== JSON.stringify(all)) return `final scan: hits ${got}, want ${JSON.stringify(all)}`
    if (scanner.holdFrom() !== text.length) return `final scan: hold ${scanner.holdFrom()}, want ${text.length}`
    return undefined
  }
}

const describe = (seed: number, entries: KeywordEntry[], text: string, cuts: number[]): string =>
  `seed ${seed}: entries ${JSON.stringify(entries)}, text ${JSON.stringify(text)}, cuts ${JSON.stringify(cuts)}`

t.test('every split into 1–4 pushes matches the whole-text reference', async (t) => {
  let cases = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rand = mulberry32(seed)
    const entries = randomEntries(rand)
    const text = randomText(rand, 0, 14)
    const check = checker(entries, text)
    const n = text.length
    let failure: string | undefined
    // Cut points c1 ≤ c2 ≤ c3 (equal cuts make empty pushes), fewer cuts for fewer pushes; cuts
    // fall between the halves of surrogate pairs too.
    outer: for (let pieces = 1; pieces <= 4; pieces++) {
      for (const cuts of cutSets(n, pieces - 1)) {
        cases++
        const err = check(cuts, cases % 3 === 0)
        if (err) {
          failure = `${describe(seed, entries, text, cuts)}: ${err}`
          break outer
        }
      }
    }
    if (failure) return void t.fail(failure)
  }
  t.pass(`${cases} streamed cases agree with the reference`)
})

t.test('long texts in LLM-sized pieces match the whole-text reference', async (t) => {
  const seeds = 400
  for (let seed = 1001; seed < 1001 + seeds; seed++) {
    const rand = mulberry32(seed)
    const entries = randomEntries(rand)
    const text = randomText(rand, 50, 300)
    const cuts: number[] = []
    for (let at = 1 + Math.floor(rand() * 8); at < text.length; at += 1 + Math.floor(rand() * 8)) cuts.push(at)
    const err = checker(entries, text)(cuts, rand() < 0.5)
    if (err) return void t.fail(`${describe(seed, entries, text, cuts)}: ${err}`)
  }
  t.pass(`${seeds} random streams agree with the reference`)
})

t.test('many keywords cut from the text itself: long chains of held prefixes', async (t) => {
  // Keywords that occur, overlap and begin inside one another, so that the hold point often
  // falls back through several shorter prefixes, some at word starts and some mid-word. Cuts by
  // code unit: some keywords begin or end with half a surrogate pair.
  const seeds = 300
  for (let seed = 5001; seed < 5001 + seeds; seed++) {
    const rand = mulberry32(seed)
    const text = randomText(rand, 40, 160)
    const entries: KeywordEntry[] = []
    for (let i = 8 + Math.floor(rand() * 24); i > 0; i--) {
      const at = Math.floor(rand() * text.length)
      entries.push({ text: text.slice(at, at + 1 + Math.floor(rand() * 7)), wordBoundary: rand() < 0.75 })
    }
    const cuts: number[] = []
    for (let at = 1 + Math.floor(rand() * 6); at < text.length; at += 1 + Math.floor(rand() * 6)) cuts.push(at)
    const err = checker(entries, text)(cuts, rand() < 0.5)
    if (err) return void t.fail(`${describe(seed, entries, text, cuts)}: ${err}`)
  }
  t.pass(`${seeds} streams with dense keyword sets agree with the reference`)
})

t.test('each scan reads what the view gained, not what it holds', async (t) => {
  const rand = mulberry32(7)
  const entries: KeywordEntry[] = [
    { text: 'ab', wordBoundary: true },
    { text: 'a b', wordBoundary: false },
    { text: 'жж', wordBoundary: true },
    { text: 'b𝒜', wordBoundary: true },
    { text: 'ababababab', wordBoundary: false },
  ]
  const scanner = compileKeywords(entries).scanner()
  const view = new StrictView()
  const hits: Hit[] = []
  const pieces: string[] = []
  while (view.length < 100_000) {
    const piece = randomText(rand, 1, 4)
    pieces.push(piece)
    view.push(piece)
    scanner.scan(view, false, hits)
    view.trim(scanner.holdFrom())
  }
  scanner.scan(view, true, hits)
  t.ok(hits.length > 100, `${hits.length} hits`)
  // Beyond one read per unit, only the units after whole-word matches are read (a surrogate pair
  // split across pushes costs one read more). Re-reading held text on every push would not fit.
  const rightChecks = occurrences(entries, pieces.join('')).filter((m) => m.needsRight).length
  t.ok(view.reads <= view.length + 3 * rightChecks, `${view.reads} reads for ${view.length} units and ${rightChecks} right-hand checks`)
})

function* cutSets(n: number, count: number, from = 0): Generator<number[]> {
  if (count === 0) return yield []
  for (let c = from; c <= n; c++) for (const rest of cutSets(n, count - 1, c)) yield [c, ...rest]
}
