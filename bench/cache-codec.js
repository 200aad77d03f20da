#!/usr/bin/env node
// @ts-check
// Cache entry codec: which compression the shared tier (Redis) should use. For realistic
// OpenAI chat SSE bodies of ~1 KB, ~100 KB and ~1 MB and a non-streaming JSON answer, it encodes
// and decodes whole entries through the codec (JSON head, copy, CRC-32 and the async zlib call
// the codec makes) with gzip levels 1/6 and brotli qualities 1/2/3/4/5/11, one operation at a time,
// and reports the stored size and the encode and decode latency. Prints a markdown table and
// writes bench/results-cache-codec.json. Needs `npm run build` first.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { prng } from './lib/prng.js'
import { percentile } from './lib/stats.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const quick = process.argv.includes('--quick')
/** Per body and setting: stop at maxSamples or once the budget is spent (but take minSamples). */
const o = { budgetMs: quick ? 400 : 3000, minSamples: quick ? 3 : 5, maxSamples: quick ? 50 : 300, warmup: 3 }

const { encodeEntry, decodeEntry, DEFAULT_COMPRESSION } = await import(join(root, 'dist/io/cache/codec.js'))

const SETTINGS = /** @type {const} */ ([
  { algorithm: 'gzip', level: 1 },
  { algorithm: 'gzip', level: 6 },
  { algorithm: 'brotli', level: 1 },
  { algorithm: 'brotli', level: 2 },
  { algorithm: 'brotli', level: 3 },
  { algorithm: 'brotli', level: 4 },
  { algorithm: 'brotli', level: 5 },
  { algorithm: 'brotli', level: 11 },
])

// A fixed vocabulary of the words and punctuation an assistant answer is made of.
const VOCAB = (
  'the a an of to and in is that for it as with on this be are by you your can or from at which ' +
  'will not have more data model answer question results table value using each example first ' +
  'however because should would could between within report customer order revenue quarter ' +
  'region product category sales growth average total number percent increase decrease compared ' +
  'previous year month week analysis query schema column index join filter group count sum ' +
  'function return error request response cache stream token latency throughput service ' +
  'Here Note First Second Finally In summary, . , ; : ( ) - ** ` 1. 2. 3. 42 2024 3.5 %'
)
  .split(' ')
  .concat(['\n', '\n\n', 'café', '→'])

const HEADERS = [
  'content-type', 'text/event-stream; charset=utf-8',
  'date', 'Wed, 01 Jan 2025 00:00:00 GMT',
  'openai-organization', 'org-benchmark',
  'openai-processing-ms', '412',
  'openai-version', '2020-10-01',
  'x-ratelimit-limit-requests', '10000',
  'x-ratelimit-remaining-requests', '9999',
  'x-ratelimit-reset-requests', '6ms',
  'x-request-id', 'req_0123456789abcdef0123456789abcdef',
  'cf-cache-status', 'DYNAMIC',
  'server', 'cloudflare',
]

/** @param {() => number} rnd @param {number} min @param {number} max */
const words = (rnd, min, max) => {
  const n = min + Math.floor(rnd() * (max - min + 1))
  let s = ''
  for (let i = 0; i < n; i++) s += (i === 0 && rnd() < 0.5 ? '' : ' ') + VOCAB[Math.floor(rnd() * VOCAB.length)]
  return s
}

/** @param {string} key @param {string} contentType @param {number} bytes @param {string} route */
const meta = (key, contentType, bytes, route) => ({
  key: `v1/${route}/user/alice%40example.com/${key}`,
  route,
  createdAt: 1735689600000,
  freshUntil: 1735689600000 + 3_600_000,
  staleUntil: 1735689600000 + 3_900_000,
  tags: ['category:analytics', 'model:gpt-4o-mini'],
  contentType,
  bytes,
  usage: { input: 812, output: 311 },
  model: 'gpt-4o-mini',
})

/** An OpenAI chat completion stream of about `target` bytes, with its event ends and arrival times. @param {number} target @param {number} seed */
function chatStream(target, seed) {
  const rnd = prng(seed)
  const id = `chatcmpl-${Math.floor(rnd() * 2 ** 52).toString(36)}${Math.floor(rnd() * 2 ** 52).toString(36)}`
  const created = 1735689600
  const chunk = (/** @type {object} */ delta, /** @type {string | null} */ finish) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_0ba0d124f1', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
  const parts = [chunk({ role: 'assistant', content: '', refusal: null }, null)]
  let size = parts[0].length
  const tail = chunk({}, 'stop') + 'data: [DONE]\n\n'
  while (size + tail.length < target) {
    const p = chunk({ content: words(rnd, 1, 4) }, null)
    parts.push(p)
    size += p.length
  }
  parts.push(chunk({}, 'stop'), 'data: [DONE]\n\n')
  const body = Buffer.from(parts.join(''), 'utf8')
  const ends = []
  const at = []
  let end = 0
  let t = 180
  for (const p of parts) {
    end += Buffer.byteLength(p)
    t += Math.floor(rnd() * 40)
    ends.push(end)
    at.push(t)
  }
  return { meta: meta(`${seed.toString(16).padStart(64, '0')}`, 'text/event-stream; charset=utf-8', body.length, 'chat'), status: 200, headers: HEADERS, body, events: { ends, at } }
}

/** A non-streaming chat completion answer of about `target` bytes. @param {number} target @param {number} seed */
function chatJson(target, seed) {
  const rnd = prng(seed)
  let content = ''
  while (content.length < target - 500) content += words(rnd, 8, 20) + (rnd() < 0.2 ? '\n\n' : ' ')
  const answer = {
    id: `chatcmpl-${Math.floor(rnd() * 2 ** 52).toString(36)}`,
    object: 'chat.completion',
    created: 1735689600,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 812, completion_tokens: 311, total_tokens: 1123, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
    service_tier: 'default',
    system_fingerprint: 'fp_0ba0d124f1',
  }
  const body = Buffer.from(JSON.stringify(answer), 'utf8')
  const headers = ['content-type', 'application/json', ...HEADERS.slice(2)]
  return { meta: meta(`${seed.toString(16).padStart(64, '0')}`, 'application/json', body.length, 'chat'), status: 200, headers, body }
}

const BODIES = [
  { name: 'sse ~1 KB', entry: chatStream(1024, 1) },
  { name: 'sse ~100 KB', entry: chatStream(100 * 1024, 2) },
  { name: 'sse ~1 MB', entry: chatStream(1024 * 1024, 3) },
  { name: 'json ~4 KB', entry: chatJson(4 * 1024, 4) },
]

/** @param {() => Promise<unknown>} fn */
async function sample(fn) {
  // Warm-up within the budget too: one brotli-11 pass over 1 MB takes seconds.
  let started = performance.now()
  for (let i = 0; i < o.warmup && (i === 0 || performance.now() - started < o.budgetMs / 4); i++) await fn()
  /** @type {number[]} */
  const times = []
  started = performance.now()
  while (times.length < o.maxSamples && (times.length < o.minSamples || performance.now() - started < o.budgetMs)) {
    const t0 = process.hrtime.bigint()
    await fn()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return times
}

async function main() {
  /** @type {object[]} */
  const rows = []
  for (const { name, entry } of BODIES) {
    const raw = entry.body.length
    for (const s of SETTINGS) {
      const blob = await encodeEntry(entry, s)
      const back = await decodeEntry(blob, raw)
      if (Buffer.compare(Buffer.from(back.body), entry.body) !== 0) throw new Error(`round trip failed for ${name} ${s.algorithm} ${s.level}`)
      const enc = await sample(() => encodeEntry(entry, s))
      const dec = await sample(() => decodeEntry(blob, raw))
      const row = {
        body: name,
        bodyBytes: raw,
        events: entry.events ? entry.events.ends.length : 0,
        algorithm: s.algorithm,
        level: s.level,
        storedBytes: blob.length,
        ratio: blob.length / raw,
        encodeP50Ms: percentile(enc, 50),
        encodeP99Ms: percentile(enc, 99),
        decodeP50Ms: percentile(dec, 50),
        decodeP99Ms: percentile(dec, 99),
        samples: { encode: enc.length, decode: dec.length },
      }
      rows.push(row)
      log(`  ${name} ${s.algorithm}-${s.level}: ${blob.length} B, encode p50 ${row.encodeP50Ms.toFixed(3)} ms, decode p50 ${row.decodeP50Ms.toFixed(3)} ms`)
    }
  }
  const pick = choose(rows)
  const cpus = os.cpus()
  const run = {
    date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
    node: process.version,
    machine: { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length },
    options: o,
    default: DEFAULT_COMPRESSION,
    rule: `smallest stored size at ~100 KB among the settings that encode ~100 KB in p50 <= ${PICK_MAX_ENCODE_MS} ms`,
    pick,
    rows,
  }
  const table = render(run)
  log('')
  log(table)
  writeFileSync(join(root, 'bench', 'results-cache-codec.json'), JSON.stringify({ ...run, table }, null, 2) + '\n')
  if (pick && (pick.algorithm !== DEFAULT_COMPRESSION.algorithm || pick.level !== DEFAULT_COMPRESSION.level)) {
    log(`\nnote: this run picks ${pick.algorithm} ${pick.level}, codec.ts has ${DEFAULT_COMPRESSION.algorithm} ${DEFAULT_COMPRESSION.level}`)
  }
  log(`\nwrote bench/results-cache-codec.json`)
}

/**
 * The choice rule: encoding runs once per stored entry on the thread pool, and must stay well
 * under a millisecond for a typical 100 KB stream so that a burst of stores does not queue up
 * behind it; among those, the smallest entries (Redis memory and transfer).
 */
const PICK_MAX_ENCODE_MS = 0.5

/** @param {any[]} rows */
function choose(rows) {
  const mid = rows.filter((r) => r.body === 'sse ~100 KB' && r.encodeP50Ms <= PICK_MAX_ENCODE_MS)
  mid.sort((a, b) => a.storedBytes - b.storedBytes)
  return mid[0] ? { algorithm: mid[0].algorithm, level: mid[0].level } : undefined
}

/** @param {{ date: string, node: string, machine: { cpu: string, cores: number }, default: { algorithm: string, level: number }, rule: string, pick: { algorithm: string, level: number } | undefined, rows: any[] }} run */
function render(run) {
  const lines = [
    `Cache entry codec, ${run.date}, Node ${run.node}, ${run.machine.cpu} (${run.machine.cores} cores). Default in codec.ts: ${run.default.algorithm} ${run.default.level}; this run's pick (${run.rule}): ${run.pick ? `${run.pick.algorithm} ${run.pick.level}` : 'none'}.`,
    '',
    '| body | bytes | events | setting | stored bytes | ratio | encode p50 ms | encode p99 ms | decode p50 ms | decode p99 ms |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of run.rows) {
    lines.push(
      `| ${r.body} | ${r.bodyBytes} | ${r.events} | ${r.algorithm} ${r.level} | ${r.storedBytes} | ${(r.ratio * 100).toFixed(1)}% | ${r.encodeP50Ms.toFixed(3)} | ${r.encodeP99Ms.toFixed(3)} | ${r.decodeP50Ms.toFixed(3)} | ${r.decodeP99Ms.toFixed(3)} |`,
    )
  }
  return lines.join('\n')
}

await main()
