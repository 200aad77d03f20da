// @ts-check
// Renders a run as bench/RESULTS.md and as the short summary printed at the end.

/** @param {number} v @param {number} [digits] */
const num = (v, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a')
/** @param {number} v */
const signed = (v, digits = 3) => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(digits) : 'n/a')
/** @param {number} v */
const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : 'n/a')

/**
 * @typedef {{ date: string, options: import('./args.js').Options, machine: ReturnType<typeof import('./machine.js').machineFacts>,
 *   nginx: { version: string, workers: number } | { skipped: string }, throughputTool: string, targets: string[],
 *   summary: Record<string, Record<string, number>>, checks: import('./summarize.js').Check[],
 *   memory: Record<string, { rssMiB: number, peakRssMiB: number }>, otherLoad: string, notes: string[] }} Run
 */

/** @param {import('./summarize.js').Check} c */
function checkValue(c) {
  if (c.target.startsWith('max throughput')) return pct(c.value)
  if (c.target.startsWith('stalls')) return String(c.value)
  if (c.target.startsWith('CPU')) return `${num(c.value)} s`
  return `${signed(c.value)} ms`
}

/** @param {Run} run */
function checksTable(run) {
  const lines = ['| target | Chaperone | limit | result |', '|---|---:|---|---|']
  for (const c of run.checks) lines.push(`| ${c.target} | ${checkValue(c)} | ${c.limitText} | ${c.pass ? 'PASS' : 'MISS'}${c.note ? ` (${c.note})` : ''} |`)
  return lines.join('\n')
}

/**
 * A table with one column per target and one "added" column per proxy.
 * @param {Run} run @param {[label: string, key: string, digits: number, added: boolean][]} rows
 */
function targetTable(run, rows) {
  const proxies = run.targets.filter((t) => t !== 'direct')
  const head = ['', ...run.targets, ...proxies.map((p) => `${p} − direct`)]
  const lines = [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`]
  for (const [label, key, digits, added] of rows) {
    const cells = run.targets.map((t) => num(run.summary[t]?.[key] ?? NaN, digits))
    const deltas = proxies.map((p) => (added ? signed((run.summary[p]?.[key] ?? NaN) - (run.summary.direct?.[key] ?? NaN), digits) : ''))
    lines.push(`| ${label} | ${[...cells, ...deltas].join(' | ')} |`)
  }
  return lines.join('\n')
}

/** @param {Run} run */
export function renderMarkdown(run) {
  const o = run.options
  const s = run.summary
  const nginxLine = 'version' in run.nginx ? `${run.nginx.version}, \`worker_processes ${run.nginx.workers}\`` : `not measured: ${run.nginx.skipped}`
  const proxied = run.targets.filter((t) => t !== 'direct')
  const resources = ['| | ' + proxied.join(' | ') + ' |', `|---|${proxied.map(() => '---:').join('|')}|`]
  resources.push(`| CPU seconds per 1,000 requests (throughput phase) | ${proxied.map((t) => num(s[t]?.cpuSecPer1000 ?? NaN)).join(' | ')} |`)
  resources.push(`| RSS at the end (MiB) | ${proxied.map((t) => num(run.memory[t]?.rssMiB ?? NaN, 1)).join(' | ')} |`)
  resources.push(`| peak RSS, VmHWM (MiB) | ${proxied.map((t) => num(run.memory[t]?.peakRssMiB ?? NaN, 1)).join(' | ')} |`)
  const tputRatio = ['| throughput vs direct | ' + [...run.targets.map((t) => (t === 'direct' ? '100 %' : pct(s[t]?.throughputRatio ?? NaN))), ...proxied.map(() => '')].join(' | ') + ' |']

  return `# Chaperone benchmark results

Generated on ${run.date} by \`node bench/run.js${o.quick ? ' --quick' : ''}\` (${o.quick ? 'quick smoke run' : 'full run'}, ${o.rounds} interleaved rounds).
Regenerate with \`npm run bench\` (about 5 minutes) or \`npm run build && node bench/run.js --quick\` (about 1 minute).
Raw per-round numbers are in [results.json](results.json).

## Targets

${checksTable(run)}

## Machine

| | |
|---|---|
| CPU | ${run.machine.cpuModel} |
| cores | ${run.machine.cores} |
| memory | ${run.machine.memoryGiB} GiB |
| OS | ${run.machine.os} |
| Node.js | ${run.machine.node} |
| Chaperone commit | ${run.machine.commit} |
| nginx | ${nginxLine} |
| max-throughput load generator | ${run.throughputTool} |
| other load during the run | ${run.otherLoad} |

## Method

One run starts the demo chatbot (\`dist/demo/main.js\`) and Chaperone (\`dist/cli.js serve\` with an
empty config directory, so every request is a pass-through) as separate processes${'version' in run.nginx ? ', and nginx as a reference proxy with keep-alive to the upstream and no buffering' : ''}.
The load generator is the benchmark process itself (undici keep-alive pools; max throughput with
${run.throughputTool}) on the same ${run.machine.cores} cores, so every number includes the client's share of the CPU. Each phase runs in
${o.rounds} interleaved rounds (${run.targets.join(', ')}, then again), and every figure below is the median of
the per-round values; "added" is the proxy's figure minus the direct one. Before the first round
every path is warmed up to its steady state (${o.warmupRequests} sequential requests, a few seconds of
closed-loop load and a few streams: a JIT-compiled proxy keeps speeding up for thousands of requests). Streams are
${o.deltas} content deltas ${o.paceMs} ms apart, asked for with \`x-demo-deltas\` and \`x-demo-pace-ms\`;
the chatbot sends the role chunk and the first delta at once, so TTFT is transport and proxy time.

## 1. Non-streaming chat completions

Concurrency 1: ${o.seqPerRound} sequential requests per round on one warm keep-alive connection
(${s.direct?.seqRequests ?? 0} per target in all).

${targetTable(run, [
  ['p50 latency (ms)', 'seqP50Ms', 3, true],
  ['p99 latency (ms)', 'seqP99Ms', 3, true],
  ['failed requests', 'seqErrors', 0, false],
])}

Open loop: ${o.openRate} requests/s for ${o.openSeconds} s per round, sent on schedule whatever the
answers do; latency is counted from the scheduled send time (no coordinated omission), service time
from the actual send. Timer granularity (about 1 ms) is in both columns alike.

${targetTable(run, [
  ['p50 latency (ms)', 'openP50Ms', 3, true],
  ['p99 latency (ms)', 'openP99Ms', 3, true],
  ['p50 service time (ms)', 'openServiceP50Ms', 3, true],
  ['p99 service time (ms)', 'openServiceP99Ms', 3, true],
  ['failed requests', 'openErrors', 0, false],
])}

Max throughput: closed loop, ${o.tputConnections} connections for ${o.tputSeconds} s per round, with ${run.throughputTool}.

${targetTable(run, [
  ['requests/s', 'rps', 0, true],
  ['failed requests', 'tputErrors', 0, false],
])}
${tputRatio.join('\n')}

## 2. Streaming chat completions

Time to first token (TTFT) is the arrival of the first content event after the request started.
One stream at a time: ${o.ttftStreams} short streams per round (two deltas), on one keep-alive connection.

${targetTable(run, [
  ['TTFT p50 (ms)', 'ttftP50Ms', 3, true],
  ['TTFT p99 (ms)', 'ttftP99Ms', 3, true],
  ['failed streams', 'ttftErrors', 0, false],
])}

Per-event latency: ${o.latencyStreams} full streams per round, ${o.latencyBatch} at a time with their starts staggered over one
pace interval. Mean event arrival is, per stream, the mean over its ${o.deltas} content events of
(arrival − request start), averaged over the round's streams; the proxy's added per-event latency
is its difference to direct.

${targetTable(run, [
  ['mean event arrival (ms)', 'meanEventArrivalMs', 3, true],
  [`TTFT p50 with ${o.latencyBatch} streams in flight (ms)`, 'batchTtftP50Ms', 3, true],
  ['failed streams', 'latencyStreamErrors', 0, false],
])}

Concurrency: ${o.concurrency.join(' and ')} streams, once per round, opened evenly over ${o.rampMs} ms and then all
streaming together (a stream lasts about ${((o.deltas - 1) * o.paceMs) / 1000} s). A stall is a stream that waits more than ${o.stallMs} ms
(5× the pace) for a content event, the first one included, or that does not complete.

${targetTable(
  run,
  o.concurrency.flatMap((n) => /** @type {[string, string, number, boolean][]} */ ([
    [`${n} streams: stalls (of ${s.direct?.[`c${n}Streams`] ?? 0})`, `c${n}Stalls`, 0, false],
    [`${n} streams: first token after ${o.stallMs} ms`, `c${n}LateFirstToken`, 0, false],
    [`${n} streams: incomplete`, `c${n}Incomplete`, 0, false],
    [`${n} streams: max gap between events (ms)`, `c${n}MaxGapMs`, 1, true],
    [`${n} streams: TTFT p50 (ms)`, `c${n}TtftP50Ms`, 2, true],
    [`${n} streams: TTFT max (ms)`, `c${n}TtftMaxMs`, 1, true],
  ])),
)}

## 3. Resources

CPU is user + system time from \`/proc/<pid>/stat\` across the throughput phase, divided by the
requests served in it${'version' in run.nginx ? " (nginx: its worker's)" : ''}; memory is \`VmRSS\` and \`VmHWM\` from \`/proc/<pid>/status\` after the last phase.

${resources.join('\n')}
${run.notes.length > 0 ? `\n## Notes\n\n${run.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`
}

/** @param {Run} run */
export function renderSummary(run) {
  const s = run.summary
  const lines = [`Chaperone benchmark, ${run.date} (${run.options.quick ? 'quick' : 'full'}, ${run.options.rounds} rounds)`]
  for (const t of run.targets) {
    const r = s[t]
    if (!r) continue
    lines.push(
      `  ${t.padEnd(9)} c1 p50 ${num(r.seqP50Ms)} p99 ${num(r.seqP99Ms)} ms | ${run.options.openRate}/s p50 ${num(r.openP50Ms)} p99 ${num(r.openP99Ms)} ms | ${num(r.rps, 0)} req/s | TTFT ${num(r.ttftP50Ms)} ms | 256 streams: ${r.c256Stalls} stalls, max gap ${num(r.c256MaxGapMs, 1)} ms`,
    )
  }
  for (const c of run.checks) lines.push(`  ${c.pass ? 'PASS' : 'MISS'}  ${c.target}: ${checkValue(c)} (${c.limitText})${c.note ? ` — ${c.note}` : ''}`)
  for (const n of run.notes) lines.push(`  note: ${n}`)
  return lines.join('\n')
}
