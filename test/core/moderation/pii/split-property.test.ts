import t from 'tap'
import { compilePii, PII_TYPES } from '../../../../src/core/moderation/pii/index.js'
import type { CompiledMatcher, Hit } from '../../../../src/core/moderation/types.js'
import { ViewBuffer } from '../../../../src/core/moderation/view-buffer.js'
import { mulberry32 } from '../../../helpers/prng.js'

// Property: however the text is split into pushes, the hits are those of the whole text pushed
// at once. Every push is followed by trimming the view to the hold point, as the hold-back
// stream does, so a detector that reads text it already let go of fails here too.

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlX2hlcmU'

// Short texts: every pair of split points is tried.
const SHORT = [
  'mail bob.s@ex-ample.co.uk. ok',
  'Call 555 1234 or (555) 123-4567x89.',
  '416 60 039 office, 3660170548-Fax',
  'SSN 123456789; 123-45-6789 x',
  'IBAN GB82 WEST 1234 5698 7654 32!',
  'ip 10.0.0.1/8 fe80::1%eth0 ::1',
  `tok ${JWT} end`,
  'key: "Zx8fQ2pL9mN4vB7cT1yR6wK3" MRN#1234567',
  'CPF 529.982.247-25 cnpj 11222333000181',
  'card 4111-1111-1111-1111x 378282246310005',
]

// A longer text: every single split point, and random three-piece splits.
const LONG =
  'Hello! Reach me at first.last+tag@mail.example.com or Phone: +41 (0)38 549 02 90.\n' +
  'My card 4111 1111 1111 1111 expires soon; my SSN is 123-45-6789 and AKIAIOSFODNN7EXAMPLE leaked.\n' +
  `Server 192.168.1.20 (2001:db8::1) answered with ${JWT}; api_key=Zx8fQ2pL9mN4vB7cT1yR6wK3\n` +
  'IBAN DE89 3704 0044 0532 0130 00, CPF 529.982.247-25, MRN: 0012345, 082 490 1693-Office, 2020-06-20.'

const matcher = compilePii(PII_TYPES)

interface Run {
  hits: Hit[]
  /** A broken hold-back contract, or null. */
  violation: string | null
}

function run(m: CompiledMatcher, text: string, cuts: readonly number[]): Run {
  const view = new ViewBuffer()
  const s = m.scanner()
  const hits: Hit[] = []
  let released = 0
  let violation: string | null = null
  let at = 0
  for (const cut of [...cuts, text.length]) {
    if (cut < at) continue
    view.append(text.slice(at, cut), at, cut)
    at = cut
    const before = hits.length
    s.scan(view, false, hits)
    for (const h of hits.slice(before)) {
      if (h.start < released) violation ??= `hit ${h.start}-${h.end} starts in text released up to ${released}`
    }
    const hold = s.holdFrom()
    if (hold < released) violation ??= `hold point went back from ${released} to ${hold}`
    if (hold > view.length) violation ??= `hold point ${hold} past the view (${view.length})`
    released = Math.max(released, hold)
    view.trim(hold)
  }
  const before = hits.length
  s.scan(view, true, hits)
  for (const h of hits.slice(before)) {
    if (h.start < released) violation ??= `final hit ${h.start}-${h.end} starts in released text (${released})`
  }
  if (s.holdFrom() !== text.length) violation ??= 'text still held after the end'
  for (const a of hits) {
    for (const b of hits) {
      if (a !== b && a.id === b.id && a.start === b.start) violation ??= `hit ${a.start}-${a.end} reported twice`
    }
  }
  return { hits, violation }
}

/** Null when splitting at `cuts` gives the whole text's hits and keeps the contract. */
function mismatch(text: string, cuts: number[], whole: Hit[]): object | null {
  const r = run(matcher, text, cuts)
  if (r.violation === null && JSON.stringify(r.hits) === JSON.stringify(whole)) return null
  return { text, cuts, found: r.hits, wanted: whole, violation: r.violation }
}

t.test('every pair of split points of short texts', (t) => {
  for (const text of SHORT) {
    const whole = run(matcher, text, []).hits
    t.ok(whole.length > 0, `${JSON.stringify(text)} has hits`)
    let bad: object | null = null
    for (let i = 0; i <= text.length && bad === null; i++) {
      for (let j = i; j <= text.length && bad === null; j++) bad = mismatch(text, [i, j], whole)
    }
    t.equal(bad, null, `all splits of ${JSON.stringify(text)} agree`)
  }
  t.end()
})

t.test('a longer text: every split point, random three-way splits, random small pieces', (t) => {
  const whole = run(matcher, LONG, []).hits
  t.same(
    whole.map((h) => `${PII_TYPES[h.id]}:${LONG.slice(h.start, h.end)}`),
    [
      'email:first.last+tag@mail.example.com',
      'phone:+41 (0)38 549 02 90',
      'credit_card:4111 1111 1111 1111',
      'us_ssn:123-45-6789',
      'api_key:AKIAIOSFODNN7EXAMPLE',
      'ipv4:192.168.1.20',
      'ipv6:2001:db8::1',
      `jwt:${JWT}`,
      'api_key:Zx8fQ2pL9mN4vB7cT1yR6wK3',
      'iban:DE89 3704 0044 0532 0130 00',
      'br_cpf:529.982.247-25',
      'mrn:0012345',
      'phone:082 490 1693',
    ],
    'all planted hits found',
  )
  let bad: object | null = null
  for (let i = 0; i <= LONG.length && bad === null; i++) bad = mismatch(LONG, [i], whole)
  t.equal(bad, null, 'every two-piece split agrees')
  const random = mulberry32(7)
  for (let k = 0; k < 3000 && bad === null; k++) {
    const a = Math.floor(random() * (LONG.length + 1))
    const b = Math.floor(random() * (LONG.length + 1))
    bad = mismatch(LONG, [Math.min(a, b), Math.max(a, b)], whole)
  }
  t.equal(bad, null, 'random three-piece splits agree')
  for (let k = 0; k < 200 && bad === null; k++) {
    const cuts: number[] = []
    for (let at = 0; at < LONG.length; ) cuts.push((at += 1 + Math.floor(random() * 8)))
    bad = mismatch(LONG, cuts, whole)
  }
  t.equal(bad, null, 'random 1–8 code unit pieces agree')
  t.end()
})

t.test('one code unit at a time', (t) => {
  const text = SHORT.join('\n') + '\n' + LONG
  const whole = run(matcher, text, []).hits
  t.equal(mismatch(text, Array.from({ length: text.length }, (_, i) => i), whole), null)
  t.end()
})

t.test('random soups of number and token fragments', (t) => {
  // Dense in half-candidates that complete, break or glue together in every order.
  const pieces = [
    'Phone: ', 'SSN ', 'MRN:', 'key=', 'call ', ' office', '-Fax', ' ', ' ', ' ', '-', '.', '(', ')', '+',
    'x', '@', 'a@b.io', 'bob', '.com', '192.168.', '10.', '555', '1234', '4111 1111', '123-45-6789', '0',
    '7', '99', 'GB82 WEST ', '1234 5698 ', '7654 32', 'Zx8fQ2pL9mN4vB7cT1yR6wK3', 'eyJhbGciOiJub25lIn0',
    '.eyJ4IjoxfQ.', '::', 'fe80', '\n', ',', 'AKIAIOSFODNN7EXAMPLE', '529.982.247-25',
  ]
  const random = mulberry32(11)
  let bad: object | null = null
  let hits = 0
  for (let k = 0; k < 300 && bad === null; k++) {
    let text = ''
    const n = 4 + Math.floor(random() * 12)
    for (let i = 0; i < n; i++) text += pieces[Math.floor(random() * pieces.length)]
    const whole = run(matcher, text, []).hits
    hits += whole.length
    for (let i = 0; i <= text.length && bad === null; i++) bad = mismatch(text, [i], whole)
    for (let r = 0; r < 30 && bad === null; r++) {
      const a = Math.floor(random() * (text.length + 1))
      const b = Math.floor(random() * (text.length + 1))
      bad = mismatch(text, [Math.min(a, b), Math.max(a, b)], whole)
    }
  }
  t.equal(bad, null, 'all splits agree')
  t.ok(hits > 50, `the soups have hits (${hits})`)
  t.end()
})
