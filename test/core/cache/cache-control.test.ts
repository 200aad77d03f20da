import t from 'tap'
import { parseCacheControl, requestDirectives, responseShareable, responseStorable } from '../../../src/core/cache/cache-control.js'
import { mulberry32 } from '../../helpers/prng.js'

const cc = (...values: string[]): Record<string, string | true> => Object.fromEntries(parseCacheControl(values))

t.test('parseCacheControl', async (t) => {
  t.test('tokens, values and quoted strings', async (t) => {
    t.same(cc('public, max-age=60'), { public: true, 'max-age': '60' })
    t.same(cc('private="set-cookie, authorization", max-age=5'), { private: 'set-cookie, authorization', 'max-age': '5' })
    t.same(cc('no-cache="a\\"b\\\\c"'), { 'no-cache': 'a"b\\c' }, 'quoted-pair escapes are removed')
    t.same(cc(' \t no-store \t ,\tmax-age = 3 '), { 'no-store': true, 'max-age': '3' }, 'whitespace around elements and =')
  })
  t.test('names are case-insensitive, values are not', async (t) => {
    t.same(cc('No-Store, MAX-AGE=60, Private="X-Foo"'), { 'no-store': true, 'max-age': '60', private: 'X-Foo' })
  })
  t.test('several header values are one list', async (t) => {
    t.same(cc('public', 'max-age=60, s-maxage=30', 'no-transform'), { public: true, 'max-age': '60', 's-maxage': '30', 'no-transform': true })
  })
  t.test('the first of a repeated directive wins', async (t) => {
    t.same(cc('max-age=5, max-age=10', 'max-age=20'), { 'max-age': '5' })
  })
  t.test('the private field-list corpus', async (t) => {
    t.same(cc('private'), { private: true })
    t.same(cc('private=""'), { private: '' })
    t.same(cc('private=","'), { private: ',' })
    t.same(cc('private=" authorization"'), { private: ' authorization' })
    t.same(cc('private="x'), { private: 'x' }, 'an unclosed quote ends at the end')
  })
  t.test('an unclosed quote ends at the next comma, so later directives are kept', async (t) => {
    t.same(cc('private="x, no-store'), { private: 'x', 'no-store': true })
    t.same(cc('max-age="60, no-store, no-cache'), { 'max-age': '60', 'no-store': true, 'no-cache': true })
    t.same(cc('a="x,b="y,c="z'), { a: 'x,b=', c: 'z' }, 'a quote closes at the next quote, whatever lies between')
  })
  t.test('junk after a directive does not void it', async (t) => {
    t.same(cc('no-store;x, public'), { 'no-store': true, public: true })
    t.same(cc('max-age=60 junk "quoted, junk", private'), { 'max-age': '60', junk: true, private: true })
  })
  t.test('elements that do not start with a token are skipped', async (t) => {
    t.same(cc('=', ',,,', '', '"no-store"', '=x, =, public'), { public: true })
    t.same(cc('{}[], ÿnope, public'), { public: true })
  })
  t.test('garbage never throws', async (t) => {
    const rnd = mulberry32(6)
    const alphabet = 'ab-=", \t\\;ÿ\u0000é'
    const shapes = ['"'.repeat(8192), '\\'.repeat(8192), '='.repeat(8192), ',='.repeat(4096), 'a="'.repeat(2730), 'a="\\'.repeat(2048), '"\\"'.repeat(2730)]
    for (let i = 0; i < 300; i++) {
      let s = ''
      const len = Math.floor(rnd() * 200)
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)]
      shapes.push(s)
    }
    let junk = ''
    while (junk.length < 8192) junk += alphabet[Math.floor(rnd() * alphabet.length)]
    shapes.push(junk)
    for (const s of shapes) {
      const m = parseCacheControl([s, s])
      for (const [k] of m) if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(k)) t.fail(`bad name ${JSON.stringify(k)} from ${JSON.stringify(s)}`)
    }
    t.pass(`${shapes.length} inputs parsed`)
  })
})

t.test('responseStorable', async (t) => {
  const ok = { ok: true }
  const ccReason = { ok: false, reason: 'cache_control' }
  t.test('a plain 200 and the storable directives', async (t) => {
    t.same(responseStorable(200, []), ok)
    t.same(responseStorable(200, ['Content-Type', 'application/json']), ok)
    t.same(responseStorable(200, ['Cache-Control', 'public, max-age=60']), ok)
    t.same(responseStorable(200, ['cache-control', 'max-age=0, must-revalidate', 'Vary', 'Accept-Encoding, Origin']), ok)
  })
  t.test('only status 200', async (t) => {
    for (const s of [201, 203, 204, 206, 301, 302, 304, 307, 308, 400, 404, 429, 500, 503]) {
      t.same(responseStorable(s, ['cache-control', 'public, max-age=60']), { ok: false, reason: 'status' }, String(s))
    }
  })
  t.test('the Cache-Control corpus is never stored, alone or with storable directives', async (t) => {
    const corpus = ['private', 'private=""', 'private=","', 'private=" authorization"', 'private="x', 'private="set-cookie, authorization"', 'no-store', 'No-Store', 'PRIVATE']
    for (const c of corpus) {
      t.same(responseStorable(200, ['Cache-Control', c]), ccReason, c)
      t.same(responseStorable(200, ['Cache-Control', `public, max-age=60, ${c}`]), ccReason, `public, max-age=60, ${c}`)
      t.same(responseStorable(200, ['Cache-Control', `${c}, public, max-age=60`]), ccReason, `${c}, public, max-age=60`)
      t.same(responseStorable(200, ['cache-control', 'public, max-age=60', 'CACHE-CONTROL', c]), ccReason, `second header ${c}`)
    }
  })
  t.test('Set-Cookie, in any case, with any other header', async (t) => {
    for (const name of ['Set-Cookie', 'set-cookie', 'SET-COOKIE', 'Set-Cookie2']) {
      t.same(responseStorable(200, ['Cache-Control', 'public, max-age=60', name, 'sid=1; HttpOnly']), { ok: false, reason: 'set_cookie' }, name)
    }
    t.same(responseStorable(200, ['Set-Cookie', '']), { ok: false, reason: 'set_cookie' }, 'even empty')
  })
  t.test('Vary: * is never stored', async (t) => {
    t.same(responseStorable(200, ['Vary', '*']), ccReason)
    t.same(responseStorable(200, ['vary', 'Accept-Encoding', 'Vary', ' * ']), ccReason)
    t.same(responseStorable(200, ['Vary', 'Accept, *']), ccReason)
  })
  t.test('no-cache prevents storing only with honorNoCache (SSE servers send it on every stream)', async (t) => {
    for (const c of ['no-cache', 'no-cache="set-cookie"', 'NO-CACHE']) {
      t.same(responseStorable(200, ['Cache-Control', c]), ok, `${c}: stored by default`)
      t.same(responseStorable(200, ['Cache-Control', c], { honorNoCache: true }), ccReason, `${c}: honoured`)
      t.same(responseStorable(200, ['Cache-Control', `${c}, private`]), ccReason, `${c} with private`)
    }
  })
  t.test('Pragma: no-cache counts only without Cache-Control, and only with honorNoCache', async (t) => {
    t.same(responseStorable(200, ['Pragma', 'no-cache']), ok)
    t.same(responseStorable(200, ['Pragma', 'no-cache'], { honorNoCache: true }), ccReason)
    t.same(responseStorable(200, ['Pragma', 'no-cache', 'Cache-Control', 'max-age=60'], { honorNoCache: true }), ok)
  })
  t.test('garbage never throws', async (t) => {
    for (const v of ['', '=', ',,,', '"', 'private="', '\\', 'a'.repeat(8192), '"'.repeat(8192)]) {
      const r = responseStorable(200, ['Cache-Control', v])
      t.ok(r.ok === true || r.reason === 'cache_control', JSON.stringify(v.slice(0, 20)))
    }
    t.same(responseStorable(200, ['Cache-Control', 'x="', 'Cache-Control', 'private']), ccReason)
    t.same(responseStorable(200, ['Cache-Control']), ok, 'an odd-length list ignores the dangling name')
  })
})

t.test('requestDirectives', async (t) => {
  const rd = (...raw: string[]) => requestDirectives(raw)
  t.same(rd(), { noStore: false, noCache: false })
  t.same(rd('Cache-Control', 'max-age=60'), { noStore: false, noCache: false })
  t.same(rd('Cache-Control', 'no-store'), { noStore: true, noCache: true }, 'no-store means neither read nor store')
  t.same(rd('cache-control', 'No-Cache'), { noStore: false, noCache: true })
  t.same(rd('Cache-Control', 'max-age=0'), { noStore: false, noCache: true })
  t.same(rd('Cache-Control', 'max-age="0"'), { noStore: false, noCache: true })
  t.same(rd('Cache-Control', 'max-age=00'), { noStore: false, noCache: true })
  t.same(rd('Cache-Control', 'max-age=x0'), { noStore: false, noCache: false }, 'a junk max-age is ignored')
  t.same(rd('Cache-Control', 'max-stale', 'CACHE-CONTROL', 'no-cache'), { noStore: false, noCache: true }, 'several headers')
  t.same(rd('Pragma', 'no-cache'), { noStore: false, noCache: true }, 'Pragma without Cache-Control')
  t.same(rd('Pragma', 'foo, No-Cache'), { noStore: false, noCache: true })
  t.same(rd('Pragma', 'no-cache', 'Cache-Control', 'max-age=60'), { noStore: false, noCache: false }, 'Cache-Control overrides Pragma')
  t.same(rd('Cache-Control', 'no-store="'), { noStore: true, noCache: true }, 'garbage does not hide no-store')
})

t.test('responseShareable: cookies, private and no-store stay with their caller; no-cache may be shared', async (t) => {
  t.ok(responseShareable(['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache']))
  t.ok(responseShareable([]))
  for (const raw of [['Set-Cookie', 'a=1'], ['set-cookie2', 'a=1'], ['Cache-Control', 'private'], ['Cache-Control', 'private="x"'], ['cache-control', 'max-age=5', 'Cache-Control', 'no-store']]) {
    t.notOk(responseShareable(raw), JSON.stringify(raw))
  }
})
