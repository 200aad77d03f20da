import t from 'tap'
import { createNormalizer, foldText } from '../../../../src/core/moderation/normalize/index.js'
import { ASCII_FOLD, foldCodePoint } from '../../../../src/core/moderation/normalize/fold-char.js'
import { ALPHA, BANG, BOUND, JOIN, LEET, LEET_LETTER, SEP, WS, foldClass } from '../../../../src/core/moderation/normalize/fold-classes.js'
import { MAX_LEET_RUN } from '../../../../src/core/moderation/normalize/leet.js'
import { MAX_SEPARATOR_CHARS, MAX_SEPARATOR_UNITS } from '../../../../src/core/moderation/normalize/spacing.js'
import type { IncrementalNormalizer, TextView } from '../../../../src/core/moderation/types.js'
import { mulberry32 } from '../../../helpers/prng.js'

/** Pieces random texts are made of: every class the folded view treats differently. */
const PIECES = [
  'a', 'b', 'h', 'e', 't', 'k', 'i', 'l', 'I', 'A', 'Z', 'x', 'y', 'o',
  ' ', ' ', ' ', '  ', '\n', '\t', '\u00A0', '\u3000',
  '.', '-', '_', '*', '·', '•', ',', '/', '|', '~',
  '!', '+', '0', '1', '3', '4', '5', '7', '8', '@', '$', '2', '9', "'", ':', '=', '#', '?', '(', ')', '"', '“',
  '\u0301', '\u0336', '\u20DD', '\u200B', '\u200D', '\u00AD', '\u202E', '\uFE0F',
  'é', 'ß', 'ς', 'Σ', '\u0397', '\u03C4', '\u0430', '\u0456', '\u0406', 'ｈ', '１', '𝐡', '𝒽', 'ℯ', '①', 'ﬁ', '½', '…',
  '\u1100', '\u1161', '\u11A8', '가', '\uFF76', '\uFF9E', '😀', '\uD835', '\uDC00', '中',
]

function randomText(rand: () => number, length: number, pieces = PIECES): string {
  let s = ''
  for (let i = 0; i < length; i++) s += pieces[Math.floor(rand() * pieces.length)]
  return s
}

/** Cut points anywhere, including inside surrogate pairs and between a letter and its marks. */
function randomSplit(rand: () => number, s: string): string[] {
  const parts: string[] = []
  let at = 0
  while (at < s.length) {
    const n = rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 8)
    parts.push(s.slice(at, at + n))
    at += n
  }
  return parts
}

interface Snapshot {
  text: string
  starts: number[]
  ends: number[]
}

function snapshot(v: TextView): Snapshot {
  const starts: number[] = []
  const ends: number[] = []
  for (let i = v.base; i < v.length; i++) {
    starts.push(v.origStart(i))
    ends.push(v.origEnd(i))
  }
  return { text: v.slice(v.base), starts, ends }
}

function run(parts: string[], decodeBase64 = false): { literal: Snapshot; folded: Snapshot; norm: IncrementalNormalizer } {
  const norm = createNormalizer({ decodeBase64, composeAcrossPushes: true })
  for (const p of parts) norm.push(p)
  norm.end()
  return { literal: snapshot(norm.literal), folded: snapshot(norm.folded), norm }
}

// ---- The contextual rules of the folded view, written as plainly as possible ----

/** Context-free fold, one folded code point per entry. */
function charFold(s: string): number[] {
  const out: number[] = []
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    const f = cp < 0x80 ? String.fromCharCode(ASCII_FOLD[cp]!) : foldCodePoint(cp)
    for (const u of f) out.push(u.codePointAt(0)!)
  }
  return out
}

const has = (a: number[], i: number, flag: number): boolean => i >= 0 && i < a.length && (foldClass(a[i]!) & flag) !== 0
const sepOrEdge = (a: number[], i: number): boolean => i < 0 || i >= a.length || has(a, i, SEP | BOUND)

function referenceSpacing(a: number[]): number[] {
  const out: number[] = []
  let i = 0
  while (i < a.length) {
    if (!has(a, i, SEP)) {
      out.push(a[i++]!)
      continue
    }
    let j = i
    let units = 0
    while (j < a.length && has(a, j, SEP)) {
      if (!has(a, j, WS) || !has(a, j - 1, WS) || j === i) units++
      j++
    }
    const leftSingle = i > 0 && has(a, i - 1, JOIN) && sepOrEdge(a, i - 2)
    const rightSingle = j < a.length && has(a, j, JOIN) && sepOrEdge(a, j + 1)
    const remove = leftSingle && rightSingle && units <= MAX_SEPARATOR_UNITS && j - i <= MAX_SEPARATOR_CHARS
    if (!remove) {
      for (let k = i; k < j; k++) {
        if (!has(a, k, WS)) out.push(a[k]!)
        else if (k === i || !has(a, k - 1, WS)) out.push(0x20)
      }
    }
    i = j
  }
  return out
}

function referenceLeet(b: number[]): number[] {
  const isBangChar = (i: number): boolean => b[i] === 0x21 || b[i] === 0x2b
  const candidate = b.map((_, i) => {
    if (has(b, i, LEET)) return true
    if (!has(b, i, BANG)) return false
    return !(i > 0 && isBangChar(i - 1)) && (has(b, i + 1, ALPHA) || has(b, i + 1, LEET))
  })
  const out = b.slice()
  let i = 0
  while (i < b.length) {
    if (!candidate[i]) {
      i++
      continue
    }
    let j = i
    while (j < b.length && candidate[j]) j++
    if (j - i <= MAX_LEET_RUN && (has(b, i - 1, ALPHA) || has(b, j, ALPHA))) {
      for (let k = i; k < j; k++) out[k] = LEET_LETTER[b[k]!]!
    }
    i = j
  }
  return out
}

const referenceFold = (s: string): string => String.fromCodePoint(...referenceLeet(referenceSpacing(charFold(s))))

t.test('the folded view follows the written-out spacing and leetspeak rules', async (t) => {
  const rand = mulberry32(1)
  let failures = 0
  for (let n = 0; n < 3000 && failures < 5; n++) {
    const s = randomText(rand, 1 + Math.floor(rand() * 24))
    const got = foldText(s)
    const want = referenceFold(s)
    if (got !== want) {
      failures++
      t.equal(got, want, `fold of ${JSON.stringify(s)}`)
    }
  }
  t.equal(failures, 0)
})

t.test('folding folded text changes nothing', async (t) => {
  const rand = mulberry32(2)
  let failures = 0
  for (let n = 0; n < 3000 && failures < 5; n++) {
    const once = foldText(randomText(rand, 1 + Math.floor(rand() * 24)))
    const twice = foldText(once)
    if (twice !== once) {
      failures++
      t.equal(twice, once, `refold of ${JSON.stringify(once)}`)
    }
  }
  t.equal(failures, 0)
})

t.test('any split of the input gives the same views and maps', async (t) => {
  const rand = mulberry32(3)
  const b64 = ['aGF0ZSBzcGVlY2ggaXMgYmFk', 'a2lsbCB0aGUgcHJvY2Vzcw==', 'Zm9yYmlkZGVud29yZA', 'x_y-z', '===', 'QUJD', 'Pz8/Pz8/Pz8/Pz8/Pz8/']
  let failures = 0
  for (let n = 0; n < 1500 && failures < 5; n++) {
    const s = randomText(rand, 1 + Math.floor(rand() * 40), n % 3 === 0 ? [...PIECES, ...b64] : PIECES)
    const decodeBase64 = n % 3 === 0
    const whole = run([s], decodeBase64)
    const split = run(randomSplit(rand, s), decodeBase64)
    const same =
      JSON.stringify([whole.literal, whole.folded]) === JSON.stringify([split.literal, split.folded])
    if (!same) {
      failures++
      t.same(split.literal, whole.literal, `literal of ${JSON.stringify(s)}`)
      t.same(split.folded, whole.folded, `folded of ${JSON.stringify(s)}`)
    }
  }
  t.equal(failures, 0)
})

t.test('maps are monotonic, inside the text, and redact exactly', async (t) => {
  const rand = mulberry32(4)
  let failures = 0
  for (let n = 0; n < 1500 && failures < 5; n++) {
    const s = randomText(rand, 1 + Math.floor(rand() * 40))
    const { literal, folded } = run([s], n % 2 === 0)
    for (const [name, v] of [['literal', literal], ['folded', folded]] as const) {
      for (let i = 0; i < v.text.length; i++) {
        const ok =
          v.starts[i]! >= 0 && v.starts[i]! < v.ends[i]! && v.ends[i]! <= s.length &&
          (i === 0 || (v.starts[i]! >= v.starts[i - 1]! && v.ends[i]! >= v.ends[i - 1]!))
        if (!ok) {
          failures++
          t.fail(`${name} unit ${i} of ${JSON.stringify(s)} maps to [${v.starts[i]}, ${v.ends[i]})`)
          break
        }
      }
    }
    // The original span of folded [a, b) holds exactly the units of [a, b): no unit's span
    // straddles the cut. [a, b) is widened to whole expansions (ß → ss shares one span).
    if (folded.text.length > 2) {
      const sameSpan = (i: number, j: number): boolean => folded.starts[i] === folded.starts[j] && folded.ends[i] === folded.ends[j]
      let a = Math.floor(rand() * folded.text.length)
      let b = a + 1 + Math.floor(rand() * (folded.text.length - a))
      while (a > 0 && sameSpan(a - 1, a)) a--
      while (b < folded.text.length && sameSpan(b - 1, b)) b++
      const from = folded.starts[a]!
      const to = folded.ends[b - 1]!
      for (let i = 0; i < folded.text.length; i++) {
        const inside = i >= a && i < b
        const spanInside = folded.starts[i]! >= from && folded.ends[i]! <= to
        const spanOutside = folded.ends[i]! <= from || folded.starts[i]! >= to
        if (inside ? !spanInside : !spanOutside) {
          failures++
          t.fail(`folded unit ${i} of ${JSON.stringify(s)} straddles the redaction of [${a}, ${b})`)
          break
        }
      }
    }
  }
  t.equal(failures, 0)
})

t.test('pending: text before it is final, it never moves back, and it trails the end closely', async (t) => {
  const rand = mulberry32(5)
  let failures = 0
  const asciiPieces = PIECES.filter((p) => /^[\x00-\x7f]+$/.test(p))
  for (let n = 0; n < 800 && failures < 5; n++) {
    const ascii = n % 2 === 0
    const s = randomText(rand, 1 + Math.floor(rand() * 60), ascii ? asciiPieces : PIECES)
    const parts = randomSplit(rand, s)
    const norm = createNormalizer({ decodeBase64: n % 4 === 1 })
    const marks: { literal: number; folded: number; pending: number }[] = []
    let pushed = 0
    let last = 0
    for (const p of parts) {
      norm.push(p)
      pushed += p.length
      const pending = norm.pending
      if (pending < last || pending > pushed || (ascii && n % 4 !== 1 && pushed - pending > MAX_SEPARATOR_CHARS + MAX_LEET_RUN + 4)) {
        failures++
        t.fail(`pending ${pending} after ${pushed} units of ${JSON.stringify(s)} (was ${last})`)
      }
      last = pending
      marks.push({ literal: norm.literal.length, folded: norm.folded.length, pending })
    }
    norm.end()
    if (norm.pending !== s.length) {
      failures++
      t.equal(norm.pending, s.length, 'pending after end()')
    }
    for (const m of marks) {
      for (const [view, from] of [[norm.literal, m.literal], [norm.folded, m.folded]] as const) {
        for (let i = from; i < view.length; i++) {
          if (view.origStart(i) < m.pending) {
            failures++
            t.fail(`unit ${i} (${JSON.stringify(view.slice(i, i + 1))}) of ${JSON.stringify(s)} came after pending was ${m.pending} but maps to ${view.origStart(i)}`)
            break
          }
        }
      }
    }
  }
  t.equal(failures, 0)
})
