import t from 'tap'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { SnapshotStore } from '../../../src/core/config/store.js'
import { ConfigReloader, type ReloadResult } from '../../../src/io/config/reloader.js'
import { captureLog } from '../../helpers/capture-log.js'
import { FAKE_FACTORIES, policy, type FakePorts } from '../../helpers/fake-factories.js'
import { tmpDir } from '../../helpers/tmp-dir.js'

const GOOD = policy('main', '  gate:\n    limit: 1\n')
const GOOD2 = policy('main', '  gate:\n    limit: 2\n')
const BAD = policy('main', '  gate:\n    limit: many\n')

async function setup(t: { teardown(fn: () => unknown): void }, files: Record<string, string>) {
  const dir = await tmpDir(t, 'chaperone-reload-')
  for (const [name, content] of Object.entries(files)) await fs.writeFile(path.join(dir, name), content)
  const store = new SnapshotStore()
  const log = captureLog()
  const results: ReloadResult[] = []
  const ports: FakePorts = { compiled: [] }
  const reloader = new ConfigReloader({ dir, factories: FAKE_FACTORIES, ports, store, log, onResult: (r) => results.push(r) })
  const write = (name: string, content: string) => fs.writeFile(path.join(dir, name), content)
  return { dir, store, log, results, ports, reloader, write }
}

t.test('success loads version 1, then unchanged, then version 2', async (t) => {
  const { store, reloader, write, results, log } = await setup(t, { 'p.yaml': GOOD })
  t.equal(store.current(), undefined)
  const first = await reloader.reload('startup')
  t.match(first, { outcome: 'success', version: 1, reason: 'startup' })
  t.equal(store.current()?.version, 1)
  t.same(store.current()?.spec.gate, { limit: 1, settings: { mode: 'strict', nested: {} } })
  t.ok(store.lastAttemptAt instanceof Date)

  const again = await reloader.reload('SIGHUP')
  t.match(again, { outcome: 'unchanged', version: 1 })
  t.equal(store.current()?.version, 1, 'no version bump')

  await write('p.yaml', GOOD2)
  t.match(await reloader.reload('file change'), { outcome: 'success', version: 2 })
  t.equal(store.current()?.version, 2)
  t.same(
    results.map((r) => r.outcome),
    ['success', 'unchanged', 'success'],
  )
  t.same(reloader.counts, { success: 2, unchanged: 1, error: 0 })
  t.equal(log.messages('info').filter((m) => m === 'policy loaded').length, 2)
})

t.test('an error keeps the last good snapshot, sets lastError and logs file:path', async (t) => {
  const { store, reloader, write, log } = await setup(t, { 'p.yaml': GOOD })
  await reloader.reload('startup')
  const good = store.current()
  await write('p.yaml', BAD)
  const r = await reloader.reload('file change')
  t.equal(r.outcome, 'error')
  t.equal(r.version, 1)
  t.same(r.errors?.map((e) => `${e.file}:${e.path}`), ['p.yaml:spec.gate.limit'])
  t.equal(store.current(), good, 'the very same snapshot object is still live')
  t.match(store.lastError?.messages, [/^p\.yaml:spec\.gate\.limit: /])
  t.match(log.messages('error'), [/^p\.yaml:spec\.gate\.limit: /])
  t.same(reloader.counts, { success: 1, unchanged: 0, error: 1 })

  // Reverting to the live content is "unchanged" and clears the error.
  await write('p.yaml', GOOD)
  t.match(await reloader.reload('file change'), { outcome: 'unchanged', version: 1 })
  t.equal(store.lastError, undefined)

  // Fixing forward is a success and clears it too.
  await write('p.yaml', BAD)
  await reloader.reload('file change')
  t.ok(store.lastError)
  await write('p.yaml', GOOD2)
  t.match(await reloader.reload('file change'), { outcome: 'success', version: 2 })
  t.equal(store.lastError, undefined)
})

t.test('a first load that fails leaves the store empty', async (t) => {
  const { store, reloader } = await setup(t, { 'p.yaml': BAD })
  const r = await reloader.reload('startup')
  t.equal(r.outcome, 'error')
  t.equal(r.version, undefined)
  t.equal(store.current(), undefined)
  t.ok(store.lastError)
})

t.test('an unreadable directory is an error, not a crash', async (t) => {
  const { dir, store, reloader } = await setup(t, { 'p.yaml': GOOD })
  await reloader.reload('startup')
  await fs.rm(dir, { recursive: true })
  const r = await reloader.reload('file change')
  t.equal(r.outcome, 'error')
  t.match(r.errors, [{ path: '(root)', message: /cannot read config directory/ }])
  t.equal(store.current()?.version, 1)
})

t.test('concurrent requests coalesce into exactly one follow-up reload', async (t) => {
  const { reloader, write, results, store } = await setup(t, { 'p.yaml': GOOD })
  const first = reloader.reload('a')
  // Requested while "a" runs: they share one follow-up, which sees the newest files.
  const b = reloader.reload('b')
  const c = reloader.reload('c')
  const d = reloader.reload('d')
  t.equal(b, c)
  t.equal(c, d)
  await write('p.yaml', GOOD2)
  const [ra, rb] = await Promise.all([first, b, c, d])
  t.equal(results.length, 2, 'two reloads ran, not four')
  t.equal(ra?.reason, 'a')
  t.equal(rb?.reason, 'b')
  // Whether "a" read before or after the write, the follow-up ends on the newest content.
  t.equal((store.current()?.spec.gate as { limit: number } | undefined)?.limit, 2)
  // Once idle, a new request runs at once.
  t.match(await reloader.reload('e'), { outcome: 'unchanged', reason: 'e' })
  t.equal(results.length, 3)
})

t.test('chaperone.yaml is read at start only: a change is logged, not applied', async (t) => {
  const { reloader, write, log, store } = await setup(t, { 'p.yaml': GOOD, 'chaperone.yaml': 'listen: 0.0.0.0:1\n' })
  await reloader.reload('startup')
  t.same(store.current()?.policies, ['main'], 'chaperone.yaml is not a policy')
  await write('chaperone.yaml', 'listen: 0.0.0.0:2\n')
  t.match(await reloader.reload('file change'), { outcome: 'unchanged' })
  t.match(log.messages('warn'), [/chaperone\.yaml changed: it is read only at start/])
})

t.test('a throwing onResult does not break reloads', async (t) => {
  const { dir, store } = await setup(t, { 'p.yaml': GOOD })
  const log = captureLog()
  // With the subPath check on, which finds nothing in a tmp dir.
  const reloader = new ConfigReloader({ dir, factories: FAKE_FACTORIES, ports: { compiled: [] }, store, log, detectSubPath: true, onResult: () => {
    throw new Error('metrics down')
  } })
  t.match(await reloader.reload('startup'), { outcome: 'success' })
  t.same(log.messages('warn'), ['reload result callback failed'])
})
