import t from 'tap'
import RE2 from 're2'
import { compileRegexes, type RegexRule } from '../../../../src/core/moderation/regex/index.js'
import type { CompiledMatcher, Hit, TextView } from '../../../../src/core/moderation/types.js'
import { ViewBuffer } from '../../../../src/core/moderation/view-buffer.js'

/**
 * A view that really drops what trim() is asked to drop and refuses reads below it, so that a
 * scanner which reads text it has already released fails loudly. (ViewBuffer keeps the dead
 * prefix until it is half the storage, which would hide such reads.)
 */
export class StrictView implements TextView {
  private text = ''
  private at = 0

  get base(): number {
    return this.at
  }

  get length(): number {
    return this.at + this.text.length
  }

  append(s: string): void {
    this.text += s
  }

  charCodeAt(i: number): number {
    if (i < this.at || i >= this.length) throw new RangeError(`read at ${i} outside [${this.at}, ${this.length})`)
    return this.text.charCodeAt(i - this.at)
  }

  slice(from: number, to = this.length): string {
    if (from < this.at || to > this.length || from > to) throw new RangeError(`slice [${from}, ${to}) outside [${this.at}, ${this.length})`)
    return this.text.slice(from - this.at, to - this.at)
  }

  origStart(i: number): number {
    return i
  }

  origEnd(i: number): number {
    return i + 1
  }

  trim(to: number): void {
    const drop = Math.min(to, this.length) - this.at
    if (drop <= 0) return
    this.text = this.text.slice(drop)
    this.at += drop
  }
}

export interface StreamRun {
  hits: Hit[]
  /** length - holdFrom() after each push. */
  holds: number[]
}

/**
 * Streams `text` in the given pieces the way the hold-back engine does (scan, then trim the view
 * to the hold point) and checks on the way that the hold point never moves back and that no hit
 * starts in text already released.
 */
export function stream(rules: readonly RegexRule[] | CompiledMatcher, pieces: readonly string[], strict = true): StreamRun {
  const matcher = 'scanner' in rules ? rules : compileRegexes(rules)
  const scanner = matcher.scanner()
  const view = strict ? new StrictView() : new ViewBuffer()
  const hits: Hit[] = []
  const holds: number[] = []
  let released = 0
  let offset = 0
  const step = (final: boolean): void => {
    const found: Hit[] = []
    scanner.scan(view, final, found)
    for (const h of found) {
      if (h.start < released) throw new Error(`hit [${h.start}, ${h.end}) of rule ${h.id} starts in released text (< ${released})`)
    }
    hits.push(...found)
    const hold = scanner.holdFrom()
    if (hold < released) throw new Error(`hold point moved back from ${released} to ${hold}`)
    if (hold > view.length) throw new Error(`hold point ${hold} beyond the view (${view.length})`)
    released = hold
    view.trim(hold)
  }
  for (const p of pieces) {
    if (view instanceof StrictView) view.append(p)
    else view.append(p, offset, offset + p.length)
    offset += p.length
    step(false)
    holds.push(view.length - scanner.holdFrom())
  }
  step(true)
  if (scanner.holdFrom() !== view.length) throw new Error('something is still held after the end')
  return { hits: sortHits(hits), holds }
}

/** RE2's global search over the whole text, rule by rule: the reference result. */
export function wholeText(rules: readonly RegexRule[], text: string): Hit[] {
  const out: Hit[] = []
  rules.forEach((r, id) => {
    const re = new RE2(r.pattern, r.caseInsensitive ? 'giu' : 'gu')
    re.lastIndex = 0
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++
        continue
      }
      out.push({ id, start: m.index, end: m.index + m[0].length })
    }
  })
  return sortHits(out)
}

export function sortHits(hits: Hit[]): Hit[] {
  return hits.map((h) => ({ id: h.id, start: h.start, end: h.end })).sort((a, b) => a.start - b.start || a.id - b.id || a.end - b.end)
}

/** Splits text into pieces of 1..maxPiece code units (surrogate pairs may be split). */
export function randomPieces(text: string, rnd: () => number, maxPiece: number): string[] {
  const out: string[] = []
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(rnd() * maxPiece)
    out.push(text.slice(i, i + n))
    i += n
  }
  return out
}

export function fixedPieces(text: string, size: number): string[] {
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

// tap runs every file under test/, so the harness checks itself: the strict view must refuse what
// a real trimmed view could no longer serve, and the reference must be RE2's global search.
t.test('harness: the strict view refuses reads below its trim point', async (t) => {
  const v = new StrictView()
  v.append('hello world')
  v.trim(6)
  t.equal(v.slice(6, 11), 'world')
  t.throws(() => v.charCodeAt(5), RangeError)
  t.throws(() => v.slice(5), RangeError)
})

t.test('harness: the reference is RE2\'s leftmost, non-overlapping global search', async (t) => {
  const hits = wholeText([{ pattern: 'aa|a', maxMatchLength: 2 }, { pattern: '(?i)b', maxMatchLength: 1 }], 'aaaB😀a')
  t.same(hits, [
    { id: 0, start: 0, end: 2 },
    { id: 0, start: 2, end: 3 },
    { id: 1, start: 3, end: 4 },
    { id: 0, start: 6, end: 7 },
  ])
})
