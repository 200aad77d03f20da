import t from 'tap'
import { canonicalizeTarget } from '../../../src/core/http/canonical-path.js'

// [target, canonical path, query] for accepted targets.
// A TAP-safe name: raw control and line-separator characters would break the TAP stream.
const label = (s: string): string => s.slice(0, 40).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

const ACCEPTED: [string, string, string][] = [
  ['/', '/', ''],
  ['/v1/chat/completions', '/v1/chat/completions', ''],
  ['/v1/chat/completions?stream=true', '/v1/chat/completions', '?stream=true'],
  ['/ADMIN', '/ADMIN', ''],
  ['/%61dmin', '/admin', ''],
  ['/%2e%2e', '/', ''],
  ['/%7E', '/~', ''],
  ['/a/%7euser', '/a/~user', ''],
  ['/a/%3a', '/a/%3A', ''],
  ['/a/%3A', '/a/%3A', ''],
  ['/a%3b', '/a%3B', ''],
  ['/a%2541', '/a%2541', ''],
  ['/%41%5a%30%2D%5F', '/AZ0-_', ''],
  ['//admin', '/admin', ''],
  ['/a///b', '/a/b', ''],
  ['/a//', '/a/', ''],
  ['///', '/', ''],
  ['/v1/public/../admin', '/v1/admin', ''],
  ['/v1/public/%2e%2e/admin', '/v1/admin', ''],
  ['/v1/public/%2E%2e/admin', '/v1/admin', ''],
  ['/v1/public/.%2e/admin', '/v1/admin', ''],
  ['/v1/public/%2e./admin', '/v1/admin', ''],
  ['/.%2e/', '/', ''],
  ['/a/./b', '/a/b', ''],
  ['/a/%2E/b', '/a/b', ''],
  ['/..', '/', ''],
  ['/../../..', '/', ''],
  ['/../admin', '/admin', ''],
  ['/a/b/..', '/a/', ''],
  ['/a/b/.', '/a/b/', ''],
  ['/a/..', '/', ''],
  ['/a//../b', '/b', ''],
  ['/a/b/../../../c/', '/c/', ''],
  // Three dots are a segment name, not a dot segment (RFC 3986 §5.2.4).
  ['/..%2e/', '/.../', ''],
  ['/.../a', '/.../a', ''],
  ['/.a/..b/a.', '/.a/..b/a.', ''],
  ['/a?b=%2F&c=../x', '/a', '?b=%2F&c=../x'],
  ['/a?', '/a', '?'],
  ['/a?x=1?y=;\\%00', '/a', '?x=1?y=;\\%00'],
  ['/../a?b=//c', '/a', '?b=//c'],
  ['/a|b^c[d]{e}`f"g<h>i j', '/a%7Cb%5Ec%5Bd%5D%7Be%7D%60f%22g%3Ch%3Ei%20j', ''],
  ["/a-._~!$&'()*+,=:@b", "/a-._~!$&'()*+,=:@b", ''],
]

// [target, reason] for refused targets.
const REFUSED: [string, string][] = [
  ['/admin#x', 'fragment'],
  ['/a?b#c', 'fragment'],
  ['/a?#', 'fragment'],
  ['/%00', 'encoded nul'],
  ['/a%2500', 'encoded nul'],
  ['/a%252500', 'encoded nul'],
  ['/a\0b', 'nul'],
  ['/a%2Fb', 'encoded slash'],
  ['/a%2fb', 'encoded slash'],
  ['/a%252Fb', 'encoded slash'],
  ['/a%252fb', 'encoded slash'],
  ['/a%25252F', 'encoded slash'],
  ['/a%25252f', 'encoded slash'],
  ['/a%5Cb', 'encoded backslash'],
  ['/a%5cb', 'encoded backslash'],
  ['/a%255c', 'encoded backslash'],
  ['/a%255C', 'encoded backslash'],
  // Decoding an unreserved escape must not assemble a double encoding the check then misses.
  ['/a%25%32%46', 'encoded slash'],
  ['/a%25%32f', 'encoded slash'],
  ['/a%25%30%30', 'encoded nul'],
  // Dot segments must not remove an encoded separator before it is seen.
  ['/a%2F/../b', 'encoded slash'],
  ['/a\\b', 'backslash'],
  ['/admin;x=y', 'path parameter'],
  ['/admin;', 'path parameter'],
  ['/a;/b', 'path parameter'],
  ['/a\tb', 'control character'],
  ['/a\rb', 'control character'],
  ['/a\x1fb', 'control character'],
  ['/a\x7fb', 'control character'],
  ['/%', 'malformed escape'],
  ['/a%G1', 'malformed escape'],
  ['/a%4', 'malformed escape'],
  ['/a%4?x', 'malformed escape'],
  ['/a%%41', 'malformed escape'],
  ['/a%u002F', 'malformed escape'],
  ['/caf\u00e9', 'non-ascii byte'],
  ['/a\u00ffb', 'non-ascii byte'],
  ['/a\u2028', 'non-ascii byte'],
  ['/' + 'a'.repeat(8192), 'target too long'],
  ['', 'not origin-form'],
  ['*', 'not origin-form'],
  ['http://h/a', 'not origin-form'],
]

t.test('accepted targets canonicalize as specified', async (t) => {
  for (const [target, path, query] of ACCEPTED) {
    t.same(canonicalizeTarget(target), { ok: true, path, query }, label(target))
  }
})

t.test('refused targets name the rule that refused them', async (t) => {
  for (const [target, reason] of REFUSED) {
    t.same(canonicalizeTarget(target), { ok: false, reason }, label(target))
  }
})

t.test('the length limit is 8192 characters, query included', async (t) => {
  t.equal(canonicalizeTarget('/' + 'a'.repeat(8191)).ok, true)
  t.equal(canonicalizeTarget('/a?' + 'b'.repeat(8190)).ok, false)
})

t.test('a path with nothing to change is returned as received', async (t) => {
  const target = '/v1/chat/completions'
  const r = canonicalizeTarget(target)
  t.ok(r.ok && r.path === target && r.query === '')
  const withQuery = canonicalizeTarget('/v1/models/gpt-4o?x=%2F')
  t.same(withQuery, { ok: true, path: '/v1/models/gpt-4o', query: '?x=%2F' })
})

// Seeded so that a failure replays; mulberry32.
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function randomTarget(next: () => number, alphabet: readonly string[], maxLength: number): string {
  let s = '/'
  const n = Math.floor(next() * maxLength)
  for (let k = 0; k < n; k++) s += alphabet[Math.floor(next() * alphabet.length)]!
  return s
}

const CHARS = ['/', '/', '/', '.', '.', '.', '%', '%', '2', '2', '5', 'e', 'E', 'F', 'f', 'C', 'c', 'a', 'b', ';', '?', '#', '~', '0', '3', '|', '\\', 'A', '4', '1', '7']

t.test('every accepted random target canonicalizes to a safe fixed point', async (t) => {
  const next = prng(0xc4a9e0)
  let accepted = 0
  let refused = 0
  const problems: string[] = []
  for (let n = 0; n < 40000; n++) {
    const target = randomTarget(next, CHARS, 20)
    const r = canonicalizeTarget(target)
    if (!r.ok) {
      refused++
      continue
    }
    accepted++
    const q = target.indexOf('?')
    const p = r.path
    const segments = p.split('/').slice(1, -1)
    const bad =
      !p.startsWith('/') ||
      p.includes('//') ||
      p.split('/').some((s) => s === '.' || s === '..') ||
      segments.includes('') ||
      /%(25)*(2F|5C|00)/i.test(p) ||
      p.includes(';') ||
      p.includes('?') ||
      p.includes('#') ||
      r.query !== (q === -1 ? '' : target.slice(q))
    if (bad) problems.push(`${JSON.stringify(target)} -> ${JSON.stringify(p)}`)
    const again = canonicalizeTarget(p + r.query)
    if (!again.ok || again.path !== p || again.query !== r.query) problems.push(`not a fixed point: ${JSON.stringify(target)} -> ${JSON.stringify(p)}`)
  }
  t.same(problems.slice(0, 10), [])
  // Both sides of the function must be exercised for the property to mean anything.
  t.ok(accepted > 4000, `accepted ${accepted}`)
  t.ok(refused > 4000, `refused ${refused}`)
})

// WHATWG URL resolves dot segments, `%2e` spellings included, independently of this code; on
// paths with no empty segment and no other escape the two must agree.
t.test('dot segments resolve as the WHATWG URL parser resolves them', async (t) => {
  const next = prng(7)
  const TOKENS = ['/', '/', 'a', 'b', '.', '..', '%2e', '%2E', '.%2e', '%2e.', '...']
  let compared = 0
  for (let n = 0; n < 20000; n++) {
    const target = randomTarget(next, TOKENS, 12)
    if (target.includes('//')) continue
    compared++
    const r = canonicalizeTarget(target)
    const expected = new URL(target, 'http://h').pathname.replace(/%2e/gi, '.')
    if (!r.ok || r.path !== expected) {
      t.fail(`${target}: ${JSON.stringify(r)} != ${expected}`)
      return
    }
  }
  t.ok(compared > 5000, `compared ${compared}`)
})
