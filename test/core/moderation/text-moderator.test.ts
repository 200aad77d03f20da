import t from 'tap'
import { moderationSchema } from '../../../src/core/filters/moderation/schema.js'
import { compileRules } from '../../../src/core/filters/moderation/compile-rules.js'
import { TextModerator, moderateWhole, type Finding, type Step } from '../../../src/core/moderation/text-moderator.js'
import type { Classifier, ClassifierScores, Ports } from '../../../src/core/ports.js'
import { OBFUSCATION_CASES as OBFUSCATION_CORPUS } from '../../fixtures/obfuscation-corpus.js'

function build(rules: unknown[], ports: Ports = {}, extra: Record<string, unknown> = {}) {
  const config = moderationSchema.parse({ rules, ...extra })
  const compiled = compileRules(config, ports)
  const active = new Uint8Array(compiled.policy.rules.length).fill(1)
  return { policy: compiled.policy, active }
}

async function run(m: TextModerator, pieces: readonly string[]): Promise<{ out: string; steps: Step[]; block?: Finding; retraction?: boolean }> {
  let out = ''
  const steps: Step[] = []
  for (const p of pieces) {
    const s = await m.push(p)
    steps.push(s)
    out += s.text
    if (s.block) return { out, steps, block: s.block, ...(s.retraction ? { retraction: true } : {}) }
  }
  const e = await m.end()
  steps.push(e)
  out += e.text
  return { out, steps, ...(e.block ? { block: e.block } : {}), ...(e.retraction ? { retraction: true } : {}) }
}

t.test('hold-back is exactly what a rule needs', async (t) => {
  const { policy, active } = build([{ name: 'kw', keywords: ['forbidden'], action: 'block' }])
  const m = new TextModerator(policy, { active, direction: 'response' })
  t.equal((m.push('Hello ') as Step).text, 'Hello ', 'text that cannot start a keyword is released at once')
  t.equal((m.push('the fo') as Step).text, 'the ', 'only the keyword prefix "fo" is held')
  t.equal(m.holding, 2)
  t.equal((m.push('rk') as Step).text, 'fork', '"fork" is no prefix of the keyword: released')
  t.equal((m.push(' forbid') as Step).text, ' ')
  const s = m.push('den!') as Step
  t.equal(s.text, '')
  t.equal(s.block?.name, 'kw')
})

t.test('redaction spans map exactly to the original text through normalization', async (t) => {
  const { policy, active } = build([{ name: 'kw', keywords: ['hate'], action: 'redact' }])
  const cases: [string, string][] = [
    ['I h\u200Bate it', 'I [REDACTED] it'],
    ['I Ｈ𝐀ţe it', 'I [REDACTED] it'],
    ['I h a t e it', 'I [REDACTED] it'],
    ['I h4t3 it', 'I [REDACTED] it'],
    ['I hа\u0301te it', 'I [REDACTED] it'],
    ['no match here', 'no match here'],
  ]
  for (const [input, expected] of cases) {
    const whole = await moderateWhole(policy, { active, direction: 'response' }, input)
    t.equal(whole.text, expected, JSON.stringify(input))
    for (let cut = 1; cut < input.length; cut++) {
      const m = new TextModerator(policy, { active, direction: 'response' })
      const r = await run(m, [input.slice(0, cut), input.slice(cut)])
      if (r.out !== expected) t.fail(`${JSON.stringify(input)} cut at ${cut}: ${JSON.stringify(r.out)}`)
    }
  }
})

t.test('the strictest action wins where rules overlap; flags only record', async (t) => {
  const { policy, active } = build([
    { name: 'flag-it', keywords: ['secret'], action: 'flag' },
    { name: 'mask-it', keywords: ['secret'], action: 'redact' },
    { name: 'stop-it', keywords: ['top secret'], action: 'block' },
  ])
  const found: string[] = []
  const opts = { active, direction: 'response' as const, onFinding: (f: Finding) => found.push(f.name) }
  t.equal((await moderateWhole(policy, opts, 'a secret')).text, 'a [REDACTED]')
  t.same(found.sort(), ['flag-it', 'mask-it'])
  t.ok((await moderateWhole(policy, opts, 'a top secret')).block, 'block beats redact')
})

t.test('shadow rules never act', async (t) => {
  const { policy, active } = build([{ name: 's', keywords: ['secret'], action: 'block', shadow: true }])
  const found: Finding[] = []
  const r = await moderateWhole(policy, { active, direction: 'response', onFinding: (f) => found.push(f) }, 'a secret')
  t.equal(r.text, 'a secret')
  t.notOk(r.block)
  t.equal(found[0]?.shadow, true)
})

t.test('inactive rules neither match nor hold', async (t) => {
  const { policy } = build([{ name: 'kw', keywords: ['forbidden'], action: 'block' }])
  const m = new TextModerator(policy, { active: new Uint8Array(1), direction: 'response' })
  t.equal((m.push('forbid') as Step).text, 'forbid')
})

t.test('obfuscation corpus split across events: detection per class', async (t) => {
  const keywords = [...new Set(OBFUSCATION_CORPUS.map((c) => c.keyword))]
  const { policy, active } = build([{ name: 'kw', keywords, action: 'block' }])
  const byClass = new Map<string, { n: number; hit: number }>()
  for (const c of OBFUSCATION_CORPUS) {
    const s = byClass.get(c.class) ?? { n: 0, hit: 0 }
    byClass.set(c.class, s)
    s.n++
    // Whole, and cut into 3 pieces at every pair of points that falls inside the text.
    let all = (await moderateWhole(policy, { active, direction: 'response' }, c.text)).block !== undefined
    const step = Math.max(1, Math.floor(c.text.length / 12))
    for (let i = 1; all && i < c.text.length; i += step) {
      for (let j = i + 1; all && j < c.text.length; j += step) {
        const m = new TextModerator(policy, { active, direction: 'response' })
        const r = await run(m, [c.text.slice(0, i), c.text.slice(i, j), c.text.slice(j)])
        if (!r.block) all = false
        // The keyword must never appear in what was released before the block.
        if (r.out.toLowerCase().includes(c.keyword.toLowerCase())) all = false
      }
    }
    if (all) s.hit++
    else t.fail(`${c.class}: ${JSON.stringify(c.text)}`)
  }
  for (const [cls, s] of byClass) t.equal(s.hit, s.n, `${cls}: ${s.hit}/${s.n} detected`)
})

class FakeClassifier implements Classifier {
  calls: string[][] = []
  constructor(
    readonly name: string,
    private readonly behave: (text: string) => Promise<ClassifierScores>,
  ) {}
  classify(texts: readonly string[]): Promise<readonly ClassifierScores[]> {
    this.calls.push([...texts])
    return Promise.all(texts.map((x) => this.behave(x)))
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('classifier port: inline windows wait for the verdict', async (t) => {
  const c = new FakeClassifier('tox', async (x) => {
    await delay(5)
    return { hate: x.includes('awful') ? 0.95 : 0.1 }
  })
  const { policy, active } = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, mode: 'inline' } }], { classifiers: new Map([['tox', c]]) })
  const m = new TextModerator(policy, { active, direction: 'response' })
  t.equal((await m.push('Nice day. ')).text, 'Nice day.', 'a scored sentence is released')
  t.equal((await m.push('You are')).text, '', 'an open sentence is held until it is scored')
  const s = await m.push(' awful. More')
  t.ok(s.block, 'the window over the threshold blocks')
  t.same(c.calls.map((x) => x.length), [1, 1])
})

t.test('classifier port: async verdicts let text flow and retract late', async (t) => {
  const c = new FakeClassifier('tox', async (x) => {
    await delay(20)
    return { hate: x.includes('awful') ? 0.95 : 0.1 }
  })
  const { policy, active } = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, mode: 'async' } }], { classifiers: new Map([['tox', c]]) })
  const m = new TextModerator(policy, { active, direction: 'response' })
  t.equal((await m.push('You are awful. ')).text, 'You are awful. ', 'async: text is not held')
  await delay(40)
  const s = await m.push('And more')
  t.ok(s.block, 'the late verdict ends the stream')
  t.equal(s.retraction, true)

  const m2 = new TextModerator(policy, { active, direction: 'response' })
  t.equal((await m2.push('So awful.')).text, 'So awful.')
  const e = await m2.end()
  t.ok(e.block && e.retraction, 'end() waits for verdicts still out, so a stream cannot finish before its verdict')
})

t.test('classifier port: timeout and failure follow onError', async (t) => {
  const slow = new FakeClassifier('slow', () => delay(200).then(() => ({ hate: 0 })))
  const broken = new FakeClassifier('broken', () => Promise.reject(new Error('model crashed')))
  const errors: string[] = []
  const metrics = { hit() {}, holdback() {}, onError: (rule: string, policy: string, reason: string) => errors.push(`${rule}:${policy}:${reason}`) }
  const ports: Ports = { classifiers: new Map<string, Classifier>([['slow', slow], ['broken', broken]]), moderationMetrics: metrics }
  const allow = build([{ name: 'a', classifier: { name: 'slow', thresholds: { hate: 0.5 }, timeoutMs: 20, onError: 'allow' } }], ports)
  const r1 = await moderateWhole(allow.policy, { active: allow.active, direction: 'response', metrics }, 'Hello.')
  t.equal(r1.text, 'Hello.')
  t.notOk(r1.block)
  const block = build([{ name: 'b', classifier: { name: 'broken', thresholds: { hate: 0.5 }, onError: 'block' } }], ports)
  const r2 = await moderateWhole(block.policy, { active: block.active, direction: 'response', metrics }, 'Hello.')
  t.ok(r2.block, 'onError: block fails closed')
  t.same(errors, ['a:allow:timeout', 'b:block:error'])
})

t.test('config errors name the rule path', async (t) => {
  const bad = (rule: unknown) => {
    try {
      build([rule])
      return 'compiled'
    } catch (e) {
      return `${(e as { path?: unknown[] }).path?.join('.')}: ${(e as Error).message}`
    }
  }
  t.match(bad({ name: 'r', regex: '(a)\\1', maxMatchLength: 4 }), /^rules\.0\.regex: .*backreference/i)
  t.match(bad({ name: 'r', regex: 'a(?=b)', maxMatchLength: 4 }), /^rules\.0\.regex: .*look/i)
  t.match(bad({ name: 'r', keywords: ['x'], when: 'principal.region ==' }), /^rules\.0\.when: /)
  t.match(bad({ name: 'r', classifier: { name: 'nope', thresholds: { x: 0.5 } } }), /^rules\.0\.classifier\.name: no classifier named "nope"/)
  t.throws(() => moderationSchema.parse({ rules: [{ name: 'r', regex: 'a' }] }), /maxMatchLength/)
  t.throws(() => moderationSchema.parse({ rules: [{ name: 'r', keywords: ['a'], pii: ['email'] }] }), /exactly one/)
})
