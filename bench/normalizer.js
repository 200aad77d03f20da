#!/usr/bin/env node
// @ts-check
// Throughput of the incremental normalizer alone: ~5 MB of English prose pushed in 4-character
// pieces (LLM-sized deltas), both views trimmed after every push as the moderation engine does.
// Timed in process CPU seconds (a busy machine stretches wall time, not CPU time), median and
// best of several runs, next to a plain charCodeAt loop over the same text for scale.
// Needs `npx tsc -p tsconfig.build.json` first (imports from dist/). Reads prose from
// ../shared/datasets when present, else generates it, so it runs in any clone.
//   node bench/normalizer.js [--mb 5] [--piece 4] [--runs 5]
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNormalizer } from '../dist/core/moderation/normalize/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: { mb: { type: 'string', default: '5' }, piece: { type: 'string', default: '4' }, runs: { type: 'string', default: '5' } },
})
const targetBytes = Number(values.mb) * 1e6
const piece = Number(values.piece)
const runs = Number(values.runs)

/** @returns {{ source: string, text: string }} */
function prose() {
  const datasets = resolve(root, '..', 'shared', 'datasets')
  const parts = []
  const presidio = join(datasets, 'presidio-synth', 'synth_dataset_v2.json')
  if (existsSync(presidio)) for (const r of JSON.parse(readFileSync(presidio, 'utf8'))) parts.push(r.full_text)
  const deepset = join(datasets, 'prompt-injections-deepset', 'train.jsonl')
  if (existsSync(deepset)) {
    for (const line of readFileSync(deepset, 'utf8').split('\n')) if (line.trim() !== '') parts.push(JSON.parse(line).text)
  }
  let source = 'presidio-synth + prompt-injections-deepset sentences'
  if (parts.length === 0) {
    source = 'generated sentences (datasets not found)'
    const words = 'the of and to a in is it you that he was for on are with as I his they be at one have this from or had by hot word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find'.split(' ')
    let seed = 1
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
    for (let i = 0; i < 2000; i++) {
      const n = 6 + Math.floor(rand() * 14)
      const s = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ')
      parts.push(s[0].toUpperCase() + s.slice(1) + (rand() < 0.2 ? '?' : '.'))
    }
  }
  const block = parts.join(' ')
  let text = ''
  while (Buffer.byteLength(text) < targetBytes) text += block + '\n\n'
  return { source, text }
}

/** The same prose with every 7th vowel written as a look-alike or with an accent: the non-ASCII path. */
function obfuscate(/** @type {string} */ text) {
  const swap = { a: '\u0430', e: '\u00E9', o: '\u03BF', i: 'i\u0301', u: '\u028B' }
  let n = 0
  return text.replace(/[aeiou]/g, (v) => (++n % 7 === 0 ? swap[/** @type {keyof typeof swap} */ (v)] : v))
}

const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** @param {string} text @param {boolean} decodeBase64 */
function normalizeOnce(text, decodeBase64) {
  const n = createNormalizer({ decodeBase64 })
  const t0 = cpu()
  for (let i = 0; i < text.length; i += piece) {
    n.push(text.slice(i, i + piece))
    n.literal.trim(n.literal.length)
    n.folded.trim(n.folded.length)
  }
  n.end()
  return cpu() - t0
}

/** @param {string} text */
function scanOnce(text) {
  const t0 = cpu()
  let x = 0
  for (let i = 0; i < text.length; i++) x = (x + text.charCodeAt(i)) | 0
  if (x === 42) console.log('')
  return cpu() - t0
}

/** @param {string} label @param {string} text @param {() => number} once */
function report(label, text, once) {
  once()
  const secs = []
  for (let r = 0; r < runs; r++) secs.push(once())
  secs.sort((a, b) => a - b)
  const mb = Buffer.byteLength(text) / 1e6
  const median = secs[Math.floor(secs.length / 2)]
  console.log(`${label}: median ${(mb / median).toFixed(1)} MB/s, best ${(mb / secs[0]).toFixed(1)} MB/s (CPU time, ${runs} runs)`)
}

const { source, text } = prose()
const mixed = obfuscate(text)
console.log(`input: ${(Buffer.byteLength(text) / 1e6).toFixed(2)} MB of ${source}, ${piece}-character pieces; node ${process.version}`)
report('baseline charCodeAt loop', text, () => scanOnce(text))
report('normalizer, ASCII prose', text, () => normalizeOnce(text, false))
report('normalizer, ASCII prose, decodeBase64', text, () => normalizeOnce(text, true))
report('normalizer, prose with 1 in 7 vowels look-alike or accented', mixed, () => normalizeOnce(mixed, false))
