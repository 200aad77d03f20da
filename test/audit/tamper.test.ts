import { promises as fs } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { sealRecord } from '../../src/core/audit/serialize.js'
import { FileCheckpointCopy } from '../../src/io/audit/checkpoint-copy.js'
import { audit, decision, logFiles, startWriter } from '../helpers/audit.js'
import { mulberry32 } from '../helpers/prng.js'
import { tmpDir } from '../helpers/tmp-dir.js'

interface Finding {
  writer: string
  classification: string
  file: string
  line: number
  seq?: number
  message: string
}
interface Report {
  ok: boolean
  problems: Finding[]
  warnings: { kind: string; line: number; file: string }[]
}

/** A log of one writer in one file: start (seq 1), 30 decisions (seq 2-31), final checkpoint (seq 32). */
async function writeLog(t: Test, everyRecords = 1000, checkpointFile?: string): Promise<{ file: string; lines: string[] }> {
  const root = await tmpDir(t)
  const copy = checkpointFile ? new FileCheckpointCopy(checkpointFile) : undefined
  const w = await startWriter({ root, writer: 'pod-a', options: { checkpoints: { everyRecords, everyMs: 3_600_000, ...(copy && { copy }) } } })
  for (let i = 0; i < 30; i++) w.emit(decision(i))
  t.ok(await w.close(5000))
  const [file] = await logFiles(root, 'pod-a')
  const lines = (await fs.readFile(file!, 'utf8')).split('\n').slice(0, -1)
  return { file: file!, lines }
}

async function verifyJson(args: string[]): Promise<{ code: number; report: Report }> {
  const r = await audit(['verify', '--json', ...args])
  return { code: r.code, report: JSON.parse(r.out) as Report }
}

async function rewrite(file: string, lines: string[], tail = '\n'): Promise<void> {
  await fs.writeFile(file, lines.join('\n') + tail)
}

t.test('an untouched log verifies', async (t) => {
  const { file, lines } = await writeLog(t)
  t.equal(lines.length, 32)
  const { code, report } = await verifyJson([file])
  t.equal(code, 0)
  t.same(report.problems, [])
})

t.test('a flipped byte anywhere is found on its line, classified edited', async (t) => {
  const { file, lines } = await writeLog(t)
  const original = await fs.readFile(file)
  const rnd = mulberry32(9)
  const lastLineStart = original.lastIndexOf(0x0a, original.length - 2) + 1
  for (let round = 0; round < 40; round++) {
    // Any byte but a newline, outside the last line (whose damage reads as a torn tail, below).
    let at: number
    do at = Math.floor(rnd() * lastLineStart)
    while (original[at] === 0x0a)
    const bytes = Buffer.from(original)
    bytes[at] = bytes[at]! ^ (1 << Math.floor(rnd() * 7))
    await fs.writeFile(file, bytes)
    const line = original.subarray(0, at).toString('latin1').split('\n').length
    const { code, report } = await verifyJson([file])
    t.equal(code, 1, `byte ${at} flipped`)
    t.equal(report.problems.length, 1)
    t.match(report.problems[0], { classification: 'edited', file, line, writer: 'pod-a' }, `byte ${at}: found on line ${line}`)
  }
})

t.test('a deleted record', async (t) => {
  const { file, lines } = await writeLog(t)
  lines.splice(9, 1) // line 10, seq 10
  await rewrite(file, lines)
  const { code, report } = await verifyJson([file])
  t.equal(code, 1)
  t.match(report.problems, [{ classification: 'deleted', file, line: 10, seq: 11, message: /seq 10 is missing/ }])
})

t.test('two swapped records', async (t) => {
  const { file, lines } = await writeLog(t)
  ;[lines[9], lines[10]] = [lines[10]!, lines[9]!]
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'reordered', file, line: 10, seq: 11 }])
})

t.test('two swapped records at the very end', async (t) => {
  const { file, lines } = await writeLog(t)
  ;[lines[30], lines[31]] = [lines[31]!, lines[30]!]
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'reordered', file, line: 31, seq: 32 }])
})

t.test('a forged record inserted with a correctly computed hash and a valid link', async (t) => {
  const { file, lines } = await writeLog(t)
  const tenth = JSON.parse(lines[9]!) as Record<string, unknown>
  const { hash: _h, ...fields } = tenth
  // A forger who read the log: seq and prev are right, the hash is the record's own.
  const forged = sealRecord({ ...fields, seq: 11, prev: tenth.hash, action: 'flag', requestId: 'req-forged' }).line
  lines.splice(10, 0, forged)
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'inserted', file, line: 11, seq: 11 }])
})

t.test('a forged record inserted with made-up seq and prev', async (t) => {
  const { file, lines } = await writeLog(t)
  const { hash: _h, ...fields } = JSON.parse(lines[9]!) as Record<string, unknown>
  lines.splice(10, 0, sealRecord({ ...fields, seq: 500, prev: 'ab'.repeat(32) }).line)
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'inserted', file, line: 11, seq: 500 }])
})

t.test('a record rewritten with a recomputed hash', async (t) => {
  const { file, lines } = await writeLog(t)
  const { hash: _h, ...fields } = JSON.parse(lines[9]!) as Record<string, unknown>
  lines[9] = sealRecord({ ...fields, action: 'flag' }).line
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'edited', file, line: 10, seq: 10, message: /recomputed hash/ }])
})

t.test('a record re-serialized (same content, other bytes) is an edit', async (t) => {
  const { file, lines } = await writeLog(t)
  lines[4] = JSON.stringify(JSON.parse(lines[4]!), null, 1).replace(/\n/g, '')
  await rewrite(file, lines)
  const { report } = await verifyJson([file])
  t.match(report.problems, [{ classification: 'edited', line: 5, message: /canonical/ }])
})

t.test('a tail cut mid-line is torn; cut at a record boundary it is truncated against the checkpoint copy', async (t) => {
  const dir = await tmpDir(t)
  const copyFile = path.join(dir, 'checkpoints.jsonl')
  const { file, lines } = await writeLog(t, 10, copyFile)
  const full = await fs.readFile(file)

  await fs.writeFile(file, full.subarray(0, full.length - 20))
  let { code, report } = await verifyJson([file])
  t.equal(code, 1)
  t.match(report.problems, [{ classification: 'torn', file, line: lines.length, message: /no recovery record acknowledges/ }])

  // Whole records removed: the chain itself is intact, only a checkpoint kept elsewhere tells.
  await rewrite(file, lines.slice(0, 25))
  ;({ code } = await verifyJson([file]))
  t.equal(code, 0, 'undetectable without a checkpoint copy')
  ;({ code, report } = await verifyJson([file, '--checkpoints', copyFile]))
  t.equal(code, 1)
  t.match(report.problems, [{ classification: 'truncated', file, line: 25, seq: 25, message: /records after seq 25 are missing/ }])

  await fs.writeFile(file, full)
  ;({ code, report } = await verifyJson([file, '--checkpoints', copyFile]))
  t.equal(code, 0, 'the whole log passes through every checkpoint copy')
  const copies = (await fs.readFile(copyFile, 'utf8')).trim().split('\n')
  t.ok(copies.length >= 4, `${copies.length} checkpoint copies`)

  await fs.rm(path.dirname(file), { recursive: true })
  await fs.mkdir(path.dirname(file))
  await fs.writeFile(file, '')
  ;({ report } = await verifyJson([file, '--checkpoints', copyFile]))
  t.match(report.problems, [{ classification: 'truncated', writer: 'pod-a', message: /no record of writer pod-a/ }], 'a log emptied entirely')
})

t.test('the first problem is reported per writer, writers apart, files in index order', async (t) => {
  const root = await tmpDir(t)
  for (const writer of ['pod-a', 'pod-b']) {
    const w = await startWriter({ root, writer, maxFileBytes: 2048 })
    for (let i = 0; i < 30; i++) w.emit(decision(i))
    t.ok(await w.close(5000))
  }
  const a = await logFiles(root, 'pod-a')
  const b = await logFiles(root, 'pod-b')
  t.ok(a.length > 2)
  // Files given shuffled and mixed: verify sorts them.
  const all = [...a, ...b].reverse()
  let r = await verifyJson(all)
  t.equal(r.code, 0, JSON.stringify(r.report.problems))

  const second = (await fs.readFile(b[1]!, 'utf8')).split('\n').slice(0, -1)
  second.splice(2, 1)
  await rewrite(b[1]!, second)
  const thirdOfA = (await fs.readFile(a[2]!, 'utf8')).split('\n').slice(0, -1)
  thirdOfA[0] = thirdOfA[0]!.replace('"req-', '"REQ-')
  await rewrite(a[2]!, thirdOfA)
  r = await verifyJson(all)
  t.equal(r.code, 1)
  t.match(r.report.problems, [
    { writer: 'pod-a', classification: 'edited', file: a[2], line: 1 },
    { writer: 'pod-b', classification: 'deleted', file: b[1], line: 3 },
  ])
})

t.test('usage errors exit 2', async (t) => {
  t.equal((await audit(['verify'])).code, 2)
  t.equal((await audit(['verify', '--nope', 'x'])).code, 2)
  t.equal((await audit(['verify', '/nonexistent/audit-000001.jsonl'])).code, 2)
  t.equal((await audit(['verify', '--public-key', '/nonexistent.pem', 'x'])).code, 2)
  t.equal((await audit(['frobnicate'])).code, 2)
  t.equal((await audit([])).code, 2)
  t.equal((await audit(['--help'])).code, 0)
  const help = await audit(['verify', '--help'])
  t.equal(help.code, 0)
  t.match(help.out, /--checkpoints FILE/)
})
