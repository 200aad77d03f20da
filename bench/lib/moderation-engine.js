// @ts-check
// The moderation engine alone, in this process: text deltas in, released text out, with the
// bench rule set. Reports MB/s of text per CPU-second (one core), regex rescan amplification and
// how much text is held back.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { benchPolicy, pseudoWords } from './moderation-rules.js'
import { prng } from './prng.js'

const PROSE = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should America world'
).split(' ')

const PII_SAMPLES = [
  'mail jane.doe@example.com today',
  'call (555) 201-4477 now',
  'card 4111 1111 1111 1111 ok',
  'IBAN DE89 3704 0044 0532 0130 00 paid',
  'SSN 123-45-6789 noted',
  'ticket ACME-123456 closed',
  'see build-7.corp.example.com logs',
  'about Project Falcon soon',
  'host 10.20.30.40 up',
  'key AKIAIOSFODNN7EXAMPLE leaked',
]

/**
 * Answers of about `answerBytes` each: common words, with PII and regex matches sprinkled in
 * (one per ~400 bytes) and none of the banned words, so that streams run to the end.
 * @param {number} totalBytes @param {number} answerBytes @param {Set<string>} banned
 */
export function corpus(totalBytes, answerBytes, banned) {
  const rnd = prng(11)
  const words = PROSE.filter((w) => !banned.has(w.toLowerCase()))
  /** @type {string[]} */
  const answers = []
  let total = 0
  while (total < totalBytes) {
    let a = ''
    while (a.length < answerBytes) {
      if (rnd() < 0.012) a += PII_SAMPLES[Math.floor(rnd() * PII_SAMPLES.length)] + ' '
      else a += words[Math.floor(rnd() * words.length)] + (rnd() < 0.08 ? '. ' : ' ')
    }
    answers.push(a)
    total += a.length
  }
  return answers
}

/** LLM-like deltas: a word with its leading space, long words cut in two (about 4–6 chars each). @param {string} text */
export function tokenize(text) {
  /** @type {string[]} */
  const out = []
  const re = /\s*\S+/g
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const w = m[0]
    if (w.length > 8) out.push(w.slice(0, Math.ceil(w.length / 2)), w.slice(Math.ceil(w.length / 2)))
    else out.push(w)
  }
  return out
}

/**
 * @param {string} root repository root (imports the compiled engine from dist/)
 * @param {{ megabytes: number }} o
 */
export async function runEngineBench(root, o) {
  const dist = (/** @type {string} */ p) => pathToFileURL(join(root, 'dist', p)).href
  const { moderationSchema } = await import(dist('core/filters/moderation/schema.js'))
  const { compileRules } = await import(dist('core/filters/moderation/compile-rules.js'))
  const { TextModerator } = await import(dist('core/moderation/text-moderator.js'))
  const { rescanAmplification, resetRegexStats } = await import(dist('core/moderation/regex/index.js'))

  const banned = new Set(pseudoWords(1000))
  const answers = corpus(o.megabytes * 1024 * 1024, 4096, banned)
  const streams = answers.map(tokenize)
  // The same answers in 64-character deltas: how much of the cost is per push, not per byte.
  const coarse = answers.map((a) => a.match(/[\s\S]{1,64}/g) ?? [])
  const bytes = answers.reduce((s, a) => s + Buffer.byteLength(a), 0)
  const deltaCount = streams.reduce((s, d) => s + d.length, 0)

  /** @param {string} name @param {Record<string, unknown>} policyOpts @param {string[][]} [input] */
  const measure = (name, policyOpts, input = streams) => {
    const pieces = input.reduce((s, d) => s + d.length, 0)
    const doc = parseYaml(benchPolicy(/** @type {any} */ (policyOpts)))
    const config = moderationSchema.parse(doc.spec.moderation)
    const compiled = compileRules(config, {})
    const active = new Uint8Array(compiled.policy.rules.length).fill(1)
    const opts = { active, direction: 'response' }
    // One untimed pass for the JIT, then the timed one.
    for (let pass = 0; pass < 2; pass++) {
      resetRegexStats()
      let released = 0
      let held = 0
      let heldSamples = 0
      let blocked = 0
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      for (const deltas of input) {
        const m = new TextModerator(compiled.policy, opts)
        for (const d of deltas) {
          const s = m.push(d)
          released += s.text.length
          if (s.block) {
            blocked++
            break
          }
          held += m.holding
          heldSamples++
        }
        released += m.end().text.length
      }
      const cpu = process.cpuUsage(cpu0)
      const cpuSeconds = (cpu.user + cpu.system) / 1e6
      const wallSeconds = (performance.now() - t0) / 1000
      if (pass === 1) {
        return {
          name,
          mbPerCpuSecond: bytes / 1024 / 1024 / cpuSeconds,
          mbPerWallSecond: bytes / 1024 / 1024 / wallSeconds,
          usPerDelta: (cpuSeconds * 1e6) / pieces,
          meanDeltaChars: bytes / pieces,
          meanHeldCodeUnits: held / Math.max(1, heldSamples),
          rescanAmplification: rescanAmplification(),
          blockedStreams: blocked,
          releasedRatio: released / answers.reduce((s, a) => s + a.length, 0),
        }
      }
    }
    throw new Error('unreachable')
  }

  // The first configuration measured pays for compiling the engine's code: warm it up apart.
  measure('warm-up', {})
  const rows = [
    measure('1,000 keywords + 50 regex + all PII', {}),
    measure('1,000 keywords only', { regexes: false, pii: false }),
    measure('50 regex only', { keywords: 0, pii: false }),
    measure('all PII only', { keywords: 0, regexes: false }),
    measure('normalizer only (no rules match)', { keywords: 1, regexes: false, pii: false }),
    measure('1,000 keywords + 50 regex + all PII, 64-char deltas', {}, coarse),
  ]
  return { bytes, streams: streams.length, deltas: deltaCount, meanDeltaChars: bytes / deltaCount, rows }
}
