#!/usr/bin/env node
// @ts-check
// Chaperone's load benchmark: one command regenerates bench/RESULTS.md and bench/results.json.
// Direct-to-upstream, through Chaperone and (when installed) through nginx are measured in
// interleaved rounds on the same machine, so drift in the machine's speed hits all of them alike.
// `node bench/run.js --help` lists the flags. Only 127.0.0.1 is ever contacted.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { parseOptions, USAGE } from './lib/args.js'
import { closedLoop, openLoop, sequential, CHAT_BODY, CHAT_PATH } from './lib/http-load.js'
import { machineFacts } from './lib/machine.js'
import { findNginx, NGINX_WORKERS } from './lib/nginx.js'
import { cpuSecondsOf, machineBusySeconds, memoryMiB, selfCpuSeconds } from './lib/procfs.js'
import { stopAll } from './lib/procs.js'
import { renderMarkdown, renderSummary } from './lib/report.js'
import { ownedSections } from './lib/sections.js'
import { timedStream } from './lib/sse-client.js'
import { percentile } from './lib/stats.js'
import { concurrentStreams, sequentialTtft, streamLatency } from './lib/stream-load.js'
import { checkTargets, summarize } from './lib/summarize.js'
import { startChaperone, startNginx, startUpstream } from './lib/targets.js'
import { findWrk, runWrk } from './lib/wrk.js'

/** @typedef {import('./lib/targets.js').Target} Target */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)

async function main() {
  const opts = parseOptions(process.argv.slice(2), root)
  if (!opts) return void process.stdout.write(USAGE)
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-bench-'))
  let keepTmp = true
  process.on('exit', () => {
    if (keepTmp) process.stderr.write(`bench: logs kept in ${tmp}\n`)
    else rmSync(tmp, { recursive: true, force: true })
  })
  /** @type {string[]} */
  const notes = []
  try {
    const machine = machineFacts()
    const nginx = opts.nginx ? findNginx(opts.installNginx) : { skipped: 'left out with --no-nginx' }
    if ('skipped' in nginx) notes.push(`nginx not measured: ${nginx.skipped}.`)
    const wrk = opts.wrk ? findWrk(opts.installWrk) : undefined
    const throughputTool = wrk ? `${wrk} (\`-t1\`, its own process)` : 'undici (in the benchmark process)'
    if (!wrk) notes.push(opts.wrk ? 'wrk is not installed (/usr/bin/wrk; `--install-wrk` installs it), so max throughput was measured with undici, which shares the CPU with the processes under test.' : 'wrk left out with --no-wrk.')

    log(`bench: ${opts.quick ? 'quick' : 'full'} run, ${opts.rounds} rounds, logs in ${tmp}`)
    const upstream = await startUpstream(root, tmp)
    const chaperone = await startChaperone(opts.chaperoneBin, tmp, upstream.port)
    /** @type {Target[]} */
    const targets = [upstream.target, chaperone.target]
    if ('bin' in nginx) targets.push((await startNginx(nginx.bin, tmp, upstream.port)).target)
    // Busy CPU the benchmark did not cause: on a shared machine, the first suspect for noisy numbers.
    const ours = () => selfCpuSeconds() + cpuSecondsOf([upstream.child.pid, ...targets.flatMap((t) => t.pids)])
    const load0 = { busy: machineBusySeconds(), ours: ours(), at: Date.now() }
    for (const t of targets) await preflight(t)
    for (const t of targets) await warmUp(t, opts)

    /**
     * Runs `fn` for every target in every round, interleaved: A B C, A B C, ...
     * @template R @param {string} label @param {(t: Target) => Promise<R>} fn @param {(r: R) => string} show
     */
    const interleaved = async (label, fn, show) => {
      /** @type {Record<string, R[]>} */
      const out = Object.fromEntries(targets.map((t) => [t.name, []]))
      for (let round = 1; round <= opts.rounds; round++) {
        for (const t of targets) {
          const r = await fn(t)
          out[t.name]?.push(r)
          log(`  ${label} ${round}/${opts.rounds} ${t.name.padEnd(9)} ${show(r)}`)
        }
      }
      return out
    }

    log('1/5 non-streaming, concurrency 1')
    const seq = await interleaved(
      'c1',
      async (t) => {
        const r = await sequential(t.origin, opts.seqPerRound, 60_000)
        return { p50Ms: percentile(r.latenciesMs, 50), p99Ms: percentile(r.latenciesMs, 99), count: r.latenciesMs.length, errors: r.errors, firstError: r.firstError }
      },
      (r) => `p50 ${r.p50Ms.toFixed(3)} p99 ${r.p99Ms.toFixed(3)} ms${r.errors ? `, ${r.errors} failed (${r.firstError})` : ''}`,
    )

    log(`2/5 non-streaming, open loop at ${opts.openRate} req/s`)
    const open = await interleaved(
      'open',
      async (t) => {
        const r = await openLoop(t.origin, opts.openRate, opts.openSeconds)
        return {
          p50Ms: percentile(r.latenciesMs, 50),
          p99Ms: percentile(r.latenciesMs, 99),
          serviceP50Ms: percentile(r.serviceMs, 50),
          serviceP99Ms: percentile(r.serviceMs, 99),
          count: r.latenciesMs.length,
          errors: r.errors,
          firstError: r.firstError,
        }
      },
      (r) => `p50 ${r.p50Ms.toFixed(3)} p99 ${r.p99Ms.toFixed(3)} ms${r.errors ? `, ${r.errors} failed (${r.firstError})` : ''}`,
    )

    log(`3/5 non-streaming, max throughput (${wrk ?? 'undici'}, ${opts.tputConnections} connections)`)
    const tput = await interleaved(
      'tput',
      async (t) => {
        const cpuBefore = t.pids.length > 0 ? cpuSecondsOf(t.pids) : NaN
        const r = wrk
          ? await runWrk({ url: t.origin + CHAT_PATH, body: CHAT_BODY, connections: opts.tputConnections, seconds: Math.ceil(opts.tputSeconds), tmpDir: tmp }).then((w) => ({ ...w, requests: w.completed + w.errors, firstError: w.errors ? 'see wrk output' : undefined }))
          : await closedLoop(t.origin, opts.tputConnections, opts.tputSeconds)
        const cpuSeconds = t.pids.length > 0 ? cpuSecondsOf(t.pids) - cpuBefore : NaN
        return { rps: r.rps, completed: r.completed, errors: r.errors, firstError: r.firstError, seconds: r.seconds, cpuSeconds, cpuSecPer1000: cpuSeconds / (r.requests / 1000) }
      },
      (r) => `${r.rps.toFixed(0)} req/s${Number.isFinite(r.cpuSecPer1000) ? `, ${r.cpuSecPer1000.toFixed(3)} CPU s/1000` : ''}${r.errors ? `, ${r.errors} failed (${r.firstError})` : ''}`,
    )

    log(`4/5 streaming latency (TTFT one stream at a time; then ${opts.deltas} deltas, ${opts.paceMs} ms apart, ${opts.latencyBatch} streams at a time)`)
    const ttft = await interleaved(
      'ttft',
      (t) => sequentialTtft(t.origin, { count: opts.ttftStreams, paceMs: opts.paceMs, budgetMs: 30_000 }),
      (r) => `TTFT p50 ${r.ttftP50Ms.toFixed(3)} p99 ${r.ttftP99Ms.toFixed(3)} ms${r.errors ? `, ${r.errors} failed (${r.firstError})` : ''}`,
    )
    const lat = await interleaved(
      'stream',
      (t) => streamLatency(t.origin, { streams: opts.latencyStreams, batch: opts.latencyBatch, deltas: opts.deltas, paceMs: opts.paceMs }),
      (r) => `TTFT p50 ${r.ttftP50Ms.toFixed(3)} ms, mean arrival ${r.meanArrivalMs.toFixed(3)} ms${r.errors ? `, ${r.errors} failed (${r.firstError})` : ''}`,
    )

    log(`5/5 concurrent streams (${opts.concurrency.join(', ')})`)
    /** @type {Record<string, Record<string, any[]>>} */
    const concurrent = {}
    for (const n of opts.concurrency) {
      concurrent[n] = await interleaved(
        `x${n}`,
        (t) => concurrentStreams(t.origin, { n, deltas: opts.deltas, paceMs: opts.paceMs, stallMs: opts.stallMs, rampMs: opts.rampMs }),
        (r) => `${r.stalls} stalls (${r.lateFirstToken} on the first token), max gap ${r.maxGapMs.toFixed(1)} ms, TTFT max ${r.ttftMaxMs.toFixed(1)} ms${r.incomplete ? `, ${r.incomplete} incomplete (${r.firstError})` : ''}`,
      )
    }

    /** @type {Record<string, { rssMiB: number, peakRssMiB: number }>} */
    const memory = {}
    for (const t of targets) {
      if (t.pids.length === 0) continue
      const m = t.pids.map(memoryMiB)
      memory[t.name] = { rssMiB: m.reduce((a, x) => a + x.rssMiB, 0), peakRssMiB: m.reduce((a, x) => a + x.peakRssMiB, 0) }
    }

    const logLines = countLines(chaperone.child.logFile)
    notes.push(`Chaperone ran with its default logging, to a file: ${logLines} log lines over the run${'bin' in nginx ? '; nginx had access_log off' : ''}.`)

    const otherCpu = machineBusySeconds() - load0.busy - (ours() - load0.ours)
    const wallSeconds = (Date.now() - load0.at) / 1000
    const otherLoad = `${Math.max(0, otherCpu).toFixed(1)} CPU-seconds used by other processes over ${wallSeconds.toFixed(0)} s (${Math.max(0, (otherCpu / wallSeconds) * 100).toFixed(0)} % of one core on average)`
    notes.push('Why the missed targets are missed (profiles, syscall counts, accept-queue depth) is in the README, section Benchmarks.')
    if (otherCpu / wallSeconds > 0.1) notes.push(`Other processes kept the machine busy during the run (${otherLoad}); expect noisier latencies.`)

    const names = targets.map((t) => t.name)
    const rounds = { sequential: seq, openLoop: open, throughput: tput, ttft, streamLatency: lat, concurrent }
    const summary = summarize(rounds, names)
    const checks = checkTargets(summary)
    const run = {
      date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
      options: opts,
      machine,
      nginx: 'bin' in nginx ? { version: nginx.version, workers: NGINX_WORKERS } : nginx,
      throughputTool,
      targets: names,
      summary,
      checks,
      memory,
      otherLoad,
      notes,
    }
    // The moderation, authz and rate-limit benches own their sections: keep them until they rerun.
    const resultsFile = join(opts.outDir, 'RESULTS.md')
    const previous = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : ''
    writeFileSync(resultsFile, renderMarkdown(run) + ownedSections(previous).map((s) => `\n${s}\n`).join(''))
    writeFileSync(join(opts.outDir, 'results.json'), JSON.stringify({ ...run, options: { ...opts, chaperoneBin: undefined, outDir: undefined }, rounds }, null, 2) + '\n')
    log('')
    log(renderSummary(run))
    log(`\nwrote ${join(opts.outDir, 'RESULTS.md')} and results.json`)
    keepTmp = false
  } finally {
    await stopAll()
  }
}

/** @param {string} file */
function countLines(file) {
  const buf = readFileSync(file)
  let n = 0
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++
  return n
}

/**
 * One request of each kind before measuring, so that a proxy that refuses or mangles traffic
 * fails the run loudly instead of producing fast-looking error numbers.
 * @param {Target} t
 */
async function preflight(t) {
  const pool = new Pool(t.origin, { connections: 1 })
  try {
    const res = await pool.request({ path: CHAT_PATH, method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT_BODY })
    const text = await res.body.text()
    if (res.statusCode !== 200 || !text.includes('You said: ping')) throw new Error(`${t.name}: POST ${CHAT_PATH} answered ${res.statusCode}: ${text.slice(0, 300)}`)
    const s = await timedStream(pool, { deltas: 4, paceMs: 0, timeoutMs: 10_000 })
    if (!s.ok) throw new Error(`${t.name}: streaming request failed: ${s.error}`)
  } finally {
    await pool.close()
  }
}

/** JIT and connection warm-up for every process on the path. @param {Target} t @param {import('./lib/args.js').Options} opts */
async function warmUp(t, opts) {
  await closedLoop(t.origin, opts.tputConnections, opts.quick ? 1 : 3)
  await streamLatency(t.origin, { streams: opts.latencyBatch, batch: opts.latencyBatch, deltas: 16, paceMs: 2 })
  const most = Math.max(...opts.concurrency)
  await concurrentStreams(t.origin, { n: most, deltas: 16, paceMs: opts.paceMs, stallMs: opts.stallMs, rampMs: opts.rampMs })
  // Sequential last: the first phase measures concurrency 1, and a JIT-compiled proxy that has
  // just served a burst re-optimises its one-at-a-time path for a few thousand requests (the
  // README gives that post-burst p99 separately).
  await sequential(t.origin, opts.warmupRequests, 60_000)
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
