import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { FileCheckpointCopy } from '../../src/io/audit/checkpoint-copy.js'
import { SpillFile } from '../../src/io/audit/spill.js'
import { decision, logFiles, readRecords, startWriter } from '../helpers/audit.js'
import { eventually } from '../helpers/eventually.js'
import { tmpDir } from '../helpers/tmp-dir.js'

/** Subjects and matched texts as the filters will hand them over: raw. */
const PII = [
  { subject: 'alice.martin@example.com', matches: ['alice.martin@example.com', '+33 6 12 34 56 78'] },
  { subject: 'user|4111111111111111', matches: ['4111 1111 1111 1111', '4111-1111-1111-1111'] },
  { subject: 'Bob Dupont', matches: ['FR76 3000 6000 0112 3456 7890 189', 'bob.dupont@corp.example'] },
  { subject: '078-05-1120', matches: ['078-05-1120', '(415) 555-2671'] },
  { subject: 'zoë.ünïcødé@exämple.de', matches: ['zoë.ünïcødé@exämple.de'] },
]

/** Every form a value could leak in: as is, lowercased, without separators, JSON-escaped. */
function forms(value: string): string[] {
  const compact = value.replace(/[\s.\-()|+]/g, '')
  return [...new Set([value, value.toLowerCase(), compact, JSON.stringify(value).slice(1, -1)])].filter((f) => f.length >= 6)
}

async function everything(dirs: string[]): Promise<string> {
  let all = ''
  for (const dir of dirs) {
    for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) all += await fs.readFile(path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), 'utf8')
    }
  }
  return all
}

t.test('no subject or matched text reaches the log, the checkpoint copy or the spill file', async (t) => {
  const root = await tmpDir(t)
  const elsewhere = await tmpDir(t)
  const spillDir = await tmpDir(t)
  // The sink fails first, so that records go through the spill file too.
  await fs.mkdir(path.join(root, 'pod-a'))
  const full = path.join(root, 'pod-a', 'audit-000001.jsonl')
  await fs.symlink('/dev/full', full)
  const w = await startWriter({
    root,
    writer: 'pod-a',
    options: {
      onFailure: 'buffer',
      spill: new SpillFile(path.join(spillDir, 'spill.jsonl'), 1 << 20),
      checkpoints: { everyRecords: 3, everyMs: 3_600_000, copy: new FileCheckpointCopy(path.join(elsewhere, 'cp.jsonl')) },
    },
  })
  let i = 0
  const emitAll = () => {
    for (const p of PII) w.emit(decision(i++, { subject: p.subject, matches: p.matches, excerpt: 'call me at [PHONE] or [EMAIL]', detail: { spans: p.matches.length } }))
  }
  emitAll()
  t.ok(await eventually(() => w.stats().spill!.records === PII.length))
  const spilled = await everything([spillDir])
  t.ok(spilled.length > 0)
  await fs.unlink(full)
  emitAll()
  t.ok(await w.close(5000))

  const written = await everything([root, elsewhere, spillDir])
  const files = await logFiles(root, 'pod-a')
  const decisions = (await readRecords(files)).filter((r) => r.kind === 'decision')
  t.equal(decisions.length, PII.length * 2)
  for (const p of PII) {
    for (const value of [p.subject, ...p.matches]) {
      for (const f of forms(value)) {
        t.notOk(spilled.includes(f), `the spill file does not hold ${JSON.stringify(f)}`)
        t.notOk(written.includes(f), `no output holds ${JSON.stringify(f)}`)
      }
      // Nor a plain (unkeyed) hash of it, which a dictionary would find.
      const plain = createHash('sha256').update(value).digest('hex')
      t.notOk(written.includes(plain.slice(0, 32)), `no unkeyed hash of ${JSON.stringify(value)}`)
    }
  }
  // What is kept instead: lengths and keyed hashes, the same text giving the same hash per subject.
  const first = decisions[0] as { spans: { length: number; hash: string }[]; excerpt: string }
  t.same(
    first.spans.map((s) => s.length),
    PII[0]!.matches.map((m) => m.length),
  )
  t.match(first.spans[0]!.hash, /^[0-9a-f]{32}$/)
  t.equal(first.excerpt, 'call me at [PHONE] or [EMAIL]', 'the masked excerpt is kept as given')
  t.same((decisions[PII.length] as typeof first).spans, first.spans, 'same subject, same text, same hashes: countable without the text')
})
