import { promises as fs } from 'node:fs'
import t, { type Test } from 'tap'
import { parseTimeBound } from '../../src/core/audit/query.js'
import { audit, decision, logFiles, startWriter } from '../helpers/audit.js'
import { tmpDir } from '../helpers/tmp-dir.js'

const DAY = 86_400_000
const NOW = Date.parse('2025-06-30T12:00:00.000Z')

/**
 * Two writers; decisions spread over 120 days before NOW (the writer's clock is pinned per
 * record), rules r0-r2, regions eu/us/none, actions block/redact/flag.
 */
async function dataset(t: Test): Promise<string[]> {
  const root = await tmpDir(t)
  for (const writer of ['pod-a', 'pod-b']) {
    let clock = NOW - 120 * DAY
    const w = await startWriter({ root, writer, options: { now: () => clock } })
    for (let i = 0; i < 120; i++) {
      clock = NOW - (120 - i) * DAY + 1000
      w.emit(decision(i, { rule: `r${i % 3}`, action: ['block', 'redact', 'flag'][i % 3 === 0 ? 0 : i % 2 === 0 ? 1 : 2]!, region: i % 5 === 0 ? null : i % 2 === 0 ? 'eu' : 'us', shadow: i % 10 === 0 }))
    }
    w.emit({ kind: 'reload', oldVersion: 'v1', newVersion: 'v2', outcome: 'success', reason: 'changed', errors: 0 })
    await w.close()
  }
  return [...(await logFiles(root, 'pod-a')), ...(await logFiles(root, 'pod-b'))]
}

const now = () => NOW

t.test('filters combine; records print as JSON lines, unchanged', async (t) => {
  const files = await dataset(t)
  const r = await audit(['query', ...files, '--action', 'block', '--rule', 'r0', '--since', '90d'], now)
  t.equal(r.code, 0)
  const lines = r.out.trim().split('\n')
  const recs = lines.map((l) => JSON.parse(l) as Record<string, string>)
  t.ok(recs.length > 0)
  for (const rec of recs) {
    t.equal(rec.action, 'block')
    t.equal(rec.rule, 'r0')
    t.ok(Date.parse(rec.at!) >= NOW - 90 * DAY)
  }
  // Every i ≡ 0 (mod 3) decision of the last 90 days, from both writers.
  const expected = 2 * Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 3 === 0 && NOW - (120 - i) * DAY + 1000 >= NOW - 90 * DAY).length
  t.equal(recs.length, expected)
  const raw = await Promise.all(files.map((f) => fs.readFile(f, 'utf8')))
  for (const l of lines) t.ok(raw.some((text) => text.includes(l + '\n')), 'printed as written')
})

t.test('every block for rule X in the last 90 days by region', async (t) => {
  const files = await dataset(t)
  const r = await audit(['query', ...files, '--action', 'block', '--rule', 'r0', '--since', '90d', '--group-by', 'region', '--json'], now)
  t.equal(r.code, 0)
  const out = JSON.parse(r.out) as { groupBy: string[]; total: number; groups: { key: { region: string }; count: number }[] }
  t.same(out.groupBy, ['region'])
  const listed = (await audit(['query', ...files, '--action', 'block', '--rule', 'r0', '--since', '90d'], now)).out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { region?: string })
  const byRegion = new Map<string, number>()
  for (const rec of listed) byRegion.set(rec.region ?? '(none)', (byRegion.get(rec.region ?? '(none)') ?? 0) + 1)
  t.same(Object.fromEntries(out.groups.map((g) => [g.key.region, g.count])), Object.fromEntries(byRegion))
  t.equal(out.total, listed.length)
  t.ok(byRegion.has('(none)') && byRegion.has('eu') && byRegion.has('us'))
  const text = await audit(['query', ...files, '--action', 'block', '--rule', 'r0', '--since', '90d', '--group-by', 'region'], now)
  t.match(text.out, /^region\tcount\n/)
  t.match(text.out, new RegExp(`\\ntotal\\t${out.total}\\n$`))
})

t.test('group by several fields and by day; kinds, shadow, until', async (t) => {
  const files = await dataset(t)
  const byDay = JSON.parse((await audit(['query', ...files, '--kind', 'decision', '--group-by', 'day,writer', '--json', '--since', '2025-06-01', '--until', '2025-06-11'], now)).out) as { groups: { key: Record<string, string>; count: number }[]; total: number }
  t.equal(byDay.total, 20, '10 days, one decision a day per writer')
  t.ok(byDay.groups.every((g) => g.count === 1 && /^2025-06-(0[1-9]|10)$/.test(g.key.day!)))
  const reloads = await audit(['query', ...files, '--kind', 'reload'], now)
  t.equal(reloads.out.trim().split('\n').length, 2)
  const shadow = JSON.parse((await audit(['query', ...files, '--shadow', '--group-by', 'kind', '--json'], now)).out) as { total: number }
  t.equal(shadow.total, 24)
  const enforced = JSON.parse((await audit(['query', ...files, '--enforced', '--kind', 'decision', '--group-by', 'kind', '--json'], now)).out) as { total: number }
  t.equal(enforced.total, 240 - 24)
})

t.test('lines that are not records are skipped with a warning; usage errors exit 2', async (t) => {
  const files = await dataset(t)
  await fs.appendFile(files[0]!, '{"torn":')
  const r = await audit(['query', files[0]!, '--kind', 'reload'], now)
  t.equal(r.code, 0)
  t.match(r.err, /1 line skipped/)
  t.equal((await audit(['query'])).code, 2)
  t.equal((await audit(['query', files[0]!, '--group-by', 'colour'])).code, 2)
  t.equal((await audit(['query', files[0]!, '--since', 'last tuesday'])).code, 2)
  t.equal((await audit(['query', files[0]!, '--shadow', '--enforced'])).code, 2)
  t.equal((await audit(['query', '/nonexistent/file.jsonl'])).code, 2)
  const help = await audit(['query', '--help'])
  t.equal(help.code, 0)
  t.match(help.out, /--group-by FIELD/)
})

t.test('time bounds', async (t) => {
  t.equal(parseTimeBound('90d', NOW), NOW - 90 * DAY)
  t.equal(parseTimeBound('2w', NOW), NOW - 14 * DAY)
  t.equal(parseTimeBound('12h', NOW), NOW - 12 * 3_600_000)
  t.equal(parseTimeBound('2025-01-01', NOW), Date.parse('2025-01-01T00:00:00Z'))
  t.equal(parseTimeBound('2025-01-01T10:00:00+02:00', NOW), Date.parse('2025-01-01T08:00:00Z'))
  t.equal(parseTimeBound('yesterday', NOW), undefined)
  t.equal(parseTimeBound('12', NOW), undefined)
})
