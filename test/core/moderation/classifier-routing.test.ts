import t from 'tap'
import { moderationSchema } from '../../../src/core/filters/moderation/schema.js'
import { compileRules } from '../../../src/core/filters/moderation/compile-rules.js'
import { moderateWhole, TextModerator, type Finding, type Step } from '../../../src/core/moderation/text-moderator.js'
import type { Classifier, ClassifierLoader, ClassifierScores, ClassifierWindowOutcome, LanguageDetectorHandle, ModerationMetricsPort, Ports } from '../../../src/core/ports.js'

// Port fakes for a unit test of the code that uses the ports; the real detector and models are
// covered in test/classifier and test/moderation.
const detector: LanguageDetectorHandle & { calls: string[] } = {
  calls: [],
  ready: () => Promise.resolve(),
  detect(text) {
    this.calls.push(text)
    if (/[а-я]/i.test(text)) return { language: 'ru', reliable: true }
    if (/\b(und|nicht|ich)\b/i.test(text)) return { language: 'de', reliable: true }
    if (text.trim().split(/\s+/).length < 3) return { language: 'pl', reliable: false }
    return { language: 'en', reliable: true }
  },
}
const loader: ClassifierLoader = {
  load: () => {
    throw new Error('not used')
  },
  languageDetector: () => detector,
}

function scorer(name: string, languages: readonly string[] | undefined, seen: string[]): Classifier {
  return {
    name,
    ...(languages ? { languages } : {}),
    classify: async (texts) => {
      seen.push(...texts)
      return texts.map((x): ClassifierScores => ({ hate: /awful|schrecklich|ужасн/.test(x) ? 0.95 : 0.01 }))
    },
  }
}

function metricsRecorder() {
  const windows: [string, string, ClassifierWindowOutcome][] = []
  const m: ModerationMetricsPort = { hit() {}, onError() {}, holdback() {}, window: (r, c, o) => windows.push([r, c, o]) }
  return { m, windows }
}

function build(rules: unknown[], ports: Ports, extra: Record<string, unknown> = {}) {
  const config = moderationSchema.parse({ rules, ...extra })
  const compiled = compileRules(config, { classifierLoader: loader, ...ports })
  return { policy: compiled.policy, active: new Uint8Array(compiled.policy.rules.length).fill(1) }
}

async function moderate(built: ReturnType<typeof build>, text: string, metrics?: ModerationMetricsPort) {
  const findings: Finding[] = []
  const step = await moderateWhole(built.policy, { active: built.active, direction: 'response', onFinding: (f) => findings.push(f), ...(metrics ? { metrics } : {}) }, text)
  return { step, findings }
}

t.test('windows in a language the model was not trained on are never scored by it, and never pass as clean', async (t) => {
  const seen: string[] = []
  const ports: Ports = { classifiers: new Map([['tox', scorer('tox', ['en'], seen)]]) }
  const built = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 } }, action: 'block' }], ports)
  const { m, windows } = metricsRecorder()
  const { step, findings } = await moderate(built, 'This is a fine answer. Ты ужасный человек, правда.', m)
  t.notOk(step.block, 'the Russian sentence is flagged, not blocked: there is no fallback')
  t.equal(seen.length, 1, 'only the English window reached the model')
  t.match(seen[0], /fine answer/)
  t.equal(findings.length, 1)
  t.match(findings[0], { name: 'tox', action: 'flag', label: 'unsupported_language' })
  t.same(windows.map((w) => w[2]), ['model', 'unsupported_language'])
  t.ok(detector.calls.some((c) => /Ты/.test(c)), 'the detector reads the original text, not the folded one (folding maps Cyrillic to Latin look-alikes)')
})

t.test('a short window the detector is unsure of stays with the model', async (t) => {
  const seen: string[] = []
  const built = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 } } }], { classifiers: new Map([['tox', scorer('tox', ['en'], seen)]]) })
  const { step } = await moderate(built, 'So awful.')
  t.equal(seen.length, 1)
  t.ok(step.block, 'scored by the model and blocked')
})

t.test('otherLanguages: keyword lists decide for that language and apply the rule’s action', async (t) => {
  const seen: string[] = []
  const built = build(
    [{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, otherLanguages: { lists: ['de-insults'] } }, action: 'block' }],
    { classifiers: new Map([['tox', scorer('tox', ['en'], seen)]]) },
    { lists: { 'de-insults': ['schrecklich'] } },
  )
  const hit = await moderate(built, 'Ich finde dich schrecklich und nicht nett.')
  t.match(hit.step.block, { name: 'tox', action: 'block', label: 'language:de' })
  t.equal(seen.length, 0, 'the model never saw the German window')
  const clean = await moderate(built, 'Ich finde dich nett und nicht dumm.')
  t.notOk(clean.step.block)
  t.same(clean.findings, [], 'checked by the list and clean: nothing to flag')
})

t.test('otherLanguages: a fallback classifier that covers the language scores it', async (t) => {
  const seenModel: string[] = []
  const seenRemote: string[] = []
  const ports: Ports = { classifiers: new Map([['tox', scorer('tox', ['en'], seenModel)], ['remote', scorer('remote', undefined, seenRemote)]]) }
  const built = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, otherLanguages: { classifier: { name: 'remote', thresholds: { hate: 0.5 } } } }, action: 'block' }], ports)
  const r = await moderate(built, 'Hello there my friend. Ich finde dich schrecklich und nicht nett.')
  t.match(r.step.block, { name: 'tox', label: 'hate' })
  t.match(r.step.text, /^Hello there my friend\./, 'the English sentence before it was released')
  t.equal(seenModel.length, 1)
  t.equal(seenRemote.length, 1)
  t.match(seenRemote[0], /schrecklich/)
})

t.test('otherLanguages: a fallback classifier that does not cover the language means flag', async (t) => {
  const seen: string[] = []
  const ports: Ports = { classifiers: new Map([['tox', scorer('tox', ['en'], seen)], ['de-only', scorer('de-only', ['de'], seen)]]) }
  const built = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, otherLanguages: { classifier: { name: 'de-only', thresholds: { hate: 0.5 } } } }, action: 'block' }], ports)
  const r = await moderate(built, 'Ты ужасный человек, правда.')
  t.notOk(r.step.block)
  t.match(r.findings, [{ action: 'flag', label: 'unsupported_language' }])
  t.equal(seen.length, 0)
})

t.test('the cascade: windows a cheaper rule already blocked never reach the model', async (t) => {
  const seen: string[] = []
  const built = build(
    [
      { name: 'kw', keywords: ['forbidden'], action: 'block' },
      { name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 } }, action: 'block' },
    ],
    { classifiers: new Map([['tox', scorer('tox', undefined, seen)]]) },
  )
  const { m, windows } = metricsRecorder()
  const m1 = new TextModerator(built.policy, { active: built.active, direction: 'response', metrics: m })
  let out = ''
  let block: Finding | undefined
  for (const piece of ['A fine first sentence. ', 'Then the forbidden word. ', 'And more text.']) {
    const s: Step = await m1.push(piece)
    out += s.text
    if (s.block) {
      block = s.block
      break
    }
  }
  if (!block) {
    const e = await m1.end()
    out += e.text
    block = e.block
  }
  t.equal(block?.name, 'kw')
  t.equal(out, 'A fine first sentence. Then the ', 'checked text before the keyword still goes out')
  t.same(seen, ['a fine first sentence.'], 'only the window before the block was scored')
  t.same(windows.map((w) => w[2]), ['model', 'cascade_blocked'])
})

t.test('languages: "any" in a declaration turns routing off; an unknown fallback is a load error', async (t) => {
  const seen: string[] = []
  t.throws(
    () => build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, otherLanguages: { classifier: { name: 'nope', thresholds: { x: 0.5 } } } } }], { classifiers: new Map([['tox', scorer('tox', ['en'], seen)]]) }),
    { message: /no classifier named "nope"/, path: ['rules', 0, 'classifier', 'otherLanguages', 'classifier', 'name'] },
  )
  t.throws(() => build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 }, otherLanguages: { lists: ['missing'] } } }], { classifiers: new Map([['tox', scorer('tox', ['en'], seen)]]) }), {
    message: /no keyword list named "missing"/,
    path: ['rules', 0, 'classifier', 'otherLanguages', 'lists', 0],
  })
  const noRouting = build([{ name: 'tox', classifier: { name: 'tox', thresholds: { hate: 0.8 } } }], { classifiers: new Map([['tox', scorer('tox', undefined, seen)]]) })
  t.notOk(noRouting.policy.languageDetector, 'a classifier without languages needs no detector')
})
