import t from 'tap'
import type { Revocation } from '../../../src/core/ports.js'
import { MemoryRevocationStore } from '../../../src/io/revocation/memory-store.js'
import { RevocationStoreFullError } from '../../../src/io/revocation/revocation-entry.js'
import { RevocationSet } from '../../../src/io/revocation/revocation-set.js'

const ISS = 'https://idp.example'
/** Epoch seconds the tests' clock starts at. */
const T0 = 1_700_000_000

function clock() {
  let ms = T0 * 1000
  return { now: () => ms, advance: (s: number) => void (ms += s * 1000) }
}

const jti = (id: string, extra: Partial<Revocation> = {}): Revocation => ({ kind: 'jti', jti: id, expiresAt: T0 + 3600, createdAt: T0, ...extra }) as Revocation
const subject = (sub: string, revokedBefore: number, extra: Partial<Revocation> = {}): Revocation =>
  ({ kind: 'subject', subject: sub, revokedBefore, expiresAt: T0 + 3600, createdAt: T0, ...extra }) as Revocation

t.test('a revoked jti matches tokens carrying it, from any issuer unless the entry names one', async (t) => {
  const store = new MemoryRevocationStore({ now: clock().now })
  await store.add(jti('j1'))
  await store.add(jti('j2', { issuer: ISS }))
  t.ok(store.isRevoked({ issuer: ISS, jti: 'j1' }))
  t.ok(store.isRevoked({ issuer: 'https://other', jti: 'j1' }), 'an unscoped entry covers every issuer')
  t.ok(store.isRevoked({ issuer: ISS, jti: 'j2' }))
  t.notOk(store.isRevoked({ issuer: 'https://other', jti: 'j2' }), 'a scoped entry covers its issuer only')
  t.notOk(store.isRevoked({ issuer: ISS, jti: 'j3' }))
  t.notOk(store.isRevoked({ issuer: ISS, subject: 'j1' }), 'a jti entry does not match a subject of the same name')
  t.equal(store.staleness(), 0)
})

t.test('a subject entry covers tokens issued before revokedBefore, and tokens without iat', async (t) => {
  const store = new MemoryRevocationStore({ now: clock().now })
  await store.add(subject('alice', T0))
  t.ok(store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: T0 - 1 }), 'issued before')
  t.notOk(store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: T0 }), 'issued at revokedBefore: a fresh login')
  t.notOk(store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: T0 + 10 }), 'issued after')
  t.ok(store.isRevoked({ issuer: ISS, subject: 'alice' }), 'no iat: cannot prove it is newer')
  t.notOk(store.isRevoked({ issuer: ISS, subject: 'bob' }))
})

t.test('issuer scoping keeps tenants apart when subjects collide', async (t) => {
  const store = new MemoryRevocationStore({ now: clock().now })
  await store.add(subject('u1', T0, { issuer: 'https://tenant-a' }))
  t.ok(store.isRevoked({ issuer: 'https://tenant-a', subject: 'u1', issuedAt: T0 - 5 }))
  t.notOk(store.isRevoked({ issuer: 'https://tenant-b', subject: 'u1', issuedAt: T0 - 5 }))
  // Issuers holding the separator of a naive "issuer|subject" key must not collide either.
  await store.add(subject('c', T0, { issuer: 'a|b' }))
  t.notOk(store.isRevoked({ issuer: 'a', subject: 'b|c', issuedAt: T0 - 5 }))
})

t.test('entries stop matching when they expire, and expired ones are pruned', async (t) => {
  const c = clock()
  const store = new MemoryRevocationStore({ now: c.now })
  await store.add(jti('short', { expiresAt: T0 + 10 }))
  await store.add(subject('alice', T0, { expiresAt: T0 + 20 }))
  await store.add(jti('long'))
  c.advance(10)
  t.notOk(store.isRevoked({ issuer: ISS, jti: 'short' }), 'expired at expiresAt')
  t.ok(store.isRevoked({ issuer: ISS, subject: 'alice' }))
  c.advance(10)
  t.notOk(store.isRevoked({ issuer: ISS, subject: 'alice' }))
  t.same((await store.list()).map((e) => (e.kind === 'jti' ? e.jti : e.subject)), ['long'])
})

t.test('adding again replaces; remove with an issuer takes that scope, without one every scope', async (t) => {
  const store = new MemoryRevocationStore({ now: clock().now })
  await store.add(subject('alice', T0))
  await store.add(subject('alice', T0 + 100))
  t.equal((await store.list()).length, 1, 'one entry per kind, key and issuer')
  t.ok(store.isRevoked({ issuer: ISS, subject: 'alice', issuedAt: T0 + 50 }), 'the later revokedBefore applies')

  await store.add(jti('j', { issuer: 'https://a' }))
  await store.add(jti('j', { issuer: 'https://b' }))
  await store.add(jti('j'))
  t.equal(await store.remove('jti', 'j', 'https://a'), 1)
  t.ok(store.isRevoked({ issuer: 'https://a', jti: 'j' }), 'the unscoped entry still covers https://a')
  t.equal(await store.remove('jti', 'j'), 2, 'the unscoped and https://b entries')
  t.notOk(store.isRevoked({ issuer: 'https://b', jti: 'j' }))
  t.equal(await store.remove('jti', 'j'), 0)
  t.equal(await store.remove('subject', 'alice', ''), 1, 'an empty issuer names the unscoped entry')
  t.same(await store.list(), [])
})

t.test('maxEntries bounds the store; expired entries make room; replacing needs none', async (t) => {
  const c = clock()
  const store = new MemoryRevocationStore({ now: c.now, maxEntries: 3 })
  await store.add(jti('a', { expiresAt: T0 + 10 }))
  await store.add(jti('b'))
  await store.add(jti('c'))
  await t.rejects(store.add(jti('d')), RevocationStoreFullError)
  await t.rejects(store.add(jti('d')), { message: /full.*3/ })
  t.notOk(store.isRevoked({ issuer: ISS, jti: 'd' }), 'a refused entry is not enforced')
  await store.add(jti('b', { reason: 'again' }))
  c.advance(10)
  await store.add(jti('d'))
  t.ok(store.isRevoked({ issuer: ISS, jti: 'd' }))
  t.equal((await store.list()).length, 3)
})

t.test('malformed entries are refused', async (t) => {
  const store = new MemoryRevocationStore()
  await t.rejects(store.add({ kind: 'jti', jti: '', expiresAt: T0, createdAt: T0 }), /jti/)
  await t.rejects(store.add({ kind: 'subject', subject: 's', expiresAt: T0, createdAt: T0 } as unknown as Revocation), /revokedBefore/)
  await t.rejects(store.add({ kind: 'jti', jti: 'x', expiresAt: Number.NaN, createdAt: T0 }), /expiresAt/)
  await t.rejects(store.add({ kind: 'jti', jti: 'x', expiresAt: T0, createdAt: T0, reason: 'r'.repeat(5000) }), /4096/)
  t.same(await store.list(), [])
})

t.test('a bounded sweep resumes where the last one stopped and drops only expired entries', async (t) => {
  const set = new RevocationSet()
  for (let i = 0; i < 10; i++) set.put(jti(`old${i}`, { expiresAt: T0 + 1 }))
  for (let i = 0; i < 10; i++) set.put(jti(`live${i}`))
  const later = (T0 + 2) * 1000
  t.equal(set.sweep(later, 4), 4, 'looks at 4 entries, all expired')
  t.equal(set.size, 16)
  t.equal(set.sweep(later, 4), 4, 'resumes after them')
  t.equal(set.sweep(later, 4), 2, 'then reaches the live ones')
  t.equal(set.size, 10)
  t.equal(set.sweep(later, 100), 0)
  t.equal(set.size, 10)
})
