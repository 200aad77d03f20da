import { promises as fs } from 'node:fs'
import t from 'tap'
import { tmpDir } from '../helpers/tmp-dir.js'
import { audit, decision, logFiles, readRecords, startWriter } from '../helpers/audit.js'
import { eventually } from '../helpers/eventually.js'
import { FileSink } from '../../src/io/audit/file-sink.js'
import type { RecordSink } from '../../src/io/audit/sink.js'

t.test('records are chained, canonical and verify; seq continues across restarts and files', async (t) => {
  const root = await tmpDir(t)
  let w = await startWriter({ root, writer: 'pod-a', maxFileBytes: 4096 })
  for (let i = 0; i < 40; i++) t.ok(w.emit(decision(i)))
  w.emit({ kind: 'reload', oldVersion: 'v1', newVersion: 'v2', outcome: 'success', reason: 'changed', errors: 0 })
  t.ok(await w.drain(5000))
  t.equal(w.stats().written, 42, 'start + 41 records')
  await w.close()
  w = await startWriter({ root, writer: 'pod-a', maxFileBytes: 4096 })
  for (let i = 40; i < 60; i++) w.emit(decision(i))
  t.ok(await w.close(5000))
  const files = await logFiles(root, 'pod-a')
  t.ok(files.length > 3, `rotated into ${files.length} files`)
  for (const f of files) t.ok((await fs.stat(f)).size <= 4096, 'no file past maxFileBytes')
  const records = await readRecords(files)
  t.same(
    records.map((r) => r.seq),
    records.map((_, i) => i + 1),
    'seq continuous across files and restarts',
  )
  const starts = records.filter((r) => r.kind === 'start')
  t.equal(starts.length, 2)
  t.equal((starts[1]!.resumedFrom as { seq: number }).seq, 43, 'resumed from the final checkpoint of the first run')
  t.equal(records[42]!.kind, 'checkpoint', 'close() wrote a final checkpoint')
  t.equal(records.at(-1)!.kind, 'checkpoint', 'close() wrote a final checkpoint')
  t.equal(records.at(-1)!.size, records.length - 1)
  const v = await audit(['verify', ...files])
  t.equal(v.code, 0, v.out + v.err)
  t.match(v.out, /pod-a: ok, \d+ records \(seq 1-\d+\)/)
})

class CountingSink implements RecordSink {
  readonly kind = 'file' as const
  syncs = 0
  writes = 0
  constructor(private readonly inner: RecordSink) {}
  open() {
    return this.inner.open()
  }
  async write(data: Buffer, ends: readonly number[]) {
    this.writes++
    await this.inner.write(data, ends)
  }
  async sync() {
    this.syncs++
    await this.inner.sync()
  }
  close() {
    return this.inner.close()
  }
}

t.test('fsync: after every batch with fsyncMs 0, else at most once per fsyncMs, even under steady load', async (t) => {
  const root = await tmpDir(t)
  const every = new CountingSink(new FileSink(root, 'pod-a', 1 << 20))
  let w = await startWriter({ root, writer: 'pod-a', options: { sink: every, fsyncMs: 0 } })
  for (let b = 0; b < 3; b++) {
    w.emit(decision(b))
    t.ok(await eventually(() => w.stats().written === b + 2))
  }
  t.ok(every.syncs >= 4, `${every.syncs} syncs for ${every.writes} writes`)
  await w.close()

  let now = 1_000_000
  const paced = new CountingSink(new FileSink(root, 'pod-a', 1 << 20))
  w = await startWriter({ root, writer: 'pod-a', options: { sink: paced, fsyncMs: 60_000, now: () => now } })
  w.emit(decision(10))
  t.ok(await eventually(() => w.stats().written === 2))
  t.equal(paced.syncs, 0, 'not due yet')
  now += 60_000
  w.emit(decision(11))
  t.ok(await eventually(() => paced.syncs === 1), 'due: synced after the next batch')
  t.ok(await w.drain(5000))
  t.equal(paced.syncs, 1, 'drain syncs only what is unsynced')
  w.emit(decision(12))
  t.ok(await w.drain(5000))
  t.equal(paced.syncs, 2, 'drain syncs')
  await w.close()
})

t.test('stats and hooks: queue depth, lag, written, loss after close', async (t) => {
  const root = await tmpDir(t)
  let now = 5000
  const written: number[] = []
  const lost: [string, number][] = []
  const w = await startWriter({ root, writer: 'pod-a', options: { now: () => now, hooks: { written: (n) => written.push(n), lost: (r, n) => lost.push([r, n]) } } })
  t.ok(await w.drain(5000))
  w.emit(decision(1))
  w.emit(decision(2))
  now += 250
  // Synchronously after emit, nothing has been taken yet.
  t.match(w.stats(), { queued: 2, lagMs: 250, accepting: true, sinkUp: true })
  t.ok(await w.drain(5000))
  t.match(w.stats(), { queued: 0, lagMs: 0, written: 3 })
  t.equal(written.reduce((a, b) => a + b, 0), 3)
  await w.close()
  t.equal(w.emit(decision(3)), false)
  t.equal(w.accepting(), false)
  t.same(lost, [['closed', 1]])
  t.equal(w.stats().lostTotal, 1)
})
