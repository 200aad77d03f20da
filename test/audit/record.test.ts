import t from 'tap'
import { BoundedQueue } from '../../src/core/audit/bounded-queue.js'
import { Chain } from '../../src/core/audit/chain.js'
import { auditConfigProblems, auditConfigSchema } from '../../src/core/audit/config-schema.js'
import { LIMITS, prepareDecision, prepareReload } from '../../src/core/audit/events.js'
import { checkLine } from '../../src/core/audit/line-check.js'
import { hmacKey } from '../../src/core/audit/pseudonym.js'
import { GENESIS } from '../../src/core/audit/record.js'
import { expectedHash, sealChained, sealRecord, sha256Hex } from '../../src/core/audit/serialize.js'
import { TtlCache } from '../../src/core/audit/ttl-cache.js'
import { resolveWriterName } from '../../src/core/audit/writer-name.js'
import { canonicalJson } from '../../src/core/formats/canonical-json.js'
import { mulberry32 } from '../helpers/prng.js'

const who = { subject: 'p'.repeat(32), spanKey: hmacKey(Buffer.alloc(32, 3)) }

t.test('a sealed line is the canonical JSON of the record, hash included', async (t) => {
  const rnd = mulberry32(7)
  const strings = ['', 'plain', 'quote " and \\ backslash', 'line\nbreak\ttab\u0001', 'é ü 😀 日本', '\u2028\u2029', 'lone \ud800 surrogate', '</script>']
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
  const value = (depth: number): unknown => {
    const r = rnd()
    if (depth > 2 || r < 0.3) return pick(strings)
    if (r < 0.45) return pick([0, -0, 1.5, 1e21, -7, 123456789012, 0.1 + 0.2])
    if (r < 0.55) return pick([true, false, null])
    if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1))
    return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [pick(['a', 'B', 'é', '10', '9', 'hash2', 'z_', '', 'ü']), value(depth + 1)]))
  }
  for (let i = 0; i < 500; i++) {
    const fields = Object.fromEntries(Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => [pick(['action', 'at', 'rule', 'subject', 'x', 'Z', '1', 'detail', 'spans', 'hasg', 'hasi']), value(0)]))
    const sealed = sealRecord(fields)
    t.equal(sealed.hash, sha256Hex(canonicalJson(fields)), `hash of case ${i}`)
    t.equal(sealed.line, canonicalJson({ ...fields, hash: sealed.hash }), `line of case ${i}`)
    t.equal(expectedHash(JSON.parse(sealed.line) as Record<string, unknown>), sealed.hash)
    // The writer's path: shapes compiled once, the chain's fields merged in and winning.
    const chain = { v: 1, kind: pick(['decision', 'start']), writer: 'pod-a', seq: i + 1, ts: '2025-01-01T00:00:00.000Z', prev: GENESIS }
    const chained = sealChained(fields, chain)
    const all = { ...fields, ...chain }
    t.equal(chained.line, canonicalJson({ ...all, hash: sha256Hex(canonicalJson(all)) }), `chained line of case ${i}`)
  }
  const proto = JSON.parse('{"__proto__":{"a":1},"b":2}') as Record<string, unknown>
  t.equal(sealChained(proto, { v: 1, kind: 'k', writer: 'w', seq: 1, ts: 't', prev: GENESIS }).line.includes('"__proto__":{"a":1}'), true, '__proto__ is a key like any other')
  t.throws(() => sealChained({ a: Number.POSITIVE_INFINITY }, { v: 1, kind: 'k', writer: 'w', seq: 1, ts: 't', prev: GENESIS }), TypeError)
  t.throws(() => sealRecord({ hash: 'x' }), TypeError)
  t.throws(() => sealRecord({ a: Number.NaN }), TypeError)
  t.throws(() => sealRecord({ a: [undefined] }), TypeError)
  t.equal(sealRecord({ a: undefined, b: 1 }).line, canonicalJson({ b: 1, hash: sealRecord({ b: 1 }).hash }), 'undefined fields are left out')
  t.equal(sealRecord({ d: new Date(0) }).line, canonicalJson({ d: new Date(0), hash: sealRecord({ d: new Date(0) }).hash }), 'toJSON as JSON does')
})

t.test('the chain: seq, prev, ts that never goes back, chain fields win', async (t) => {
  const c = new Chain('pod-a')
  const first = c.append('start', { seq: 99, writer: 'evil', pid: 1 }, 2000)
  const r1 = JSON.parse(first.line) as Record<string, unknown>
  t.match(r1, { v: 1, kind: 'start', writer: 'pod-a', seq: 1, prev: GENESIS, ts: '1970-01-01T00:00:02.000Z', pid: 1 })
  const second = c.append('decision', { action: 'x' }, 1000)
  const r2 = JSON.parse(second.line) as Record<string, unknown>
  t.equal(r2.prev, r1.hash)
  t.equal(r2.seq, 2)
  t.equal(r2.ts, r1.ts, 'a clock that stepped back repeats the last ts')
  t.ok(checkLine(second.line).ok)
  t.equal(c.head.seq, 2)
})

t.test('prepared decisions are bounded and carry no raw subject or match', async (t) => {
  const p = prepareDecision(
    {
      kind: 'decision',
      filter: 'moderation',
      action: 'redact',
      shadow: false,
      rule: 'r'.repeat(1000),
      route: 'chat',
      region: 'eu',
      subject: 'alice@example.com',
      policyVersion: 'v1',
      requestId: 'req',
      matches: Array.from({ length: 100 }, (_, i) => `secret-${i}`),
      excerpt: `${'e'.repeat(LIMITS.excerpt - 1)}😀 and more`,
      detail: { ok: 1, nested: { no: 1 } as never, fn: (() => 1) as never, ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i])) },
    },
    0,
    who,
  )
  const f = p.fields as Record<string, unknown> & { spans: unknown[]; excerpt: string; detail: Record<string, unknown> }
  t.equal((f.rule as string).length, LIMITS.text)
  t.equal(f.spans.length, LIMITS.spans)
  t.equal(f.excerpt.length, LIMITS.excerpt - 1, 'cut before a surrogate pair, never inside it')
  t.equal(Object.keys(f.detail).length, LIMITS.detailKeys)
  t.notOk('nested' in f.detail || 'fn' in f.detail, 'only scalars in detail')
  t.equal(f.subject, who.subject)
  t.notMatch(JSON.stringify(p), /alice|secret-/)
  t.equal(f.at, '1970-01-01T00:00:00.000Z')
  const reload = prepareReload({ kind: 'reload', oldVersion: null, newVersion: 'v2', outcome: 'error', reason: 'x'.repeat(2000), errors: -3 }, 0)
  t.match(reload.fields, { oldVersion: null, newVersion: 'v2', outcome: 'error', errors: 0 })
  t.equal((reload.fields.reason as string).length, LIMITS.reason)
})

t.test('bounded queue and TTL cache', async (t) => {
  const q = new BoundedQueue<number>(3)
  t.ok(q.push(1) && q.push(2) && q.push(3))
  t.notOk(q.push(4), 'full')
  t.same(q.take(2), [1, 2])
  t.ok(q.push(4) && q.push(5))
  t.equal(q.peek(), 3)
  t.same(q.take(10), [3, 4, 5])
  t.equal(q.length, 0)
  let now = 0
  const c = new TtlCache<string, number>(2, 100, () => now)
  c.set('a', 1)
  c.set('b', 2)
  t.equal(c.get('a'), 1)
  c.set('c', 3)
  t.equal(c.get('b'), undefined, 'least recently used goes first')
  now = 101
  t.equal(c.get('a'), undefined, 'expired')
})

t.test('config: defaults, required key file, cross-checks, writer names', async (t) => {
  const d = auditConfigSchema.parse(undefined)
  t.match(d, { enabled: false, sink: 'file', onFailure: 'block', queueRecords: 10000, file: { fsyncMs: 1000 }, pseudonyms: { mode: 'global', onRedisError: 'drop-subject' }, checkpoints: { everyRecords: 1000, copy: { to: 'none' } } })
  const missing = auditConfigSchema.safeParse({ enabled: true })
  t.notOk(missing.success)
  t.match(missing.error?.issues, [{ path: ['pseudonyms', 'keyFile'] }])
  t.notOk(auditConfigSchema.safeParse({ enabled: true, pseudonyms: { keyFile: '/k' }, bogus: 1 }).success, 'closed')
  t.notOk(auditConfigSchema.safeParse({ checkpoints: { copy: { to: 'file' } } }).success)
  const perSubject = auditConfigSchema.parse({ enabled: true, pseudonyms: { keyFile: '/k', mode: 'per-subject' }, checkpoints: { copy: { to: 'redis' } } })
  t.same(
    auditConfigProblems(perSubject, { redisConfigured: false }).map((p) => p.path.join('.')),
    ['pseudonyms.mode', 'checkpoints.copy.to'],
  )
  t.same(auditConfigProblems(perSubject, { redisConfigured: true }), [])
  t.equal(resolveWriterName(null, 'chatbot-7d9f-abcde', 'host'), 'chatbot-7d9f-abcde')
  t.equal(resolveWriterName(null, undefined, 'host-1'), 'host-1')
  t.equal(resolveWriterName('fixed', 'pod', 'host'), 'fixed')
  t.throws(() => resolveWriterName('../etc', undefined, 'h'))
  t.notOk(auditConfigSchema.safeParse({ writer: 'a/b' }).success)
})
