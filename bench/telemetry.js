#!/usr/bin/env node
// @ts-check
// Traces benchmark, one run, same machine, interleaved rounds: what OpenTelemetry traces add to a
// request through a realistic chain (authz, rate limit, moderation both ways), exported over
// OTLP/HTTP to a collector stand-in in this process, with every request sampled (sampleRatio 1)
// and with one in ten (0.1).
//  1. latency: sequential streamed chat completions, two processes of each kind (off, 1, 0.1);
//     added p50/p99 on pooled samples, with the gap between the two identical "off" processes as
//     the noise floor;
//  2. throughput: closed loop, 16 connections (the CPU the spans cost).
// Writes its section of bench/RESULTS.md (between the telemetry markers) and bench/results-telemetry.json.
import http from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { median, percentile } from './lib/stats.js'
import { cpuSecondsOf } from './lib/procfs.js'
import { stopAll } from './lib/procs.js'
import { writeSection } from './lib/sections.js'
import { startChaperone, startUpstream } from './lib/targets.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const quick = process.argv.includes('--quick')
const o = { rounds: quick ? 2 : 6, requestsPerRound: quick ? 300 : 1000, warmup: 300, throughputSeconds: quick ? 2 : 5, connections: 16, deltas: 8 }
const hr = process.hrtime.bigint
const bin = join(root, 'dist', 'cli.js')

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: bench-telemetry }
spec:
  identity:
    anonymous: { role: guest }
  roles: { guest: {} }
  access:
    - name: everyone
      allow: { roles: [guest] }
  rateLimits:
    - name: per-ip
      key: [ip]
      rate: 100000000/minute
  moderation:
    rules:
      - name: banned
        keywords: [forbiddenword, another phrase]
        action: block
      - name: contact
        pii: [email, credit_card]
        action: redact
`
const BODY = JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'what are your opening hours on sunday?' }] })
const HEADERS = { 'content-type': 'application/json', 'x-demo-deltas': String(o.deltas), 'x-demo-pace-ms': '0' }

/** A collector stand-in: accepts OTLP/HTTP JSON exports and counts spans without parsing them. */
async function startReceiver() {
  const seen = { exports: 0, spans: 0, bytes: 0 }
  const server = http.createServer(async (req, res) => {
    let text = ''
    req.setEncoding('utf8')
    for await (const c of req) text += c
    seen.exports++
    seen.bytes += Buffer.byteLength(text)
    for (let i = text.indexOf('"spanId"'); i !== -1; i = text.indexOf('"spanId"', i + 8)) seen.spans++
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  return { url: `http://127.0.0.1:${port}/v1/traces`, seen, close: () => new Promise((r) => server.close(r)) }
}

/** Sequential streamed requests on one keep-alive connection. @param {string} origin @param {number} n */
async function sequential(origin, n) {
  const p = new Pool(origin, { connections: 1, pipelining: 1 })
  const out = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = hr()
      const { statusCode, body } = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: HEADERS, body: BODY })
      await body.arrayBuffer()
      if (statusCode !== 200) throw new Error(`${origin}: HTTP ${statusCode}`)
      out.push(Number(hr() - t0) / 1e6)
    }
  } finally {
    await p.close()
  }
  return out
}

/** Closed loop: `connections` requests always in flight. @param {string} origin */
async function closedLoop(origin) {
  const p = new Pool(origin, { connections: o.connections, pipelining: 1 })
  let done = 0
  let errors = 0
  const end = performance.now() + o.throughputSeconds * 1000
  const worker = async () => {
    while (performance.now() < end) {
      try {
        const { statusCode, body } = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: HEADERS, body: BODY })
        await body.arrayBuffer()
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

async function main() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-telemetrybench-'))
  const receiver = await startReceiver()
  try {
    const upstream = await startUpstream(root, tmp)
    const traced = (/** @type {number} */ ratio) => ({ 'policy.yaml': POLICY, 'chaperone.yaml': `telemetry:\n  traces:\n    endpoint: ${receiver.url}\n    sampleRatio: ${ratio}\n` })
    /** @type {Record<string, Record<string, string>>} */
    // "sampled": everything on at once, as the target reads it: traces one request in ten,
    // and the audit log (file sink, signed checkpoints) recording every decision.
    writeFileSync(join(tmp, 'pseudonym.key'), 'bench-pseudonym-key-of-at-least-32-bytes')
    const { privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(join(tmp, 'signing.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const everything = {
      'policy.yaml': POLICY,
      'chaperone.yaml': `${traced(0.1)['chaperone.yaml']}audit:\n  enabled: true\n  writer: bench\n  file: { dir: ${JSON.stringify(join(tmp, 'audit'))} }\n  pseudonyms: { keyFile: ${JSON.stringify(join(tmp, 'pseudonym.key'))} }\n  checkpoints: { privateKeyFile: ${JSON.stringify(join(tmp, 'signing.key'))} }\n`,
    }
    const kinds = { off: { 'policy.yaml': POLICY }, traces: traced(1), sampled: everything }
    const targets = []
    for (const suffix of ['', '-b']) for (const [kind, files] of Object.entries(kinds)) targets.push((await startChaperone(bin, tmp, upstream.port, { name: kind + suffix, files })).target)
    const kindOf = (/** @type {string} */ name) => name.replace(/-b$/, '')

    log('telemetry 1/2 latency, interleaved sequential rounds')
    /** @type {Record<string, number[]>} */
    const lat = Object.fromEntries(targets.map((t) => [t.name, []]))
    for (const t of targets) await sequential(t.origin, o.warmup)
    const spansBefore = receiver.seen.spans
    let fullyTraced = 0
    // CPU the Chaperone process spent per request (from /proc): steadier than latency on a busy machine.
    /** @type {Record<string, number[]>} */
    const cpuUs = { off: [], traces: [], sampled: [] }
    let sampled = 0
    for (let round = 1; round <= o.rounds; round++) {
      for (const t of targets) {
        const cpu0 = cpuSecondsOf(t.pids)
        const r = await sequential(t.origin, o.requestsPerRound)
        cpuUs[kindOf(t.name)]?.push(((cpuSecondsOf(t.pids) - cpu0) * 1e6) / r.length)
        if (kindOf(t.name) === 'traces') fullyTraced += r.length
        if (kindOf(t.name) === 'sampled') sampled += r.length
        lat[t.name]?.push(...r)
        log(`  round ${round}/${o.rounds} ${t.name.padEnd(9)} p50 ${percentile(r, 50).toFixed(3)} ms  p99 ${percentile(r, 99).toFixed(3)} ms`)
      }
    }
    const pooled = (/** @type {string} */ kind) => [...(lat[kind] ?? []), ...(lat[`${kind}-b`] ?? [])]
    const offLat = pooled('off')
    const added = (/** @type {string} */ kind) => {
      const on = pooled(kind)
      return { p50Ms: percentile(on, 50), p99Ms: percentile(on, 99), addedP50Us: (percentile(on, 50) - percentile(offLat, 50)) * 1000, addedP99Us: (percentile(on, 99) - percentile(offLat, 99)) * 1000 }
    }
    const summary = Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, { p50Ms: percentile(v, 50), p99Ms: percentile(v, 99), samples: v.length }]))
    const latency = {
      summary,
      off: { p50Ms: percentile(offLat, 50), p99Ms: percentile(offLat, 99) },
      all: added('traces'),
      tenth: added('sampled'),
      noiseFloorP50Us: Math.abs((summary.off?.p50Ms ?? 0) - (summary['off-b']?.p50Ms ?? 0)) * 1000,
      noiseFloorP99Us: Math.abs((summary.off?.p99Ms ?? 0) - (summary['off-b']?.p99Ms ?? 0)) * 1000,
      cpuUsPerRequest: { off: median(cpuUs.off), all: median(cpuUs.traces), tenth: median(cpuUs.sampled) },
    }
    log(`  sampleRatio 1: added p50 ${latency.all.addedP50Us.toFixed(1)} µs, p99 ${latency.all.addedP99Us.toFixed(1)} µs`)
    log(`  audit + sampleRatio 0.1: added p50 ${latency.tenth.addedP50Us.toFixed(1)} µs, p99 ${latency.tenth.addedP99Us.toFixed(1)} µs`)
    log(`  CPU per request (median of rounds): off ${latency.cpuUsPerRequest.off.toFixed(0)} µs, sampleRatio 1 ${latency.cpuUsPerRequest.all.toFixed(0)} µs, 0.1 ${latency.cpuUsPerRequest.tenth.toFixed(0)} µs`)
    log(`  noise floor (off vs off-b): p50 ${latency.noiseFloorP50Us.toFixed(1)} µs, p99 ${latency.noiseFloorP99Us.toFixed(1)} µs`)

    // The processes export on their own schedule: give the last batches of the phase time to arrive.
    await new Promise((r) => setTimeout(r, 6000))
    const latencySpans = receiver.seen.spans
    log(`telemetry 2/2 throughput, ${o.connections} connections, closed loop`)
    /** @type {Record<string, number[]>} */
    const rps = { off: [], traces: [], sampled: [] }
    let errors = 0
    for (let round = 0; round < 2; round++) {
      for (const t of targets) {
        const r = await closedLoop(t.origin)
        errors += r.errors
        rps[kindOf(t.name)]?.push(r.rps)
        log(`  ${t.name.padEnd(10)} ${r.rps.toFixed(0)} req/s`)
      }
    }
    const mean = (/** @type {number[] | undefined} */ a = []) => a.reduce((x, y) => x + y, 0) / a.length
    const throughput = { offRps: mean(rps.off), allRps: mean(rps.traces), tenthRps: mean(rps.sampled), allRatio: mean(rps.traces) / mean(rps.off), tenthRatio: mean(rps.sampled) / mean(rps.off), errors }
    log(`  sampleRatio 1 / off: ${throughput.allRatio.toFixed(3)}, audit + sampleRatio 0.1 / off: ${throughput.tenthRatio.toFixed(3)} (off ${throughput.offRps.toFixed(0)} req/s)`)

    // Stopping the traced processes exports what their batch processors still hold.
    await stopAll()
    // Spans per sampled request, from the latency phase (about a tenth of the 0.1 kind's requests).
    const exported = { spans: receiver.seen.spans, exports: receiver.seen.exports, bytes: receiver.seen.bytes, spansPerRequest: (latencySpans - spansBefore) / Math.max(1, fullyTraced + sampled / 10) }
    log(`  exported ${exported.spans} spans in ${exported.exports} exports`)

    const run = { date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), node: process.version, options: o, latency, throughput, exported }
    writeFileSync(join(root, 'bench', 'results-telemetry.json'), JSON.stringify(run, null, 2) + '\n')
    const file = join(root, 'bench', 'RESULTS.md')
    writeSection(file, 'telemetry', render(run))
    log(`\nwrote the telemetry section of ${file} and results-telemetry.json`)
  } finally {
    await stopAll()
    await receiver.close()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** @param {any} run */
function render(run) {
  const l = run.latency
  const rows = Object.entries(l.summary)
    .map(([name, s]) => `| ${name} | ${/** @type {any} */ (s).p50Ms.toFixed(3)} | ${/** @type {any} */ (s).p99Ms.toFixed(3)} | ${/** @type {any} */ (s).samples} |`)
    .join('\n')
  return `## Traces

Run ${run.date} on Node ${run.node}, \`node bench/telemetry.js\`${quick ? ' --quick' : ''}. Six Chaperones with the same policy (anonymous authz, a rate limit, keyword and PII moderation on prompts and answers) in front of the demo chatbot (streamed answers, ${run.options.deltas} deltas, no pacing): two with traces off, two exporting every request (sampleRatio 1) and two with everything on: the audit log (file sink, signed checkpoints, every decision recorded) and traces one request in ten (sampleRatio 0.1), over OTLP/HTTP JSON to a collector stand-in in the bench process. Latency: ${run.options.rounds} interleaved rounds of ${run.options.requestsPerRound} sequential requests per process, pooled per kind. Throughput: ${run.options.connections} connections, closed loop, ${run.options.throughputSeconds} s per process, two rounds. Each sampled request exported about ${run.exported.spansPerRequest.toFixed(1)} spans.

| measure | traces, sampleRatio 1 | audit + traces (0.1) + metrics |
|---|---|---|
| added p50 over everything off | ${l.all.addedP50Us.toFixed(1)} µs | ${l.tenth.addedP50Us.toFixed(1)} µs |
| added p99 over everything off | ${l.all.addedP99Us.toFixed(1)} µs | ${l.tenth.addedP99Us.toFixed(1)} µs |
| Chaperone CPU per request, over everything off (${l.cpuUsPerRequest.off.toFixed(0)} µs) | +${(l.cpuUsPerRequest.all - l.cpuUsPerRequest.off).toFixed(0)} µs | +${(l.cpuUsPerRequest.tenth - l.cpuUsPerRequest.off).toFixed(0)} µs |
| throughput / everything off (${run.throughput.offRps.toFixed(0)} req/s) | ${run.throughput.allRatio.toFixed(3)} | ${run.throughput.tenthRatio.toFixed(3)} |

Noise floor, the gap between the two identical "off" processes: p50 ${l.noiseFloorP50Us.toFixed(1)} µs, p99 ${l.noiseFloorP99Us.toFixed(1)} µs.

| process | p50 ms | p99 ms | samples |
|---|---|---|---|
${rows}`
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`)
  process.exitCode = 1
})
