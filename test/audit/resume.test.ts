import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { scanTail } from '../../src/core/audit/tail-scan.js'
import { findResumePoint } from '../../src/io/audit/resume.js'
import { audit, decision, logFiles, readRecords, startWriter } from '../helpers/audit.js'
import { tmpDir } from '../helpers/tmp-dir.js'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function run(root: string, n: number, from = 0, maxFileBytes?: number): Promise<void> {
  const w = await startWriter({ root, writer: 'pod-a', ...(maxFileBytes && { maxFileBytes }) })
  for (let i = from; i < from + n; i++) w.emit(decision(i))
  if (!(await w.close(5000))) throw new Error('close did not drain')
}

async function verify(files: string[], ...flags: string[]) {
  const r = await audit(['verify', '--json', ...flags, ...files])
  return { code: r.code, report: JSON.parse(r.out) as { problems: unknown[]; warnings: { kind: string; file: string; line: number }[] } }
}

async function tornAfterRestart(t: Test, tail: Buffer) {
  const root = await tmpDir(t)
  await run(root, 10)
  const [file] = await logFiles(root, 'pod-a')
  const clean = await fs.readFile(file!)
  await fs.appendFile(file!, tail)
  await run(root, 5, 10)
  const files = await logFiles(root, 'pod-a')
  t.equal(files.length, 2, 'the torn file is never appended to again: a new file starts')
  t.same(await fs.readFile(file!), Buffer.concat([clean, tail]), 'the torn bytes are left where they were')
  const records = await readRecords(files)
  const recovery = records.find((r) => r.kind === 'recovery')
  t.same(recovery?.torn, { file: path.basename(file!), offset: clean.length, bytes: tail.length, sha256: sha256(tail) }, 'a recovery record acknowledges them')
  const start = records.filter((r) => r.kind === 'start')[1]!
  t.same(start.resumedFrom, { file: path.basename(file!), seq: 12 }, 'the chain resumes from the last good record')
  t.equal(start.prev, (records[11] as { hash: string }).hash)
  const { code, report } = await verify(files)
  t.equal(code, 0)
  t.match(report.warnings, [{ kind: 'torn', file: file!, line: 13 }])
  t.equal((await verify(files, '--strict')).code, 1, '--strict fails on an acknowledged tear')
  return { root, files }
}

t.test('a line cut short by a crash: a recovery record, a new file, the bytes untouched', async (t) => {
  await tornAfterRestart(t, Buffer.from('{"action":"block","at":"2026-'))
})

t.test('garbage after the last record (zeros, lines, a valid-looking line of another chain)', async (t) => {
  await tornAfterRestart(t, Buffer.concat([Buffer.alloc(700), Buffer.from('\n{"v":1}\nnot json\n'), Buffer.alloc(30)]))
})

t.test('a torn tail whose acknowledgement was lost in a second crash is acknowledged again', async (t) => {
  const root = await tmpDir(t)
  await run(root, 10)
  const [first] = await logFiles(root, 'pod-a')
  await fs.appendFile(first!, '{"cut":')
  // The restarted writer opens audit-000002 and dies before a whole line reaches it.
  const second = path.join(path.dirname(first!), 'audit-000002.jsonl')
  await fs.writeFile(second, '{"hash":"ab')
  const at = await findResumePoint(path.dirname(first!), 'pod-a', 1 << 20)
  t.equal(at.head.seq, 12)
  t.same(
    at.torn.map((x) => [x.file, x.bytes]),
    [
      ['audit-000001.jsonl', 7],
      ['audit-000002.jsonl', 11],
    ],
  )
  t.equal(at.appendIndex, 3)
  await run(root, 3, 10)
  const files = await logFiles(root, 'pod-a')
  t.equal(files.length, 3)
  const { code, report } = await verify(files)
  t.equal(code, 0, JSON.stringify(report.problems))
  t.equal(report.warnings.filter((w) => w.kind === 'torn').length, 2)
})

t.test('a last record complete but for its newline is resumed from, in a new file', async (t) => {
  const root = await tmpDir(t)
  await run(root, 4)
  const [file] = await logFiles(root, 'pod-a')
  const bytes = await fs.readFile(file!)
  await fs.writeFile(file!, bytes.subarray(0, bytes.length - 1))
  await run(root, 4, 4)
  const files = await logFiles(root, 'pod-a')
  t.equal(files.length, 2)
  const records = await readRecords(files)
  t.equal(records.filter((r) => r.kind === 'recovery').length, 0, 'nothing is torn')
  t.same(
    records.map((r) => r.seq),
    records.map((_, i) => i + 1),
  )
  t.equal((await verify(files, '--strict')).code, 0)
})

t.test('a clean tail is appended to; rotation continues the chain across files', async (t) => {
  const root = await tmpDir(t)
  await run(root, 3)
  await run(root, 3, 3)
  t.equal((await logFiles(root, 'pod-a')).length, 1, 'same file')
  await run(root, 40, 6, 2000)
  const files = await logFiles(root, 'pod-a')
  t.ok(files.length > 5)
  t.equal((await verify(files, '--strict')).code, 0)
})

t.test('a big last record is found however far back it starts (the tail window grows)', async (t) => {
  const root = await tmpDir(t)
  const w = await startWriter({ root, writer: 'pod-a' })
  w.emit(decision(1, { detail: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(250)])) }))
  for (let i = 0; i < 300; i++) w.emit(decision(i, { excerpt: 'e'.repeat(256) }))
  await w.close()
  const [file] = await logFiles(root, 'pod-a')
  // 100 KB of garbage after it: more than the first window.
  await fs.appendFile(file!, Buffer.alloc(100 * 1024, 0x41))
  const at = await findResumePoint(path.dirname(file!), 'pod-a', 1 << 30)
  t.equal(at.head.seq, 303)
  t.equal(at.torn[0]!.bytes, 100 * 1024)
})

t.test('scanTail: a window that starts mid-line never takes its first line for a record', async (t) => {
  const root = await tmpDir(t)
  await run(root, 3)
  const [file] = await logFiles(root, 'pod-a')
  const bytes = await fs.readFile(file!)
  const lines = bytes.toString().split('\n')
  const lastStart = bytes.length - lines[lines.length - 2]!.length - 1
  // Window from one byte into the last line: no complete record, and it is not the file's start.
  const partial = scanTail(bytes.subarray(lastStart + 1), lastStart + 1, 'pod-a')
  t.equal(partial.last, undefined)
  t.equal(partial.complete, false)
  const whole = scanTail(bytes, 0, 'pod-a')
  t.equal(whole.last?.seq, 5)
  t.equal(whole.validEnd, bytes.length)
  t.equal(scanTail(bytes, 0, 'pod-b').last, undefined, 'records of another writer are not ours')
})
