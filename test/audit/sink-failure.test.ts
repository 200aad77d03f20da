import { execFileSync } from 'node:child_process'
import { mkdtempSync, promises as fs, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { SpillFile } from '../../src/io/audit/spill.js'
import type { AuditWriter, LossReason } from '../../src/io/audit/writer.js'
import { audit, decision, logFiles, readRecords, startWriter } from '../helpers/audit.js'
import { eventually } from '../helpers/eventually.js'
import { tmpDir } from '../helpers/tmp-dir.js'

/** A log with a few records, whose next file is a symlink to /dev/full: every write fails with ENOSPC. */
async function fullDisk(root: string): Promise<{ full: string }> {
  const w = await startWriter({ root, writer: 'pod-a' })
  w.emit(decision(-1))
  await w.close()
  const full = path.join(root, 'pod-a', 'audit-000002.jsonl')
  await fs.symlink('/dev/full', full)
  return { full }
}

const requestIds = async (root: string) => (await readRecords(await logFiles(root, 'pod-a'))).filter((r) => r.kind === 'decision').map((r) => r.requestId)
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `req-${from + i}`)

function losses(w: AuditWriter): Partial<Record<LossReason, number>> {
  return Object.fromEntries(Object.entries(w.stats().lost).filter(([, n]) => n > 0))
}

t.test('block: a failing sink (ENOSPC) makes accepting() false, queues what fits, counts the rest lost', async (t) => {
  const root = await tmpDir(t)
  const { full } = await fullDisk(root)
  const errors: string[] = []
  const lost: [string, number][] = []
  const w = await startWriter({
    root,
    writer: 'pod-a',
    options: { queueRecords: 50, hooks: { sinkError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message), lost: (r, n) => lost.push([r, n]) } },
  })
  t.teardown(() => w.close(100))
  t.ok(await eventually(() => w.stats().sinkErrors > 0))
  t.equal(w.accepting(), false, 'not accepting while the sink fails')
  t.equal(w.stats().sinkUp, false)
  for (let i = 0; i < 80; i++) w.emit(decision(i))
  t.same(losses(w), { queue_full: 30 }, 'what the queue could not hold is counted, never silent')
  t.same(lost.reduce((n, [, k]) => n + k, 0), 30, 'and reported through the hook')
  t.ok(errors.includes('ENOSPC'), `sink errors: ${[...new Set(errors)].join(', ')}`)
  const before = w.stats().sinkErrors
  t.ok(await eventually(() => w.stats().sinkErrors > before + 1), 'retried with backoff')

  await fs.unlink(full)
  t.ok(await eventually(() => w.stats().sinkUp && w.stats().queued === 0), 'recovers once writes succeed')
  t.equal(w.accepting(), true)
  t.ok(await w.close(5000))
  t.same(await requestIds(root), ['req--1', ...ids(0, 50)], 'the queued records are written in order once the sink is back')
  const v = await audit(['verify', ...(await logFiles(root, 'pod-a'))])
  t.equal(v.code, 0, v.out)
})

t.test('buffer: records go to the spill file while the sink fails, are replayed in order, loss only past spill.maxBytes', async (t) => {
  const root = await tmpDir(t)
  const spillDir = await tmpDir(t)
  const { full } = await fullDisk(root)
  const spill = new SpillFile(path.join(spillDir, 'spill.jsonl'), 40 * 1024)
  const w = await startWriter({ root, writer: 'pod-a', options: { onFailure: 'buffer', spill, queueRecords: 1000, batchRecords: 32 } })
  t.teardown(() => w.close(100))
  t.ok(await eventually(() => w.stats().sinkErrors > 0))
  t.equal(w.accepting(), true, 'still accepting: the spill has room')
  for (let i = 0; i < 40; i++) w.emit(decision(i))
  t.ok(await eventually(() => w.stats().spill!.records === 40), 'the queue moves to the spill file')
  t.same(losses(w), {}, 'nothing lost while the spill has room')
  const spilled = await fs.readFile(spill.path, 'utf8')
  t.notMatch(spilled, /user-\d/, 'the spill holds pseudonyms, not subjects')

  // Past the bound: counted.
  for (let i = 40; i < 400; i++) w.emit(decision(i))
  t.ok(await eventually(() => w.stats().spill!.records + w.stats().lost.spill_full === 400))
  const spillFull = w.stats().lost.spill_full
  t.ok(spillFull > 0, `${spillFull} records past the spill bound are lost and counted`)
  t.ok((await fs.stat(spill.path)).size <= 40 * 1024, 'the spill file stays within its bound')
  t.equal(w.accepting(), false, 'a full spill stops accepting')
  const kept = w.stats().spill!.records
  t.equal(kept + spillFull, 400, 'every record is either kept or counted lost')

  await fs.unlink(full)
  t.ok(await eventually(() => w.stats().sinkUp && w.stats().spill!.records === 0), 'the spill is replayed once the sink is back')
  for (let i = 400; i < 410; i++) w.emit(decision(i))
  t.ok(await w.close(5000))
  t.same(await requestIds(root), ['req--1', ...ids(0, kept), ...ids(400, 410)], 'in emission order, the spilled ones first')
  t.equal(w.stats().spill!.replayed, kept)
  t.equal((await fs.stat(spill.path)).size, 0, 'the spill file is emptied after replay')
  t.equal((await audit(['verify', ...(await logFiles(root, 'pod-a'))])).code, 0)
})

t.test('buffer: a spill left by a crashed process is replayed by the next one', async (t) => {
  const root = await tmpDir(t)
  const spillDir = await tmpDir(t)
  const { full } = await fullDisk(root)
  const spillPath = path.join(spillDir, 'spill.jsonl')
  let w = await startWriter({ root, writer: 'pod-a', options: { onFailure: 'buffer', spill: new SpillFile(spillPath, 1 << 20) } })
  t.ok(await eventually(() => w.stats().sinkErrors > 0))
  for (let i = 0; i < 20; i++) w.emit(decision(i))
  t.ok(await eventually(() => w.stats().spill!.records === 20))
  await w.close(50)
  // A crash mid-append leaves part of a line: it is cut off and counted.
  await fs.appendFile(spillPath, '{"kind":"decision","fie')
  await fs.unlink(full)
  w = await startWriter({ root, writer: 'pod-a', options: { onFailure: 'buffer', spill: new SpillFile(spillPath, 1 << 20) } })
  t.ok(await w.close(5000))
  t.same(losses(w), { spill_torn: 1 })
  t.same(await requestIds(root), ['req--1', ...ids(0, 20)])
  t.equal((await audit(['verify', ...(await logFiles(root, 'pod-a'))])).code, 0)
})

t.test('a directory that cannot be opened (ENOTDIR) fails the sink until it can', async (t) => {
  const root = await tmpDir(t)
  const blocked = path.join(root, 'log')
  await fs.writeFile(blocked, 'a file where the log directory should be')
  const w = await startWriter({ root: blocked, writer: 'pod-a' })
  t.teardown(() => w.close(100))
  const before = w.stats().sinkErrors
  t.ok(before > 0)
  t.equal(w.accepting(), false)
  w.emit(decision(1))
  await fs.rm(blocked)
  await fs.mkdir(blocked)
  t.ok(await eventually(() => w.stats().sinkUp))
  t.ok(await w.close(5000))
  t.same(await requestIds(blocked), ['req-1'])
})

function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const canMount = (() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chaperone-mount-'))
  const ok = mountTmpfs(dir, '64k')
  if (ok) execFileSync('umount', [dir])
  rmSync(dir, { recursive: true })
  return ok
})()

// A real filesystem that fills up mid-write: a short write, then ENOSPC. Needs root (mount).
t.test('a disk that fills up mid-batch: the cut line is a torn tail, the rest is chained again', { skip: canMount ? false : 'cannot mount a tmpfs here (needs root); the /dev/full tests cover failing writes' }, async (t) => {
  const mnt = await tmpDir(t)
  t.ok(mountTmpfs(mnt, '1m'))
  t.teardown(() => execFileSync('umount', [mnt]))
  const filler = path.join(mnt, 'filler')
  await fs.writeFile(filler, Buffer.alloc(1024 * 1024 - 64 * 1024))
  const spillDir = await tmpDir(t)
  const w = await startWriter({ root: mnt, writer: 'pod-a', options: { onFailure: 'buffer', spill: new SpillFile(path.join(spillDir, 's.jsonl'), 1 << 20), batchRecords: 64 } })
  for (let i = 0; i < 400; i++) w.emit(decision(i, { excerpt: 'x'.repeat(200) }))
  t.ok(await eventually(() => w.stats().sinkErrors > 0 && w.stats().spill!.records > 0), 'the disk fills: the records it could not take are spilled')
  await fs.rm(filler)
  t.ok(await w.close(10_000))
  t.same(losses(w), {})
  const files = await logFiles(mnt, 'pod-a')
  t.same(await requestIds(mnt), ids(0, 400), 'every record exactly once, in order', { stats: w.stats() })
  const v = await audit(['verify', '--json', ...files])
  t.equal(v.code, 0, v.out)
  const report = JSON.parse(v.out) as { warnings: { kind: string }[] }
  const torn = report.warnings.filter((x) => x.kind === 'torn').length
  const recoveries = (await readRecords(files)).filter((r) => r.kind === 'recovery').length
  t.equal(recoveries, torn, 'a cut line, if any, is acknowledged')
  t.comment(`${torn} torn tail(s)`)
})
