#!/usr/bin/env node
// @ts-check
// Audit writer benchmark, in process, over the built code (dist/): records/s through the whole
// writer (queue, pseudonyms, span hashes, canonical JSON, SHA-256 chain, signed checkpoints every
// 1,000 records, one write per batch) into the file sink with fsyncMs 100, on a temp directory.
// The producer emits as fast as the queue takes records; the clock stops when drain() has
// written and synced the last one. Target: ≥ 50,000 records/s. Also records per CPU second of the
// process (the writer's thread and libuv's), which a loaded machine distorts much less than the
// wall clock. Prints the numbers and one JSON line.
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { writeSection } from './lib/sections.js'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const quick = process.argv.includes('--quick')
const o = { records: quick ? 100_000 : 500_000, rounds: quick ? 2 : 3, subjects: 5000, queueRecords: 10_000, batchRecords: 1024, fsyncMs: 100, checkpointEvery: 1000 }
const dist = (/** @type {string} */ p) => import(join(root, 'dist', p))

async function main() {
  const { AuditWriter } = await dist('io/audit/writer.js')
  const { FileSink } = await dist('io/audit/file-sink.js')
  const { GlobalPseudonymizer } = await dist('io/audit/pseudonymizer.js')
  const { keyFingerprint } = await dist('core/audit/checkpoint.js')
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const signer = { privateKey, keyId: keyFingerprint(publicKey) }
  /** A moderation redact of an e-mail address, as the filters will emit it. */
  const event = (/** @type {number} */ i) => ({
    kind: 'decision',
    filter: 'moderation',
    action: 'redact',
    shadow: false,
    rule: 'contact-details',
    route: 'chat',
    region: i % 2 ? 'eu' : 'us',
    subject: `user-${i % o.subjects}@example.com`,
    policyVersion: 'sha256:4f1c2d',
    requestId: `req-${i}`,
    direction: 'response',
    label: 'email',
    matches: [`person${i}@example.com`],
    excerpt: 'write to [EMAIL] for details',
  })

  const results = []
  const perCpu = []
  for (let round = 0; round < o.rounds; round++) {
    const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-auditbench-'))
    try {
      const w = await AuditWriter.start({
        writer: 'bench',
        sink: new FileSink(tmp, 'bench', 64 * 1024 * 1024),
        pseudonymizer: new GlobalPseudonymizer(Buffer.alloc(32, 1)),
        queueRecords: o.queueRecords,
        batchRecords: o.batchRecords,
        fsyncMs: o.fsyncMs,
        onFailure: 'block',
        checkpoints: { everyRecords: o.checkpointEvery, everyMs: 60_000, signer },
        retry: { minMs: 100, maxMs: 5000 },
        process: { pid: process.pid, version: 'bench' },
      })
      const started = performance.now()
      const cpu = process.cpuUsage()
      let i = 0
      while (i < o.records) {
        while (i < o.records && w.accepting()) w.emit(event(i++))
        await new Promise((r) => setImmediate(r))
      }
      if (!(await w.drain(120_000))) throw new Error('drain timed out')
      const seconds = (performance.now() - started) / 1000
      const used = process.cpuUsage(cpu)
      const cpuSeconds = (used.user + used.system) / 1e6
      const s = w.stats()
      await w.close()
      if (s.lostTotal > 0) throw new Error(`${s.lostTotal} records lost`)
      const rps = o.records / seconds
      results.push(rps)
      perCpu.push(o.records / cpuSeconds)
      log(`audit round ${round + 1}/${o.rounds}: ${o.records} records in ${seconds.toFixed(2)} s: ${Math.round(rps)} records/s; ${cpuSeconds.toFixed(2)} CPU s: ${Math.round(o.records / cpuSeconds)} records per CPU second (${s.checkpoints} checkpoints)`)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }
  const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
  log(`audit writer throughput, file sink, fsyncMs ${o.fsyncMs}: median ${Math.round(median(results))} records/s (target >= 50000), ${Math.round(median(perCpu))} records per CPU second`)
  log(`  load average during the run: ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} CPUs (records/s is wall clock: a busy machine lowers it; records per CPU second much less so)`)
  const run = { bench: 'audit', date: new Date().toISOString(), options: o, recordsPerSecond: results.map(Math.round), medianRecordsPerSecond: Math.round(median(results)), recordsPerCpuSecond: perCpu.map(Math.round), loadAverage: os.loadavg()[0] }
  log(JSON.stringify(run))
  writeFileSync(join(root, 'bench', 'results-audit.json'), JSON.stringify(run, null, 2) + '\n')
  const m = run.medianRecordsPerSecond
  writeSection(
    join(root, 'bench', 'RESULTS.md'),
    'audit',
    [
      '## Audit log',
      '',
      `Run ${run.date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}${quick ? ' (quick)' : ''}, \`node bench/audit.js\`: the whole writer (queue, pseudonyms, keyed span hashes, canonical JSON, SHA-256 chain, an Ed25519-signed checkpoint every ${o.checkpointEvery} records, one write per batch of ${o.batchRecords}) into the file sink with fsyncMs ${o.fsyncMs}, ${o.records.toLocaleString('en')} moderation records per round, ${o.rounds} rounds. Load average ${run.loadAverage.toFixed(2)} on ${os.cpus().length} CPUs.`,
      '',
      '| target | result | limit | verdict |',
      '| --- | ---: | ---: | --- |',
      `| writer throughput (median of rounds) | ${m.toLocaleString('en')} records/s (${run.recordsPerSecond.map((x) => x.toLocaleString('en')).join(', ')}) | ≥ 50,000 | ${m >= 50_000 ? 'pass' : `miss by ${(50_000 - m).toLocaleString('en')}`} |`,
      `| records per CPU second of the process | ${Math.round(median(perCpu)).toLocaleString('en')} | report | – |`,
    ].join('\n'),
  )
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`)
  process.exit(1)
})
