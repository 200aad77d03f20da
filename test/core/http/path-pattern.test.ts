import t from 'tap'
import { compilePathPattern } from '../../../src/core/http/path-pattern.js'

function matcher(pattern: string, ignoreCase = false) {
  const c = compilePathPattern(pattern, ignoreCase)
  if (!c.ok) throw new Error(`${pattern}: ${c.message}`)
  return c
}

// [pattern, kind, paths it matches, paths it does not]
const TABLE: [string, 'exact' | 'prefix' | 'glob', string[], string[]][] = [
  ['/v1/chat/completions', 'exact', ['/v1/chat/completions'], ['/v1/chat/completions/', '/v1/chat', '/v1/chat/completionsx', '/V1/chat/completions', '/v1/chat/completions/x']],
  ['/', 'exact', ['/'], ['/a', '//']],
  ['/a/', 'exact', ['/a/'], ['/a', '/a/b']],
  ['/v1/**', 'prefix', ['/v1', '/v1/', '/v1/chat', '/v1/chat/completions'], ['/v10', '/v1x/chat', '/', '/v2/v1/chat', '/V1/chat']],
  ['/**', 'prefix', ['/', '/a', '/a/b/c'], []],
  ['/v1/*/completions', 'glob', ['/v1/chat/completions', '/v1/x/completions'], ['/v1/a/b/completions', '/v1/completions', '/v1/chat/completions/x', '/v2/chat/completions']],
  ['/v1/chat*', 'glob', ['/v1/chat', '/v1/chatty', '/v1/chat.completions'], ['/v1/chat/completions', '/v1/cha']],
  ['/v1/**/completions', 'glob', ['/v1/completions', '/v1/a/completions', '/v1/a/b/c/completions'], ['/v1/completionsx', '/v1/a/completions/x', '/v2/completions']],
  ['/a.b/*', 'glob', ['/a.b/x'], ['/aXb/x'], ],
  ['/a+b/(x)/*', 'glob', ['/a+b/(x)/y'], ['/aab/(x)/y', '/a+b/x/y']],
  ['/**/admin', 'glob', ['/admin', '/x/admin', '/x/y/admin'], ['/adminx', '/x/admin/y']],
]

t.test('exact, prefix and glob patterns', async (t) => {
  for (const [pattern, kind, yes, no] of TABLE) {
    const m = matcher(pattern)
    t.equal(m.matcher.kind, kind, `${pattern} is ${kind}`)
    for (const p of yes) t.ok(m.matcher.test(p), `${pattern} matches ${p}`)
    for (const p of no) t.notOk(m.matcher.test(p), `${pattern} does not match ${p}`)
  }
})

t.test('ignoreCase folds both the pattern and the path, for every kind', async (t) => {
  const table: [string, string[], string[]][] = [
    ['/Admin', ['/admin', '/ADMIN', '/aDmIn'], ['/admin/x']],
    ['/ADMIN/**', ['/admin', '/Admin/Users'], ['/adminx']],
    ['/v1/*/Completions', ['/V1/CHAT/completions'], ['/v1/a/b/completions']],
  ]
  for (const [pattern, yes, no] of table) {
    const m = matcher(pattern, true)
    for (const p of yes) t.ok(m.matcher.test(p), `${pattern} (ignoreCase) matches ${p}`)
    for (const p of no) t.notOk(m.matcher.test(p), `${pattern} (ignoreCase) does not match ${p}`)
    const strict = matcher(pattern, false)
    t.notOk(strict.matcher.test(yes[0]!), `${pattern} without ignoreCase does not match ${yes[0]}`)
  }
})

t.test('patterns are canonicalized as request paths are', async (t) => {
  const table: [string, string, string[]][] = [
    ['/a/%7euser', '/a/~user', ['/a/~user']],
    ['/a/%7Euser', '/a/~user', ['/a/~user']],
    ['/%61dmin', '/admin', ['/admin']],
    ['/v1//chat', '/v1/chat', ['/v1/chat']],
    ['/v1/public/../admin', '/v1/admin', ['/v1/admin']],
    ['/v1/./chat/**', '/v1/chat/**', ['/v1/chat/x']],
    ['/a/%3a', '/a/%3A', ['/a/%3A']],
    ['/a b', '/a%20b', ['/a%20b']],
  ]
  for (const [pattern, canonical, yes] of table) {
    const m = matcher(pattern)
    t.equal(m.matcher.canonical, canonical, `${pattern} → ${canonical}`)
    for (const p of yes) t.ok(m.matcher.test(p), `${pattern} matches ${p}`)
  }
  t.notOk(matcher('/a/%7euser').matcher.test('/a/%7euser'), 'the raw spelling is never a canonical request path, so it is not what the rule means')
})

t.test('patterns no canonical request path can have are refused, with a reason', async (t) => {
  const table: [string, RegExp][] = [
    ['/a;x', /path parameter/],
    ['/a%2Fb', /encoded slash/],
    ['/a%252Fb', /encoded slash/],
    ['/a%5Cb', /encoded backslash/],
    ['/a\\b', /backslash/],
    ['/a%00', /encoded nul/],
    ['/a#x', /fragment/],
    ['/a/%zz', /malformed escape/],
    ['/é', /non-ascii/],
    ['/**x', /"\*\*" must be a whole segment/],
    ['/a/x**/b', /"\*\*" must be a whole segment/],
    ['/a?', /no query string/],
    ['/a?x=1', /no query string/],
    ['/a/*?', /no query string/],
  ]
  for (const [pattern, reason] of table) {
    const c = compilePathPattern(pattern, false)
    t.notOk(c.ok, `${pattern} is refused`)
    if (!c.ok) t.match(c.message, reason, `${pattern}: ${c.message}`)
  }
})

t.test('globs are anchored and match in linear time on long hostile paths', async (t) => {
  const m = matcher('/*/*/*/*/*/*/*/*/x')
  const hostile = '/' + 'a/'.repeat(2000) + 'y'
  t.notOk(m.matcher.test(hostile))
  t.notOk(matcher('/v1/*').matcher.test('/x/v1/a'), 'anchored at the start')
  t.notOk(matcher('/v1/*').matcher.test('/v1/a/'), 'anchored at the end')
})
