#!/usr/bin/env node
// @ts-check
// PII detector quality on the Presidio synthetic set, and detector throughput on streamed prose.
//
//   npx tsc -p tsconfig.build.json && node bench/pii-quality.js [--verbose] [--dataset DIR]
//
// Reads the compiled detectors from dist/ (or from $CHAPERONE_DIST when the build goes to another
// outDir). The datasets are read from ../shared/datasets/ and never copied into the repository.
//
// Matching rule, per entity type T (spans are [start, end) UTF-16 offsets in the sentence):
//   - a gold span of type T is a true positive when at least one detected span of the detector
//     types mapped to T overlaps it by one character or more, otherwise a false negative;
//   - a detected span is a false positive when it overlaps no gold span of type T (a phone
//     found inside a street address counts against PHONE_NUMBER);
//   - precision = tp / (tp + fp), recall = tp / (tp + fn).
// Several detected spans on one gold span count once as tp and never as fp. `exact` counts the
// true positives whose detected span has exactly the gold boundaries (informative only).
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { prng } from './lib/prng.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DEFAULT_DATASETS = resolve(root, '..', 'shared', 'datasets')

/** Dataset entity type → the detector types whose hits count for it. */
export const ENTITY_TYPES = /** @type {const} */ ({
  CREDIT_CARD: ['credit_card'],
  EMAIL_ADDRESS: ['email'],
  PHONE_NUMBER: ['phone'],
  IBAN_CODE: ['iban'],
  US_SSN: ['us_ssn'],
  IP_ADDRESS: ['ipv4', 'ipv6'],
})

async function loadDetectors() {
  const dist = process.env.CHAPERONE_DIST ?? join(root, 'dist')
  const pii = await import(pathToFileURL(join(dist, 'core/moderation/pii/index.js')).href)
  const vb = await import(pathToFileURL(join(dist, 'core/moderation/view-buffer.js')).href)
  return { compilePii: pii.compilePii, PII_TYPES: pii.PII_TYPES, ViewBuffer: vb.ViewBuffer }
}


/**
 * Streams `text` through one scanner in pieces of `pieceLength()` code units, trimming the view to
 * the hold point after every push as the hold-back stream does. The view holds the text as is
 * (the literal view of this ASCII-and-Latin text is the text), so hit offsets are text offsets.
 * @returns {{ id: number, start: number, end: number }[]}
 */
function stream(matcher, ViewBuffer, text, pieceLength) {
  const view = new ViewBuffer()
  const scanner = matcher.scanner()
  /** @type {{ id: number, start: number, end: number }[]} */
  const hits = []
  for (let at = 0; at < text.length; ) {
    const n = Math.min(text.length - at, pieceLength())
    view.append(text.slice(at, at + n), at, at + n)
    at += n
    scanner.scan(view, false, hits)
    view.trim(scanner.holdFrom())
  }
  scanner.scan(view, true, hits)
  return hits
}

/**
 * @param {string} [datasetDir] the presidio-synth directory
 * @param {{ seed?: number, verbose?: (line: string) => void }} [opts]
 */
export async function piiQuality(datasetDir = join(DEFAULT_DATASETS, 'presidio-synth'), opts = {}) {
  const { compilePii, ViewBuffer } = await loadDetectors()
  /** @type {{ full_text: string, spans: { entity_type: string, start_position: number, end_position: number }[] }[]} */
  const data = JSON.parse(readFileSync(join(datasetDir, 'synth_dataset_v2.json'), 'utf8'))
  const types = [...new Set(Object.values(ENTITY_TYPES).flat())]
  const matcher = compilePii(types)
  const random = prng(opts.seed ?? 1)
  const piece = () => 1 + Math.floor(random() * 8)
  /** @type {Record<string, { tp: number, fp: number, fn: number, precision: number, recall: number, exact: number }>} */
  const perType = {}
  for (const t of Object.keys(ENTITY_TYPES)) perType[t] = { tp: 0, fp: 0, fn: 0, precision: 0, recall: 0, exact: 0 }

  for (const s of data) {
    const hits = stream(matcher, ViewBuffer, s.full_text, piece)
    for (const [entity, detectorTypes] of Object.entries(ENTITY_TYPES)) {
      const gold = s.spans.filter((g) => g.entity_type === entity)
      const found = hits.filter((h) => detectorTypes.includes(types[h.id]))
      const overlaps = (a, b) => a.start_position < b.end && b.start < a.end_position
      const r = perType[entity]
      for (const g of gold) {
        if (found.some((h) => overlaps(g, h))) {
          r.tp++
          if (found.some((h) => h.start === g.start_position && h.end === g.end_position)) r.exact++
        } else {
          r.fn++
          const span = JSON.stringify(s.full_text.slice(g.start_position, g.end_position))
          opts.verbose?.(`miss  ${entity} ${span} in ${JSON.stringify(s.full_text)}`)
        }
      }
      for (const h of found) {
        if (!gold.some((g) => overlaps(g, h))) {
          r.fp++
          const span = JSON.stringify(s.full_text.slice(h.start, h.end))
          opts.verbose?.(`false ${entity} ${span} in ${JSON.stringify(s.full_text)}`)
        }
      }
    }
  }
  for (const r of Object.values(perType)) {
    r.precision = r.tp + r.fp === 0 ? 1 : r.tp / (r.tp + r.fp)
    r.recall = r.tp + r.fn === 0 ? 1 : r.tp / (r.tp + r.fn)
  }
  return { perType, sentences: data.length }
}

/** A scanner that finds nothing and holds nothing: the cost of the pushes themselves. */
const NULL_MATCHER = {
  view: 'literal',
  scanner: () => {
    let pos = 0
    return {
      scan(view) {
        pos = view.length
      },
      holdFrom: () => pos,
    }
  },
}

/** CPU seconds (user + system) spent in f: steadier than wall time on a shared machine. */
function cpuSeconds(f) {
  const t0 = process.cpuUsage()
  const r = f()
  const u = process.cpuUsage(t0)
  return { seconds: (u.user + u.system) / 1e6, result: r }
}

/**
 * Throughput of every detector together: about `megabytes` MB of prose (the deepset prompts) with
 * a Presidio sentence full of PII after every fifth prompt, pushed `piece` code units at a time
 * into a view trimmed to the hold point after each push. The same pushes through a scanner that
 * does nothing give the harness's own cost (appending to and trimming the view), which is
 * subtracted for the detectors' own throughput. Best of `rounds`, in CPU time.
 * @param {{ megabytes?: number, piece?: number, datasets?: string, rounds?: number }} [opts]
 */
export async function piiThroughput(opts = {}) {
  const { compilePii, PII_TYPES, ViewBuffer } = await loadDetectors()
  const datasets = opts.datasets ?? DEFAULT_DATASETS
  const prose = readFileSync(join(datasets, 'prompt-injections-deepset', 'train.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l).text)
  const pii = JSON.parse(readFileSync(join(datasets, 'presidio-synth', 'synth_dataset_v2.json'), 'utf8')).map(
    (s) => s.full_text,
  )
  const target = (opts.megabytes ?? 5) * 1e6
  const parts = []
  let size = 0
  for (let i = 0; size < target; i++) {
    const p = prose[i % prose.length] + '\n\n'
    parts.push(p)
    size += p.length
    if (i % 5 === 4) {
      const s = pii[(i / 5) % pii.length | 0] + '\n\n'
      parts.push(s)
      size += s.length
    }
  }
  const text = parts.join('')
  const matcher = compilePii(PII_TYPES)
  const piece = opts.piece ?? 4
  const rounds = opts.rounds ?? 5
  let withDetectors = Infinity
  let harness = Infinity
  let hits = 0
  for (let r = 0; r < rounds; r++) {
    const a = cpuSeconds(() => stream(matcher, ViewBuffer, text, () => piece))
    hits = a.result.length
    withDetectors = Math.min(withDetectors, a.seconds)
    harness = Math.min(harness, cpuSeconds(() => stream(NULL_MATCHER, ViewBuffer, text, () => piece)).seconds)
  }
  const mb = text.length / 1e6
  return {
    bytes: text.length,
    piece,
    hits,
    seconds: withDetectors,
    harnessSeconds: harness,
    /** Pushes, view and detectors together. */
    mbPerSecond: mb / withDetectors,
    /** The detectors alone. */
    detectorMbPerSecond: mb / Math.max(1e-9, withDetectors - harness),
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      verbose: { type: 'boolean', default: false },
      dataset: { type: 'string' },
      'no-throughput': { type: 'boolean', default: false },
    },
  })
  const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
  const q = await piiQuality(values.dataset, values.verbose ? { verbose: log } : {})
  log(`PII quality on ${q.sentences} sentences (presidio-synth), streamed in random 1–8 char pieces`)
  const row = (/** @type {(string | number)[]} */ cells) =>
    log(cells.map((c, i) => (i === 0 ? String(c).padEnd(14) : String(c).padStart([4, 4, 4, 10, 7, 12][i - 1] ?? 0))).join(' '))
  row(['type', 'tp', 'fp', 'fn', 'precision', 'recall', 'exact spans'])
  let tp = 0
  let fp = 0
  let fn = 0
  for (const [t, r] of Object.entries(q.perType)) {
    tp += r.tp
    fp += r.fp
    fn += r.fn
    row([t, r.tp, r.fp, r.fn, r.precision.toFixed(3), r.recall.toFixed(3), r.exact])
  }
  row(['all', tp, fp, fn, (tp / (tp + fp)).toFixed(3), (tp / (tp + fn)).toFixed(3)])
  if (values['no-throughput']) return
  const t = await piiThroughput()
  const mb = (t.bytes / 1e6).toFixed(1)
  log(`\nthroughput, all PII types, ${mb} MB in ${t.piece}-char pushes (best of 5 rounds, CPU time, ${t.hits} hits):`)
  log(`  detectors alone:                            ${t.detectorMbPerSecond.toFixed(1)} MB/s`)
  log(`  with pushing into and trimming the view:    ${t.mbPerSecond.toFixed(1)} MB/s`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`)
    process.exit(1)
  })
}
