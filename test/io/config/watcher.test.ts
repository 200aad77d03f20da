import t from 'tap'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { SnapshotStore } from '../../../src/core/config/store.js'
import { ConfigReloader, type ReloadResult } from '../../../src/io/config/reloader.js'
import { ConfigWatcher, type ConfigWatcherOptions } from '../../../src/io/config/watcher.js'
import { captureLog } from '../../helpers/capture-log.js'
import { FAKE_FACTORIES, policy } from '../../helpers/fake-factories.js'
import { createKubeletVolume, updateKubeletVolume } from '../../helpers/kubelet.js'
import { tmpDir } from '../../helpers/tmp-dir.js'

const limitPolicy = (limit: number | string) => policy('main', `  gate:\n    limit: ${limit}\n`)

/** Polls until `cond` holds; fails the test after `timeoutMs` instead of hanging. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

type Harness = Awaited<ReturnType<typeof harness>>

async function harness(t: { teardown(fn: () => unknown): void }, dir: string, watch: Partial<ConfigWatcherOptions> = {}) {
  const store = new SnapshotStore()
  const log = captureLog()
  const results: ReloadResult[] = []
  const reloader = new ConfigReloader({ dir, factories: FAKE_FACTORIES, ports: { compiled: [] }, store, log, onResult: (r) => results.push(r) })
  await reloader.reload('startup')
  const watcher = new ConfigWatcher({
    dir,
    debounceMs: 100,
    hashCheckIntervalMs: 0,
    onChange: (reason) => reloader.reload(reason),
    lastFingerprint: () => reloader.lastFingerprint,
    log,
    ...watch,
  })
  await watcher.start()
  t.teardown(() => watcher.close())
  const limit = () => (store.current()?.spec.gate as { limit?: number } | undefined)?.limit
  return { store, log, results, reloader, watcher, limit }
}

/** Every reload asked for has run and none is scheduled. */
const settled = (h: Harness) => () => h.watcher.idle

t.test('a kubelet ..data swap triggers one reload', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  await createKubeletVolume(dir, { 'p.yaml': limitPolicy(1) })
  const h = await harness(t, dir, { debounceMs: 250 })
  t.equal(h.store.current()?.version, 1)

  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy(2) })
  await waitFor('version 2', () => h.store.current()?.version === 2)
  t.equal(h.limit(), 2)
  await waitFor('watcher idle', settled(h))
  t.same(
    h.results.map((r) => `${r.reason}:${r.outcome}`),
    ['startup:success', 'file change:success'],
    'the burst of events of one swap is one reload',
  )
  t.ok((h.watcher.stats.events.get('change') ?? 0) > 0, 'chokidar reported the swap as change events')
  t.comment(`events of one kubelet swap: ${JSON.stringify([...h.watcher.stats.events])}`)

  // Adding and dropping files is a swap too.
  await updateKubeletVolume(dir, { 'q.yaml': policy('other', '  tail: {}\n') })
  await waitFor('policy "other"', () => h.store.current()?.policies[0] === 'other')
  t.same(h.store.current()?.policies, ['other'])
  t.same(
    h.store.current()?.files.map((f) => f.name),
    ['q.yaml'],
  )
})

t.test('a config dir reached through a symlink is watched inside', async (t) => {
  const base = await tmpDir(t, 'chaperone-watch-')
  const real = path.join(base, 'volume')
  await createKubeletVolume(real, { 'p.yaml': limitPolicy(1) })
  const link = path.join(base, 'config')
  await fs.symlink(real, link)
  const h = await harness(t, link)
  await updateKubeletVolume(real, { 'p.yaml': limitPolicy(2) })
  await waitFor('version 2', () => h.store.current()?.version === 2)
  t.equal(h.limit(), 2)
})

t.test('a bad kubelet update keeps the last good policy until the next good one', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  await createKubeletVolume(dir, { 'p.yaml': limitPolicy(1) })
  const h = await harness(t, dir)
  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy('oops') })
  await waitFor('an error', () => h.store.lastError !== undefined)
  t.equal(h.store.current()?.version, 1)
  t.equal(h.limit(), 1)
  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy(3) })
  await waitFor('version 2', () => h.store.current()?.version === 2)
  t.equal(h.limit(), 3)
  t.equal(h.store.lastError, undefined)
})

t.test('an in-place edit of a plain file triggers a reload', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  const file = path.join(dir, 'p.yaml')
  await fs.writeFile(file, limitPolicy(1))
  const h = await harness(t, dir)
  await fs.writeFile(file, limitPolicy(2))
  await waitFor('version 2', () => h.store.current()?.version === 2)
  t.equal(h.limit(), 2)
  // A new file appearing counts as well.
  await fs.writeFile(path.join(dir, 'q.yaml'), policy('second', '  tail: {}\n'))
  await waitFor('version 3', () => h.store.current()?.version === 3)
  t.same(h.store.current()?.policies, ['main', 'second'])
})

t.test('a burst of 20 rapid edits gives at most 3 reloads and ends on the final content', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  const file = path.join(dir, 'p.yaml')
  await fs.writeFile(file, limitPolicy(0))
  const h = await harness(t, dir, { debounceMs: 250 })
  for (let i = 1; i <= 20; i++) await fs.writeFile(file, limitPolicy(i))
  await waitFor('final content', () => h.limit() === 20)
  await waitFor('watcher idle', settled(h))
  const reloads = h.results.filter((r) => r.reason !== 'startup')
  t.ok(reloads.length >= 1 && reloads.length <= 3, `${reloads.length} reloads`)
  t.equal(h.limit(), 20)
})

t.test('the periodic content check catches a change without any file event', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  await createKubeletVolume(dir, { 'p.yaml': limitPolicy(1) })
  const h = await harness(t, dir, { fsEvents: false, hashCheckIntervalMs: 100 })
  // Nothing changed: checks run and ask for nothing.
  await waitFor('3 checks', () => h.watcher.stats.checks >= 3)
  t.equal(h.watcher.stats.triggered, 0)

  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy(2) })
  await waitFor('version 2', () => h.store.current()?.version === 2)
  t.equal(h.limit(), 2)
  t.same(
    h.results.map((r) => r.reason),
    ['startup', 'content check'],
  )

  // A bad file is reported once, not once per check: it is retried on the next change.
  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy('bad') })
  await waitFor('an error', () => h.store.lastError !== undefined)
  const checks = h.watcher.stats.checks
  await waitFor('3 more checks', () => h.watcher.stats.checks >= checks + 3)
  t.equal(h.results.filter((r) => r.outcome === 'error').length, 1)
  t.equal(h.store.current()?.version, 2)
})

t.test('without lastFingerprint the content check tracks what it saw', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  await createKubeletVolume(dir, { 'p.yaml': limitPolicy(1) })
  const h = await harness(t, dir, { fsEvents: false, hashCheckIntervalMs: 100, lastFingerprint: undefined })
  await waitFor('3 checks', () => h.watcher.stats.checks >= 3)
  t.equal(h.watcher.stats.triggered, 0)
  await updateKubeletVolume(dir, { 'p.yaml': limitPolicy(2) })
  await waitFor('version 2', () => h.store.current()?.version === 2)
  const checks = h.watcher.stats.checks
  await waitFor('3 more checks', () => h.watcher.stats.checks >= checks + 3)
  t.equal(h.watcher.stats.triggered, 1, 'one reload per change')
})

t.test('close() stops events and checks', async (t) => {
  const dir = await tmpDir(t, 'chaperone-watch-')
  const file = path.join(dir, 'p.yaml')
  await fs.writeFile(file, limitPolicy(1))
  const h = await harness(t, dir, { hashCheckIntervalMs: 50 })
  await waitFor('a check', () => h.watcher.stats.checks >= 1)
  await h.watcher.close()
  const checks = h.watcher.stats.checks
  // A twin watcher, still open, with the same timings: once it has reacted to the edit and
  // run more checks, the closed one would have too.
  let seen = 0
  const twin = new ConfigWatcher({ dir, debounceMs: 100, hashCheckIntervalMs: 50, onChange: () => void seen++, lastFingerprint: () => h.reloader.lastFingerprint })
  await twin.start()
  t.teardown(() => twin.close())
  await fs.writeFile(file, limitPolicy(2))
  await waitFor('the twin to react', () => seen > 0 && twin.idle)
  const twinChecks = twin.stats.checks
  await waitFor('two more twin checks', () => twin.stats.checks >= twinChecks + 2)
  t.equal(h.watcher.stats.triggered, 0)
  t.equal(h.watcher.stats.checks, checks)
  t.equal(h.store.current()?.version, 1)
})
