#!/usr/bin/env node
// @ts-check
// The moderation benchmark: the engine alone (MB/s per core, rescan amplification), detection
// quality (obfuscation corpus per class, PII precision/recall on presidio-synth when
// ../shared/datasets is there), and the proxy end to end in interleaved rounds: direct,
// pass-through Chaperone and moderating Chaperones, for time to first token and per-delta
// lateness at 64 concurrent streams. Writes its section of bench/RESULTS.md (between markers)
// and bench/results-moderation.json. `npm run bench` runs it after the proxy benchmark.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import { benchPolicy } from './lib/moderation-rules.js'
import { runEngineBench } from './lib/moderation-engine.js'
import { deltaBoundaries, lateness, positionTimedStream } from './lib/moderation-stream.js'
import { stopAll } from './lib/procs.js'
import { percentile } from './lib/stats.js'
import { writeSection } from './lib/sections.js'
import { startChaperone, startUpstream } from './lib/targets.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)

/** @param {string[]} argv */
function options(argv) {
  const quick = argv.includes('--quick')
  return {
    quick,
    rounds: quick ? 2 : 5,
    megabytes: quick ? 2 : 8,
    ttftStreams: quick ? 20 : 60,
    concurrency: 64,
    deltas: quick ? 40 : 80,
    paceMs: 20,
    datasets: resolve(root, '..', 'shared', 'datasets'),
  }
}

export async function runModerationBench(argv = process.argv.slice(2)) {
  const o = options(argv)
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-modbench-'))
  try {
    log('moderation 1/4 engine throughput (in process)')
    const engine = await runEngineBench(root, { megabytes: o.megabytes })
    for (const r of engine.rows) log(`  ${r.name.padEnd(38)} ${r.mbPerCpuSecond.toFixed(1)} MB/s per core, ${r.usPerDelta.toFixed(2)} µs/delta, amplification ${Number.isFinite(r.rescanAmplification) ? r.rescanAmplification.toFixed(2) : '-'}, held ${r.meanHeldCodeUnits.toFixed(1)}`)

    log('moderation 2/4 obfuscation corpus')
    const obfuscation = await obfuscationRates()
    for (const [cls, r] of Object.entries(obfuscation)) log(`  ${cls.padEnd(20)} ${r.detected}/${r.cases}`)

    log('moderation 3/4 PII quality (presidio-synth)')
    const pii = await piiQualityIfPresent(o.datasets)
    if (pii) for (const [type, r] of Object.entries(pii.perType)) log(`  ${type.padEnd(14)} precision ${r.precision.toFixed(3)} recall ${r.recall.toFixed(3)}`)
    else log('  dataset not found: skipped')

    log('moderation 4/4 end to end, interleaved')
    const e2e = await endToEnd(o, tmp)
    const run = { date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), options: { ...o, datasets: undefined }, engine, obfuscation, pii, e2e }
    writeFileSync(join(root, 'bench', 'results-moderation.json'), JSON.stringify(run, null, 2) + '\n')
    const md = renderModeration(run)
    const file = join(root, 'bench', 'RESULTS.md')
    writeSection(file, 'moderation', md)
    log(`\nwrote the moderation section of ${file} and results-moderation.json`)
    return run
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** The obfuscation corpus is a TypeScript test fixture: transpiled here, never copied. */
async function obfuscationRates() {
  const ts = (await import('typescript')).default
  const src = readFileSync(join(root, 'test', 'fixtures', 'obfuscation-corpus.ts'), 'utf8')
  const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  const file = join(os.tmpdir(), `obfuscation-corpus-${process.pid}.mjs`)
  writeFileSync(file, js)
  const { OBFUSCATION_CASES } = await import(pathToFileURL(file).href)
  rmSync(file)
  const dist = (/** @type {string} */ p) => pathToFileURL(join(root, 'dist', p)).href
  const { moderationSchema } = await import(dist('core/filters/moderation/schema.js'))
  const { compileRules } = await import(dist('core/filters/moderation/compile-rules.js'))
  const { TextModerator } = await import(dist('core/moderation/text-moderator.js'))
  const keywords = [...new Set(OBFUSCATION_CASES.map((/** @type {any} */ c) => c.keyword))]
  const { policy } = compileRules(moderationSchema.parse({ rules: [{ name: 'kw', keywords, action: 'block' }] }), {})
  const active = new Uint8Array(1).fill(1)
  /** @type {Record<string, { cases: number, detected: number }>} */
  const out = {}
  for (const c of OBFUSCATION_CASES) {
    const r = (out[c.class] ??= { cases: 0, detected: 0 })
    r.cases++
    // Every 3-way split of the sentence: detected only if every split blocks before the keyword leaks.
    let ok = true
    for (let i = 1; ok && i < c.text.length; i++) {
      for (let j = i + 1; ok && j < c.text.length; j++) {
        const m = new TextModerator(policy, { active, direction: 'response' })
        let blocked = false
        for (const piece of [c.text.slice(0, i), c.text.slice(i, j), c.text.slice(j)]) {
          if (m.push(piece).block) {
            blocked = true
            break
          }
        }
        if (!blocked && !m.end().block) ok = false
      }
    }
    if (ok) r.detected++
  }
  return out
}

/** @param {string} datasets */
async function piiQualityIfPresent(datasets) {
  const dir = join(datasets, 'presidio-synth')
  if (!existsSync(dir)) return undefined
  const { piiQuality } = await import('./pii-quality.js')
  return piiQuality(dir)
}

/** @param {ReturnType<typeof options>} o @param {string} tmp */
async function endToEnd(o, tmp) {
  const bin = join(root, 'dist', 'cli.js')
  const upstream = await startUpstream(root, tmp)
  const targets = [
    upstream.target,
    (await startChaperone(bin, tmp, upstream.port)).target,
    (await startChaperone(bin, tmp, upstream.port, { name: 'moderated', files: { 'moderation.yaml': benchPolicy() } })).target,
    (await startChaperone(bin, tmp, upstream.port, { name: 'moderated-no-tokens', files: { 'moderation.yaml': noTokenPolicy() } })).target,
  ]
  // The text every target streams, and where each delta ends in it.
  const reference = await positionTimedStream(new Pool(upstream.target.origin, { connections: 1 }), { deltas: o.deltas, paceMs: 0, timeoutMs: 30_000 })
  const deltaEnds = await deltaBoundaries(upstream.target.origin, o.deltas)
  /** @type {Record<string, Samples>} */
  const acc = Object.fromEntries(targets.map((t) => [t.name, { ttft: [], first: [], late: [], errors: 0, textMismatch: 0 }]))
  for (const t of targets) await runRound(t.origin, { ...o, rounds: 1, ttftStreams: 5 }, deltaEnds, reference.text, { ttft: [], first: [], late: [], errors: 0, textMismatch: 0 })
  for (let round = 1; round <= o.rounds; round++) {
    for (const t of targets) {
      const a = acc[t.name]
      await runRound(t.origin, o, deltaEnds, reference.text, a)
      log(`  round ${round}/${o.rounds} ${t.name.padEnd(20)} TTFT p50 ${percentile(a.ttft, 50).toFixed(3)} ms, lateness p99 ${percentile(a.late, 99).toFixed(3)} ms${a.errors ? `, ${a.errors} errors` : ''}`)
    }
  }
  /** @type {Record<string, Record<string, number>>} */
  const summary = {}
  for (const t of targets) {
    const a = acc[t.name]
    summary[t.name] = {
      ttftP50Ms: percentile(a.ttft, 50),
      ttftP99Ms: percentile(a.ttft, 99),
      firstDeltaP50Ms: percentile(a.first, 50),
      firstDeltaP99Ms: percentile(a.first, 99),
      latenessP50Ms: percentile(a.late, 50),
      latenessP99Ms: percentile(a.late, 99),
      samples: a.late.length,
      errors: a.errors,
      textMismatch: a.textMismatch,
    }
  }
  return { targets: targets.map((t) => t.name), summary, deltas: o.deltas, paceMs: o.paceMs, concurrency: o.concurrency }
}

/** @typedef {{ ttft: number[], first: number[], late: number[], errors: number, textMismatch: number }} Samples */

/** The bench rules without the detectors that must hold every word (e-mail, JWT, keys, IPv6, IBAN). */
function noTokenPolicy() {
  return benchPolicy().replace(/pii: \[[^\]]*\]/, 'pii: [phone, credit_card, us_ssn, br_cpf, br_cnpj, ipv4, mrn]')
}

/**
 * One round for one target: sequential two-delta streams for TTFT, then `concurrency` paced
 * streams together, opened over one pace interval, for per-delta lateness.
 * @param {string} origin @param {ReturnType<typeof options>} o @param {number[]} deltaEnds @param {string} text
 * @param {Samples} a
 */
async function runRound(origin, o, deltaEnds, text, a) {
  const one = new Pool(origin, { connections: 1 })
  for (let i = 0; i < o.ttftStreams; i++) {
    const r = await positionTimedStream(one, { deltas: 2, paceMs: o.paceMs, timeoutMs: 30_000 })
    if (r.ok) a.ttft.push(r.ttftMs)
    else a.errors++
  }
  await one.close()
  const many = new Pool(origin, { connections: o.concurrency })
  const results = await Promise.all(
    Array.from({ length: o.concurrency }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * o.paceMs) / o.concurrency))
      return positionTimedStream(many, { deltas: o.deltas, paceMs: o.paceMs, timeoutMs: o.deltas * o.paceMs * 3 + 10_000 })
    }),
  )
  await many.close()
  for (const r of results) {
    if (!r.ok) {
      a.errors++
      continue
    }
    if (r.text !== text) a.textMismatch++
    // Two views of one stream. `first`: when the text through the first delta was complete, from
    // the request; a hold that delays every delta alike shows here. `late`: each later delta's
    // delay relative to that, the per-event cost on top (the chatbot's own timer drift, which
    // grows with the machine's load, cancels out).
    const late = lateness(r.arrivals, deltaEnds, o.paceMs)
    if (late.length === 0) continue
    a.first.push(late[0])
    for (const l of late) a.late.push(l - late[0])
  }
}

/** @param {any} run */
function renderModeration(run) {
  const f = (/** @type {number} */ x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–')
  const lines = []
  lines.push('## Moderation', '', `Run ${run.date}${run.options.quick ? ' (quick)' : ''}. Regenerate with \`npm run bench\` (or only this section: \`node bench/moderation.js\`).`, '')
  lines.push('### Engine throughput', '')
  lines.push(
    `The engine alone in one process: ${(run.engine.bytes / 1024 / 1024).toFixed(1)} MB of answers (${run.engine.streams} streams of ~4 KB, common English words with PII and regex matches sprinkled in), pushed as ${run.engine.deltas} LLM-like deltas of ${f(run.engine.meanDeltaChars, 1)} characters on average. MB/s is per CPU-second, i.e. per core. Target: ≥ 20 MB/s with 1,000 keywords, 50 regex rules and all PII detectors, rescan amplification ≤ 1.5×.`,
    '',
    '| rules | MB/s per core | µs per delta | mean delta (chars) | regex rescan amplification | mean text held (code units) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  )
  for (const r of run.engine.rows) lines.push(`| ${r.name} | ${f(r.mbPerCpuSecond, 1)} | ${f(r.usPerDelta)} | ${f(r.meanDeltaChars, 1)} | ${Number.isFinite(r.rescanAmplification) && r.rescanAmplification > 0 ? f(r.rescanAmplification) + '×' : '–'} | ${f(r.meanHeldCodeUnits, 1)} |`)
  lines.push('', '### Detection quality', '', 'Obfuscation corpus (`test/fixtures/obfuscation-corpus.ts`), keyword rules, each sentence split into three events at every pair of points; a case counts as detected only if every split blocks. Target 100 % per class.', '', '| class | detected |', '| --- | ---: |')
  for (const [cls, r] of Object.entries(run.obfuscation)) lines.push(`| ${cls} | ${/** @type {any} */ (r).detected}/${/** @type {any} */ (r).cases} (${f((100 * /** @type {any} */ (r).detected) / /** @type {any} */ (r).cases, 0)} %) |`)
  if (run.pii) {
    lines.push('', `PII detectors on \`presidio-synth\` (${run.pii.sentences} sentences, pushed in random 1–8 character pieces; a gold span is found when a detected span of its type overlaps it). Target ≥ 0.95 precision and recall per type; tuned Presidio reaches 0.87 / 0.84 overall.`, '', '| type | TP | FP | FN | precision | recall |', '| --- | ---: | ---: | ---: | ---: | ---: |')
    for (const [type, r] of Object.entries(run.pii.perType)) lines.push(`| ${type} | ${/** @type {any} */ (r).tp} | ${/** @type {any} */ (r).fp} | ${/** @type {any} */ (r).fn} | ${f(/** @type {any} */ (r).precision, 3)} | ${f(/** @type {any} */ (r).recall, 3)} |`)
  } else lines.push('', 'PII quality: `../shared/datasets/presidio-synth` not found, skipped.')
  const e = run.e2e
  const s = e.summary
  lines.push(
    '',
    '### End to end',
    '',
    `Interleaved rounds, same machine: the demo chatbot directly, Chaperone pass-through, Chaperone with the full bench rules (\`moderated\`), and with the rules minus the detectors that must hold every word until the next delta (e-mail, JWT, API keys, IPv6, IBAN: \`moderated-no-tokens\`). TTFT: time to the first content character, two-delta streams one at a time. Then ${e.concurrency} concurrent streams of ${e.deltas} deltas ${e.paceMs} ms apart: *first delta* is when the client had the whole text of the first delta, from the request (a word held until the next delta shows here); *later deltas* is how much later each following delta's text was complete than the first delta's plus its schedule (the per-event cost on top).`,
    '',
    '| target | TTFT p50 | TTFT p99 | first delta p50 | first delta p99 | later deltas p50 | later deltas p99 | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  )
  for (const name of e.targets) lines.push(`| ${name} | ${f(s[name].ttftP50Ms, 3)} ms | ${f(s[name].ttftP99Ms, 3)} ms | ${f(s[name].firstDeltaP50Ms, 3)} ms | ${f(s[name].firstDeltaP99Ms, 3)} ms | ${f(s[name].latenessP50Ms, 3)} ms | ${f(s[name].latenessP99Ms, 3)} ms | ${s[name].errors + s[name].textMismatch} |`)
  const pass = s.chaperone
  const checks = []
  const full = run.engine.rows[0]
  checks.push(['engine MB/s per core, full rules', full.mbPerCpuSecond, '≥ 20', full.mbPerCpuSecond >= 20])
  checks.push(['regex rescan amplification', full.rescanAmplification, '≤ 1.5', full.rescanAmplification <= 1.5])
  for (const name of ['moderated', 'moderated-no-tokens']) {
    const m = s[name]
    checks.push([`added TTFT p50 vs pass-through (${name})`, m.ttftP50Ms - pass.ttftP50Ms, '≤ 0.5 ms', m.ttftP50Ms - pass.ttftP50Ms <= 0.5])
    checks.push([`added per-delta latency p99 at ${e.concurrency} streams vs pass-through, later deltas (${name})`, m.latenessP99Ms - pass.latenessP99Ms, '≤ 1 ms', m.latenessP99Ms - pass.latenessP99Ms <= 1])
    checks.push([`added delay until the first delta is complete, p50 (${name})`, m.firstDeltaP50Ms - pass.firstDeltaP50Ms, '≤ 1 ms', m.firstDeltaP50Ms - pass.firstDeltaP50Ms <= 1])
  }
  const obfAll = Object.values(run.obfuscation).every((/** @type {any} */ r) => r.detected === r.cases)
  checks.push(['obfuscation corpus, every class', obfAll ? 100 : 0, '100 %', obfAll])
  if (run.pii) {
    const worst = Math.min(...Object.values(run.pii.perType).flatMap((/** @type {any} */ r) => [r.precision, r.recall]))
    checks.push(['PII precision and recall, worst type', worst, '≥ 0.95', worst >= 0.95])
  }
  lines.push('', '| target | value | limit | verdict |', '| --- | ---: | ---: | --- |')
  for (const [name, v, lim, ok] of checks) lines.push(`| ${name} | ${f(/** @type {number} */ (v), 3)} | ${lim} | ${ok ? 'PASS' : '**MISS**'} |`)
  return lines.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runModerationBench().catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  })
}

