#!/usr/bin/env node
// @ts-check
// Cache benchmark, one run, same machine, interleaved rounds:
//  1. latency of a cache hit against a direct request to the mock and against pass-through
//     (two processes of each Chaperone kind, pooled, so the gap between identical processes is
//     the noise floor);
//  2. closed-loop throughput of cached requests against pass-through;
//  3. coalescing: upstream requests per burst of N identical misses, counted at the upstream;
//  4. hit ratio and latency against entry size (1 KB, 100 KB, 1 MB streamed answers).
// Writes its section of bench/RESULTS.md (between the cache markers) and bench/results-cache.json.
import http from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { percentile } from './lib/stats.js'
import { stopAll } from './lib/procs.js'
import { writeSection } from './lib/sections.js'
import { startChaperone, startUpstream } from './lib/targets.js'
import { startRedis } from './lib/redis.js'
import { prng } from './lib/prng.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const quick = process.argv.includes('--quick')
const o = { rounds: quick ? 2 : 5, requestsPerRound: quick ? 300 : 1500, throughputSeconds: quick ? 2 : 5, connections: 16, bursts: [10, 100, 1000], distinct: 200, sizeRequests: quick ? 300 : 800 }
const hr = process.hrtime.bigint
const bin = join(root, 'dist', 'cli.js')

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: bench-cache }
spec:
  cache:
    routes:
      - name: chat
        match: { paths: [/v1/chat/completions] }
        scope: shared
        ttl: 1h
        maxEntryBytes: 4194304
`
const FILES = { 'chaperone.yaml': 'cache: { memoryBytes: 268435456 }\n', 'cache.yaml': POLICY }
const body = (/** @type {string} */ prompt, stream = false) => JSON.stringify({ model: 'demo', temperature: 0, stream, messages: [{ role: 'user', content: prompt }] })

async function main() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-cachebench-'))
  try {
    const upstream = await startUpstream(root, tmp)
    const direct = upstream.target
    const pass = [(await startChaperone(bin, tmp, upstream.port)).target, (await startChaperone(bin, tmp, upstream.port, { name: 'chaperone-b' })).target]
    const cached = [(await startChaperone(bin, tmp, upstream.port, { name: 'cache', files: FILES })).target, (await startChaperone(bin, tmp, upstream.port, { name: 'cache-b', files: FILES })).target]
    const targets = [direct, ...pass, ...cached]

    log('cache 1/4 hit latency, interleaved sequential rounds')
    const latency = await hitLatency(targets)
    log(`  hit p50 ${latency.hitP50Ms.toFixed(3)} ms, direct p50 ${latency.directP50Ms.toFixed(3)} ms: added ${(latency.addedOverDirectP50Ms * 1000).toFixed(1)} µs`)

    log(`cache 2/4 throughput, ${o.connections} connections, closed loop`)
    const throughput = await throughputRatio(pass, cached)
    log(`  instant answers: pass-through ${throughput.passRps.toFixed(0)} req/s, cached ${throughput.cachedRps.toFixed(0)} req/s: ${throughput.ratio.toFixed(2)}×`)
    log(`  paced streams: pass-through ${throughput.paced.passRps.toFixed(0)} req/s, cached ${throughput.paced.cachedRps.toFixed(0)} req/s: ${throughput.paced.ratio.toFixed(2)}×`)

    log('cache 3/4 coalescing')
    const coalescing = await coalescingBursts(tmp)
    for (const b of coalescing) log(`  burst of ${b.n}: ${b.upstreamRequests} upstream request(s), ${b.ok}/${b.n} answered`)

    log('cache 4/4 entry sizes')
    const sizes = await entrySizes(direct, tmp, upstream.port)

    const run = { date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), options: o, latency, throughput, coalescing, sizes }
    writeFileSync(join(root, 'bench', 'results-cache.json'), JSON.stringify(run, null, 2) + '\n')
    const file = join(root, 'bench', 'RESULTS.md')
    writeSection(file, 'cache', render(run))
    log(`\nwrote the cache section of ${file} and results-cache.json`)
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Sequential identical requests on one keep-alive connection. @param {string} origin @param {number} n @param {string} b @param {Record<string, string>} [headers] */
async function sequential(origin, n, b, headers = {}) {
  const p = new Pool(origin, { connections: 1, pipelining: 1 })
  const out = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = hr()
      const { statusCode, body: rb, headers: h } = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b })
      await rb.arrayBuffer()
      if (statusCode !== 200) throw new Error(`${origin}: HTTP ${statusCode}`)
      out.push({ ms: Number(hr() - t0) / 1e6, cache: /** @type {string | undefined} */ (h['x-chaperone-cache']) })
    }
  } finally {
    await p.close()
  }
  return out
}

/** @param {Array<{ name: string, origin: string }>} targets */
async function hitLatency(targets) {
  const b = body('what are your opening hours?')
  /** @type {Record<string, number[]>} */
  const lat = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (const t of targets) await sequential(t.origin, 200, b)
  let nonHits = 0
  for (let round = 1; round <= o.rounds; round++) {
    for (const t of targets) {
      const r = await sequential(t.origin, o.requestsPerRound, b)
      if (t.name.startsWith('cache')) nonHits += r.filter((x) => x.cache !== 'hit').length
      lat[t.name]?.push(...r.map((x) => x.ms))
      log(`  round ${round}/${o.rounds} ${t.name.padEnd(12)} p50 ${percentile(r.map((x) => x.ms), 50).toFixed(3)} ms`)
    }
  }
  const pooled = (/** @type {string[]} */ names) => names.flatMap((n) => lat[n] ?? [])
  const hits = pooled(['cache', 'cache-b'])
  const pass = pooled(['chaperone', 'chaperone-b'])
  const directLat = lat.direct ?? []
  const summary = Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, { p50Ms: percentile(v, 50), p99Ms: percentile(v, 99), samples: v.length }]))
  return {
    summary,
    nonHits,
    hitP50Ms: percentile(hits, 50),
    hitP99Ms: percentile(hits, 99),
    directP50Ms: percentile(directLat, 50),
    passP50Ms: percentile(pass, 50),
    addedOverDirectP50Ms: percentile(hits, 50) - percentile(directLat, 50),
    addedOverPassP50Ms: percentile(hits, 50) - percentile(pass, 50),
    noiseFloorP50Us: Math.abs((summary.chaperone?.p50Ms ?? 0) - (summary['chaperone-b']?.p50Ms ?? 0)) * 1000,
  }
}

/** Closed loop: `connections` requests always in flight for a few seconds. @param {string} origin @param {string} b @param {Record<string, string>} [headers] */
async function closedLoop(origin, b, headers = {}) {
  const p = new Pool(origin, { connections: o.connections, pipelining: 1 })
  let done = 0
  let errors = 0
  const end = performance.now() + o.throughputSeconds * 1000
  const worker = async () => {
    while (performance.now() < end) {
      try {
        const { statusCode, body: rb } = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b })
        await rb.arrayBuffer()
        if (statusCode === 200) done++
        else errors++
      } catch {
        errors++
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: o.connections }, worker))
  const seconds = (performance.now() - t0) / 1000
  await p.close()
  return { rps: done / seconds, errors }
}

/**
 * Two answers: the demo's instant JSON answer (the worst case for a cache: the upstream costs
 * almost nothing, so both sides are bound by Chaperone's own CPU), and a streamed answer paced
 * like a fast LLM (20 deltas, 5 ms apart).
 * @param {Array<{ name: string, origin: string }>} pass @param {Array<{ name: string, origin: string }>} cached
 */
async function throughputRatio(pass, cached) {
  const instant = await throughputOf(pass, cached, body('what are your opening hours?'), {})
  const paced = await throughputOf(pass, cached, body('what are your opening hours?', true), { 'x-demo-deltas': '20', 'x-demo-pace-ms': '5' })
  return { ...instant, paced }
}

/** @param {Array<{ name: string, origin: string }>} pass @param {Array<{ name: string, origin: string }>} cached @param {string} b @param {Record<string, string>} headers */
async function throughputOf(pass, cached, b, headers) {
  const passRps = []
  const cachedRps = []
  let errors = 0
  for (let round = 0; round < 2; round++) {
    for (const [i, t] of [...pass, ...cached].entries()) {
      const r = await closedLoop(t.origin, b, headers)
      errors += r.errors
      ;(i < pass.length ? passRps : cachedRps).push(r.rps)
      log(`  ${t.name.padEnd(12)} ${r.rps.toFixed(0)} req/s`)
    }
  }
  const mean = (/** @type {number[]} */ a) => a.reduce((x, y) => x + y, 0) / a.length
  return { passRps: mean(passRps), cachedRps: mean(cachedRps), ratio: mean(cachedRps) / mean(passRps), errors }
}

/** A counting upstream in this process that holds each answer 300 ms, so bursts pile up in flight. @param {string} tmp */
async function coalescingBursts(tmp) {
  let count = 0
  const server = http.createServer(async (req, res) => {
    for await (const _ of req) void _
    count++
    await new Promise((r) => setTimeout(r, 300))
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const w of ['one', 'answer', 'for', 'everyone']) res.write(`data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${w} "},"finish_reason":null}]}\n\n`)
    res.end('data: [DONE]\n\n')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  const c = (await startChaperone(bin, tmp, port, { name: 'cache-coalesce', files: FILES })).target
  const out = []
  const p = new Pool(c.origin, { connections: 1000, pipelining: 1 })
  for (const n of o.bursts) {
    const before = count
    const b = body(`burst of ${n} at ${Date.now()}`, true)
    const replies = await Promise.all(
      Array.from({ length: n }, () =>
        p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: b }).then(
          async (r) => (await r.body.text(), r.statusCode),
          () => 0,
        ),
      ),
    )
    out.push({ n, upstreamRequests: count - before, ok: replies.filter((s) => s === 200).length })
  }
  await p.close()
  server.close()
  return out
}

/**
 * Hit ratio and latency against entry size: a Zipf(1) workload over 200 distinct prompts, the same
 * sequence for every size, against a Chaperone with the default 64 MiB memory tier alone and one
 * with Redis behind it. 1 MB answers overflow memory (64 entries at most, one a quarter of it at
 * most), so the memory-only hit ratio falls with size and Redis catches what memory evicted.
 * @param {{ origin: string }} direct @param {string} tmp @param {number} upstreamPort
 */
async function entrySizes(direct, tmp, upstreamPort) {
  const redis = await startRedis(tmp)
  const memoryOnly = (await startChaperone(bin, tmp, upstreamPort, { name: 'cache-memory', files: { 'cache.yaml': POLICY } })).target
  const withRedis = (await startChaperone(bin, tmp, upstreamPort, { name: 'cache-redis', files: { 'chaperone.yaml': `redis: { url: "${redis.url}" }\n`, 'cache.yaml': POLICY } })).target
  // One content delta is about 240 bytes of SSE: these give answers of about 1 KB, 100 KB and 1 MB.
  const shapes = [
    { label: '1 KB', deltas: 2 },
    { label: '100 KB', deltas: 420 },
    { label: '1 MB', deltas: 4300 },
  ]
  const random = prng(42)
  const weights = Array.from({ length: o.distinct }, (_, i) => 1 / (i + 1))
  const total = weights.reduce((x, y) => x + y, 0)
  const pick = () => {
    let r = random() * total
    for (let i = 0; i < weights.length; i++) if ((r -= weights[i] ?? 0) <= 0) return i
    return weights.length - 1
  }
  const sequence = Array.from({ length: o.sizeRequests }, pick)
  const out = []
  for (const s of shapes) {
    const headers = { 'x-demo-deltas': String(s.deltas), 'x-demo-pace-ms': '0' }
    const sizeRes = await fetch(`${direct.origin}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body(`size ${s.label} 0`, true) })
    const bytes = (await sizeRes.arrayBuffer()).byteLength
    const d = await sequential(direct.origin, 50, body(`size ${s.label} 0`, true), headers)
    const distinctDrawn = new Set(sequence).size
    const row = { label: s.label, bytes, distinctDrawn, bestHitRatio: (sequence.length - distinctDrawn) / sequence.length, directP50Ms: percentile(d.map((x) => x.ms), 50), tiers: /** @type {Record<string, any>} */ ({}) }
    for (const t of [memoryOnly, withRedis]) {
      const p = new Pool(t.origin, { connections: 1, pipelining: 1 })
      const hits = []
      const misses = []
      for (const i of sequence) {
        const t0 = hr()
        const r = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body(`size ${s.label} ${i}`, true) })
        await r.body.arrayBuffer()
        const ms = Number(hr() - t0) / 1e6
        ;(r.headers['x-chaperone-cache'] === 'hit' ? hits : misses).push(ms)
      }
      await p.close()
      row.tiers[t.name] = { hitRatio: hits.length / sequence.length, hitP50Ms: percentile(hits, 50), hitP99Ms: percentile(hits, 99), missP50Ms: percentile(misses, 50) }
      log(`  ${s.label} (${bytes} B) ${t.name}: hit ratio ${(hits.length / sequence.length).toFixed(3)}, hit p50 ${percentile(hits, 50).toFixed(3)} ms p99 ${percentile(hits, 99).toFixed(3)} ms, miss p50 ${percentile(misses, 50).toFixed(2)} ms`)
    }
    out.push(row)
  }
  return out
}

/** @param {any} run */
function render(run) {
  const l = run.latency
  const verdict = (/** @type {boolean} */ ok, /** @type {string} */ miss) => (ok ? 'met' : `missed: ${miss}`)
  const addedUs = l.addedOverDirectP50Ms * 1000
  const rows = Object.entries(l.summary)
    .map(([name, s]) => `| ${name} | ${/** @type {any} */ (s).p50Ms.toFixed(3)} | ${/** @type {any} */ (s).p99Ms.toFixed(3)} | ${/** @type {any} */ (s).samples} |`)
    .join('\n')
  return `## Cache

Run ${run.date}, \`node bench/cache.js\`${quick ? ' --quick' : ''}. Targets: the demo chatbot (\`direct\`), two pass-through Chaperones, and two Chaperones with a shared-scope cache route on \`/v1/chat/completions\` (memory tier). Latency: ${run.options.rounds} interleaved rounds of ${run.options.requestsPerRound} sequential identical non-streaming requests (temperature 0) per target; every cached request after the first is a hit (${l.nonHits} were not). Throughput: ${run.options.connections} connections, closed loop, ${run.options.throughputSeconds} s per target, two interleaved rounds. Coalescing: a counting upstream in the bench process holds each answer 300 ms; N identical streaming requests are sent at once. Entry sizes: streamed answers from the demo (\`x-demo-deltas\`, no pacing); ${run.options.sizeRequests} sequential requests drawn Zipf(1) from ${run.options.distinct} distinct prompts (the same sequence for every size; ${run.sizes[0]?.distinctDrawn} of them drawn, so the best possible hit ratio is ${run.sizes[0]?.bestHitRatio.toFixed(3)}), against the default 64 MiB memory tier alone and with Redis behind it.

| measure | value | target | verdict |
|---|---|---|---|
| cache hit p50 − direct p50 | ${addedUs.toFixed(1)} µs | ≤ 200 µs | ${verdict(addedUs <= 200, `${(addedUs - 200).toFixed(1)} µs over`)} |
| cache hit p50 − pass-through p50 | ${(l.addedOverPassP50Ms * 1000).toFixed(1)} µs | | |
| noise floor: p50 gap between the two pass-through processes | ${l.noiseFloorP50Us.toFixed(1)} µs | | |
| cached / pass-through throughput, instant mock answers (both sides CPU-bound) | ${run.throughput.ratio.toFixed(2)}× (${run.throughput.cachedRps.toFixed(0)} vs ${run.throughput.passRps.toFixed(0)} req/s) | ≥ 2× | ${verdict(run.throughput.ratio >= 2, `${run.throughput.ratio.toFixed(2)}×`)} |
| cached / pass-through throughput, streams paced like a fast LLM (20 deltas, 5 ms apart) | ${run.throughput.paced.ratio.toFixed(1)}× (${run.throughput.paced.cachedRps.toFixed(0)} vs ${run.throughput.paced.passRps.toFixed(0)} req/s) | ≥ 2× | ${verdict(run.throughput.paced.ratio >= 2, `${run.throughput.paced.ratio.toFixed(2)}×`)} |
${run.coalescing.map((/** @type {any} */ b) => `| upstream requests for a burst of ${b.n} identical misses | ${b.upstreamRequests} (${b.ok}/${b.n} answered) | 1 | ${verdict(b.upstreamRequests === 1 && b.ok === b.n, `${b.upstreamRequests}`)} |`).join('\n')}

| target | p50 ms | p99 ms | samples |
|---|---|---|---|
${rows}

| entry size | bytes | direct p50 ms | tiers | hit ratio | hit p50 ms | hit p99 ms | miss p50 ms |
|---|---|---|---|---|---|---|---|
${run.sizes.flatMap((/** @type {any} */ s) => Object.entries(s.tiers).map(([name, x]) => `| ${s.label} | ${s.bytes} | ${s.directP50Ms.toFixed(3)} | ${name === 'cache-redis' ? 'memory + Redis' : 'memory'} | ${/** @type {any} */ (x).hitRatio.toFixed(3)} | ${/** @type {any} */ (x).hitP50Ms.toFixed(3)} | ${/** @type {any} */ (x).hitP99Ms.toFixed(3)} | ${/** @type {any} */ (x).missP50Ms.toFixed(2)} |`)).join('\n')}`
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`)
  process.exit(1)
})
