import t from 'tap'
import { createHash } from 'node:crypto'
import { compilePolicies } from '../../../src/core/config/compile.js'
import { digestFiles } from '../../../src/core/config/digest.js'
import { formatConfigError } from '../../../src/core/config/errors.js'
import type { PolicySnapshot } from '../../../src/core/config/snapshot.js'
import { FAKE_FACTORIES, gate, policy, tail, type FakePorts } from '../../helpers/fake-factories.js'

const loadedAt = new Date('2026-01-02T03:04:05Z')

function snapshotOf(files: { name: string; content: string }[], ports: FakePorts = { compiled: [] }, factories = FAKE_FACTORIES): PolicySnapshot {
  const r = compilePolicies(files, factories, ports, { version: 7, loadedAt })
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'))
  return r.snapshot
}

const A = { name: 'a.yaml', content: policy('alpha', '  tail: {}\n  gate:\n    limit: 1\n') }
const B = { name: 'b.yml', content: policy('beta', '  gate:\n    roles: { x: {} }\n') }

t.test('the snapshot records version, time, files, policies and the merged spec', async (t) => {
  const s = snapshotOf([B, A])
  t.equal(s.version, 7)
  t.equal(s.loadedAt, loadedAt)
  t.same(s.policies, ['alpha', 'beta'])
  t.same(
    s.files.map((f) => f.name),
    ['a.yaml', 'b.yml'],
  )
  t.equal(s.files[0]!.sha256, createHash('sha256').update(A.content).digest('hex'))
  t.equal(s.files[0]!.bytes, Buffer.byteLength(A.content))
  t.same(s.spec, {
    gate: { limit: 1, roles: { x: { inherits: [] } }, settings: { mode: 'strict', nested: {} } },
    tail: { on: true },
  })
})

t.test('the chain follows registry order, not file order, and skips absent sections', async (t) => {
  const ports: FakePorts = { compiled: [] }
  const s = snapshotOf([{ name: 'a.yaml', content: policy('a', '  tail: {}\n') }, { name: 'b.yaml', content: policy('b', '  gate: {}\n') }], ports)
  t.same(
    s.chain.map((f) => f.name),
    ['gate', 'tail'],
  )
  t.same(ports.compiled, ['gate', 'tail'], 'compile got the ports object')
  const reversed = snapshotOf([A], { compiled: [] }, [tail, gate])
  t.same(
    reversed.chain.map((f) => f.name),
    ['tail', 'gate'],
  )
  t.same(snapshotOf([{ name: 'a.yaml', content: policy('a', '  tail: {}\n') }]).chain.map((f) => f.name), ['tail'])
})

t.test('the digest depends on names and contents, not on order', async (t) => {
  const d = snapshotOf([A, B]).digest
  t.match(d, /^[0-9a-f]{64}$/)
  t.equal(snapshotOf([B, A]).digest, d)
  t.equal(digestFiles([A, B]), d)
  t.not(snapshotOf([A, { ...B, name: 'c.yml' }]).digest, d)
  t.not(snapshotOf([A, { ...B, content: B.content + '# edit\n' }]).digest, d)
  // Bytes moved across the file boundary must not collide.
  t.not(digestFiles([{ name: 'a', content: 'xy' }, { name: 'b', content: 'z' }]), digestFiles([{ name: 'a', content: 'x' }, { name: 'b', content: 'yz' }]))
})

t.test('the snapshot is frozen', async (t) => {
  const s = snapshotOf([A, B])
  t.ok(Object.isFrozen(s))
  t.ok(Object.isFrozen(s.chain))
  t.ok(Object.isFrozen(s.files) && Object.isFrozen(s.files[0]))
  t.ok(Object.isFrozen(s.policies))
  const gateSpec = s.spec.gate as { roles: Record<string, { inherits: string[] }> }
  t.ok(Object.isFrozen(gateSpec.roles.x!.inherits))
  t.throws(() => {
    ;(s.policies as string[]).push('evil')
  })
})

t.test('compiling does not mutate or alias the caller-visible values across snapshots', async (t) => {
  const one = snapshotOf([A, B])
  const two = snapshotOf([A, B])
  t.not(one.spec.gate, two.spec.gate)
  t.same(one.spec, two.spec)
})
