import t from 'tap'
import { compilePii, PII_TYPES } from '../../../../src/core/moderation/pii/index.js'
import type { Hit, TextView } from '../../../../src/core/moderation/types.js'
import { ViewBuffer } from '../../../../src/core/moderation/view-buffer.js'
import { mulberry32 } from '../../../helpers/prng.js'

/** A view that counts every code unit read through it. */
class CountingView implements TextView {
  reads = 0
  constructor(private readonly inner: ViewBuffer) {}
  get length(): number {
    return this.inner.length
  }
  get base(): number {
    return this.inner.base
  }
  charCodeAt(i: number): number {
    this.reads++
    return this.inner.charCodeAt(i)
  }
  slice(from: number, to?: number): string {
    const s = this.inner.slice(from, to)
    this.reads += s.length
    return s
  }
  origStart(i: number): number {
    return this.inner.origStart(i)
  }
  origEnd(i: number): number {
    return this.inner.origEnd(i)
  }
  trim(to: number): void {
    this.inner.trim(to)
  }
}

/** Prose with PII sprinkled in, `sentences` long. */
function corpus(sentences: number, seed: number): string {
  const random = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const prose = [
    'The quick brown fox jumps over the lazy dog.',
    'In 2024 we shipped 3 releases and fixed 120 bugs, see section 4.2 for details.',
    'Streaming moderation releases text only when no rule can still match.',
    'Costs rose by 12.5% (from $1,200 to $1,350) over the quarter.',
  ]
  const pii = [
    'Write to jane.doe@example.org today.',
    'Card: 4111 1111 1111 1111.',
    'Phone: (555) 123-4567 or +44 20 7946 0958.',
    'IBAN GB82 WEST 1234 5698 7654 32 please.',
    'api_key=Zx8fQ2pL9mN4vB7cT1yR6wK3 leaked, and so did AKIAIOSFODNN7EXAMPLE.',
    'Server 10.1.2.3 and fe80::1 answered.',
  ]
  const out: string[] = []
  for (let i = 0; i < sentences; i++) out.push(i % 5 === 4 ? pick(pii) : pick(prose))
  return out.join(' ')
}

t.test('each scan reads only what the view gained: total reads stay linear in the text', (t) => {
  const text = corpus(3000, 1)
  const inner = new ViewBuffer()
  const view = new CountingView(inner)
  const s = compilePii(PII_TYPES).scanner()
  const hits: Hit[] = []
  let maxStored = 0
  for (let at = 0; at < text.length; at += 4) {
    const piece = text.slice(at, at + 4)
    inner.append(piece, at, at + piece.length)
    s.scan(view, false, hits)
    view.trim(s.holdFrom())
    maxStored = Math.max(maxStored, inner.length - inner.base)
  }
  s.scan(view, true, hits)
  t.ok(hits.length > 3000 / 5, `found the planted PII (${hits.length} hits)`)
  // Every code unit is read once by the scan loop, plus once more for each candidate validated.
  t.ok(view.reads < 2.5 * text.length, `${view.reads} reads for ${text.length} code units`)
  // Memory: the view never needs more than the longest candidate (plus trim's slack).
  t.ok(maxStored < 200, `at most ${maxStored} code units stored`)
  t.end()
})

t.test('prose without candidates: the hold point follows the text', (t) => {
  const text = 'Nothing to see here, just words and more words. '.repeat(50)
  const view = new ViewBuffer()
  const s = compilePii(PII_TYPES).scanner()
  let worst = 0
  for (let at = 0; at < text.length; at += 3) {
    view.append(text.slice(at, at + 3), at, at + 3)
    s.scan(view, false, [])
    worst = Math.max(worst, view.length - s.holdFrom())
  }
  t.ok(worst <= 'Nothing'.length + 1, `never more than a word held (${worst})`)
  t.end()
})
