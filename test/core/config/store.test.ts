import t from 'tap'
import { SnapshotStore } from '../../../src/core/config/store.js'
import type { PolicySnapshot } from '../../../src/core/config/snapshot.js'

const snap = (version: number): PolicySnapshot => ({ version, digest: `d${version}`, loadedAt: new Date(0), files: [], policies: [], spec: {}, chain: [], responseHooks: false, requestBody: false, warnings: [] })

t.test('current() is undefined until the first swap, then the latest snapshot', async (t) => {
  const s = new SnapshotStore()
  t.equal(s.current(), undefined)
  const one = snap(1)
  s.swap(one)
  t.equal(s.current(), one)
  const held = s.current()
  s.swap(snap(2))
  t.equal(s.current()?.version, 2)
  t.equal(held, one, 'a reader keeps the snapshot it took')
})

t.test('failures are recorded with rendered messages and can be cleared', async (t) => {
  const s = new SnapshotStore()
  t.equal(s.lastError, undefined)
  t.equal(s.lastAttemptAt, undefined)
  const at = new Date(5)
  s.recordAttempt(at)
  s.recordFailure([{ file: 'a.yaml', path: 'spec.x', message: 'bad' }], at)
  t.equal(s.lastAttemptAt, at)
  t.same(s.lastError?.messages, ['a.yaml:spec.x: bad'])
  t.equal(s.lastError?.at, at)
  t.ok(Object.isFrozen(s.lastError?.errors))
  s.clearFailure()
  t.equal(s.lastError, undefined)
})
