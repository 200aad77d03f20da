import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { promises as fs, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { audit, logFiles, readRecords } from '../helpers/audit.js'
import { eventually } from '../helpers/eventually.js'
import { mulberry32 } from '../helpers/prng.js'
import { tmpDir } from '../helpers/tmp-dir.js'

// The writer runs from dist/ in a child process (npm test builds first), so kill -9 is real.
const SCRIPT = fileURLToPath(new URL('../fixtures/audit/writer-process.mjs', import.meta.url))

async function startChild(args: string[]): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done) throw new Error('the writer process exited before it was ready')
  return { child, firstLine: first.value }
}

function totalSize(root: string): number {
  const dir = path.join(root, 'pod-crash')
  try {
    return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0)
  } catch {
    return 0
  }
}

interface Verified {
  ok: boolean
  problems: unknown[]
  warnings: { kind: string }[]
  writers: { records: number; firstSeq: number; lastSeq: number }[]
}

t.test('kill -9 during writes, repeatedly: the chain resumes and verifies end to end, nothing earlier changes', async (t) => {
  const root = await tmpDir(t)
  const rnd = mulberry32(20250101)
  const snapshots: Map<string, Buffer>[] = []
  const rounds = 8
  let size = 0
  let cut = 0
  for (let round = 0; round < rounds; round++) {
    const { child } = await startChild([root, 'pod-crash', 'flood'])
    // Killed while it writes: once this run's records reach the disk, at a random moment after.
    t.ok(await eventually(() => totalSize(root) > size + 64 * 1024, 20_000), `run ${round + 1} writes`)
    await new Promise((r) => setTimeout(r, Math.floor(rnd() * 300)))
    child.kill('SIGKILL')
    await once(child, 'exit')
    // A kill lands inside a write (a multi-page write is cut at a page) only now and then; every
    // other round gets a cut write of its own: part of a line, as the kernel would leave it.
    if (round % 2 === 1) {
      const files = await logFiles(root, 'pod-crash')
      const last = files[files.length - 1]!
      const lines = (await fs.readFile(last, 'utf8')).split('\n')
      const line = lines[lines.length - 2] ?? '{"v":1'
      await fs.appendFile(last, line.slice(0, 1 + Math.floor(rnd() * (line.length - 2))))
      cut++
    }
    const snapshot = new Map<string, Buffer>()
    for (const f of await logFiles(root, 'pod-crash')) snapshot.set(f, await fs.readFile(f))
    snapshots.push(snapshot)
    size = totalSize(root)
  }
  // A last, clean run: it acknowledges the last crash's torn tail, if any.
  const { child } = await startChild([root, 'pod-crash', 'drain', '10'])
  child.kill('SIGTERM')
  await once(child, 'exit')

  const files = await logFiles(root, 'pod-crash')
  for (const [i, snapshot] of snapshots.entries()) {
    for (const [file, before] of snapshot) {
      const now = await fs.readFile(file)
      t.ok(now.length >= before.length && now.subarray(0, before.length).equals(before), `after kill ${i + 1}, ${file} only ever grew`)
    }
  }
  const r = await audit(['verify', '--json', ...files])
  const report = JSON.parse(r.out) as Verified
  t.equal(r.code, 0, JSON.stringify(report.problems))
  t.same(report.problems, [])
  const w = report.writers[0]!
  t.equal(w.firstSeq, 1)
  t.equal(w.records, w.lastSeq, 'seq continuous: as many records as the last seq')
  const records = await readRecords(files)
  const starts = records.filter((x) => x.kind === 'start')
  t.equal(starts.length, rounds + 1, 'one start record per process')
  const torn = report.warnings.filter((x) => x.kind === 'torn').length
  const recoveries = records.filter((x) => x.kind === 'recovery').length
  t.equal(recoveries, torn, 'every torn tail is acknowledged by a recovery record')
  t.ok(torn >= cut, `at least the ${cut} cut writes are torn tails`)
  t.comment(`${w.records} records over ${files.length} files, ${torn} torn tails acknowledged`)
  t.ok(w.records > rounds * 100, 'the writers got records out before each kill')
})

t.test('SIGTERM: close() drains the queue to disk before the process exits', async (t) => {
  const root = await tmpDir(t)
  const n = 30_000
  const { child, firstLine } = await startChild([root, 'pod-term', 'drain', String(n)])
  t.equal(firstLine, `emitted ${n}`)
  const out = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  child.kill('SIGTERM')
  const closed = await out.next()
  await once(child, 'exit')
  t.match(closed.value, /^closed true /)
  const files = await logFiles(root, 'pod-term')
  const records = await readRecords(files)
  t.equal(records.filter((x) => x.kind === 'decision').length, n, 'every emitted record is on disk')
  t.equal(records.at(-1)!.kind, 'checkpoint', 'a final checkpoint covers them')
  t.equal((await audit(['verify', ...files])).code, 0)
})
