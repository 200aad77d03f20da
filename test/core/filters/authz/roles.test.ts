import t from 'tap'
import { compilePolicies } from '../../../../src/core/config/compile.js'
import { formatConfigError } from '../../../../src/core/config/errors.js'
import { authzFactory } from '../../../../src/core/filters/authz/index.js'
import { effectiveRoles, expandRoles } from '../../../../src/core/filters/authz/roles.js'
import { ConfigCompileErrors } from '../../../../src/core/config/errors.js'
import type { FilterFactory } from '../../../../src/core/chain/types.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'

const FACTORIES = [authzFactory as FilterFactory]
const policy = (name: string, spec: string) => `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n${spec}`

function errorsOf(files: Record<string, string>): string[] {
  const r = compilePolicies(
    Object.entries(files).map(([name, content]) => ({ name, content })),
    FACTORIES,
    {},
    { version: 1, loadedAt: new Date(0) },
  )
  return r.ok ? [] : r.errors.map(formatConfigError)
}

const roles = (spec: Record<string, string[]>) => Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, { inherits: v }]))
const closureOf = (spec: Record<string, string[]>) => {
  const c = expandRoles(roles(spec))
  return Object.fromEntries([...c].map(([k, v]) => [k, [...v].sort()]))
}

/** The message of each error, by the path it points at. */
function cycleErrors(spec: Record<string, string[]>): Record<string, string> {
  try {
    expandRoles(roles(spec))
  } catch (e) {
    if (!(e instanceof ConfigCompileErrors)) throw e
    return Object.fromEntries(e.errors.map((x) => [x.path.join('.'), x.message]))
  }
  return {}
}

t.test('each role expands to itself and everything it inherits, transitively', async (t) => {
  const table: [string, Record<string, string[]>, Record<string, string[]>][] = [
    ['no roles', {}, {}],
    ['lone role', { a: [] }, { a: ['a'] }],
    ['chain', { guest: [], analyst: ['guest'], senior: ['analyst'], admin: ['senior'] }, { guest: ['guest'], analyst: ['analyst', 'guest'], senior: ['analyst', 'guest', 'senior'], admin: ['admin', 'analyst', 'guest', 'senior'] }],
    ['diamond', { base: [], left: ['base'], right: ['base'], top: ['left', 'right'] }, { base: ['base'], left: ['base', 'left'], right: ['base', 'right'], top: ['base', 'left', 'right', 'top'] }],
    ['declared after use', { top: ['mid'], mid: ['low'], low: [] }, { top: ['low', 'mid', 'top'], mid: ['low', 'mid'], low: ['low'] }],
    ['parent listed twice', { a: [], b: ['a', 'a'] }, { a: ['a'], b: ['a', 'b'] }],
    ['two roots', { a: [], b: [], c: ['a', 'b'] }, { a: ['a'], b: ['b'], c: ['a', 'b', 'c'] }],
  ]
  for (const [name, spec, want] of table) t.same(closureOf(spec), want, name)
})

t.test('a role whose name is an Object.prototype key is an ordinary role', async (t) => {
  t.same(closureOf({ constructor: [], toString: ['constructor'] }), { constructor: ['constructor'], toString: ['constructor', 'toString'] })
  t.same(cycleErrors({ a: ['constructor'] }), { 'roles.a.inherits.0': 'unknown role "constructor"' }, 'an undeclared parent named like a prototype key is unknown')
})

t.test('cycles are load errors pointing at every link of the cycle', async (t) => {
  t.same(cycleErrors({ a: ['a'] }), { 'roles.a.inherits.0': 'role inheritance cycle: a → a' }, 'self')
  const two = cycleErrors({ a: ['b'], b: ['a'] })
  t.same(Object.keys(two).sort(), ['roles.a.inherits.0', 'roles.b.inherits.0'], '2-cycle: both links')
  t.match(two['roles.a.inherits.0'], /cycle: a → b → a/)
  const three = cycleErrors({ x: ['ok', 'y'], y: ['z'], z: ['x'], ok: [] })
  t.same(Object.keys(three).sort(), ['roles.x.inherits.1', 'roles.y.inherits.0', 'roles.z.inherits.0'], '3-cycle: each link at its own index')
  t.match(three['roles.y.inherits.0'], /x → y → z → x/)
  const tail = cycleErrors({ entry: ['a'], a: ['b'], b: ['a'] })
  t.same(Object.keys(tail).sort(), ['roles.a.inherits.0', 'roles.b.inherits.0'], 'a role leading into a cycle is not itself part of it')
})

t.test('an unknown parent is a load error at its index', async (t) => {
  t.same(cycleErrors({ a: [], b: ['a', 'nope'] }), { 'roles.b.inherits.1': 'unknown role "nope"' })
})

t.test('effective roles: declared roles expand, undeclared ones are kept but grant nothing more', async (t) => {
  const c = expandRoles(roles({ guest: [], admin: ['guest'] }))
  t.same(effectiveRoles([], c), [])
  t.same(effectiveRoles(['admin'], c).sort(), ['admin', 'guest'])
  t.same(effectiveRoles(['admin', 'guest'], c).sort(), ['admin', 'guest'], 'no duplicates')
  t.same(effectiveRoles(['stranger'], c), ['stranger'])
})

t.test('through compilePolicies: a cycle split over two files names both files', async (t) => {
  const errors = errorsOf({
    'a.yaml': policy('a', '  roles:\n    x:\n      inherits: [y]\n'),
    'b.yaml': policy('b', '  roles:\n    y:\n      inherits: [x]\n'),
  })
  t.equal(errors.length, 2)
  t.match(errors, [/^a\.yaml:spec\.roles\.x\.inherits\[0\]: role inheritance cycle/, /^b\.yaml:spec\.roles\.y\.inherits\[0\]: role inheritance cycle/])
})

t.test('through compilePolicies: a 3-cycle over two files, in a multi-document file', async (t) => {
  const errors = errorsOf({
    'a.yaml': policy('a', '  roles:\n    x:\n      inherits: [y]\n    y:\n      inherits: [z]\n'),
    'b.yaml': policy('b0', '  roles:\n    other: null\n') + '---\n' + policy('b1', '  roles:\n    z:\n      description: closes the loop\n      inherits: [x]\n'),
  })
  t.same(errors.map((e) => e.split(': ')[0]).sort(), ['a.yaml:spec.roles.x.inherits[0]', 'a.yaml:spec.roles.y.inherits[0]', 'b.yaml:[1].spec.roles.z.inherits[0]'])
})

t.test('through compilePolicies: unknown roles are load errors with file and path', async (t) => {
  t.same(errorsOf({ 'p.yaml': policy('p', '  roles:\n    a:\n      inherits: [ghost]\n') }), ['p.yaml:spec.roles.a.inherits[0]: unknown role "ghost"'], 'unknown parent')
  const access = errorsOf({
    'r.yaml': policy('r', '  roles:\n    user: {}\n'),
    's.yaml': policy('s', '  access:\n    - name: ok\n      allow: { roles: [user] }\n    - name: bad\n      allow: { roles: [user, ghost] }\n'),
  })
  t.equal(access.length, 1)
  t.match(access[0], /^s\.yaml:spec\.access\[1\]\.allow\.roles\[1\]: unknown role "ghost"/, 'unknown role in an access rule')
  const deny = errorsOf({ 's.yaml': policy('s', '  access:\n    - name: bad\n      deny: { roles: [ghost] }\n') })
  t.match(deny, [/^s\.yaml:spec\.access\[0\]\.deny\.roles\[0\]: unknown role "ghost"/])
  const anon = errorsOf({
    'r.yaml': policy('r', '  roles:\n    user: {}\n'),
    'i.yaml': policy('i', '  identity:\n    anonymous: { role: visitor }\n  access:\n    - name: ok\n      allow: { roles: [user] }\n'),
  })
  t.match(anon, [/^i\.yaml:spec\.identity\.anonymous\.role: unknown role "visitor"/], 'unknown anonymous role')
})

t.test('through compilePolicies: roles spread over files expand across them', async (t) => {
  const r = compilePolicies(
    [
      { name: 'a.yaml', content: policy('a', '  identity:\n    anonymous: { role: admin }\n  roles:\n    admin:\n      inherits: [analyst]\n') },
      { name: 'b.yaml', content: policy('b', '  roles:\n    analyst:\n      inherits: [guest]\n    guest: null\n  access:\n    - name: guests\n      match: { paths: [/guest/**] }\n      allow: { roles: [guest] }\n') },
    ],
    FACTORIES,
    {},
    { version: 1, loadedAt: new Date(0) },
  )
  if (!r.ok) return t.fail(r.errors.map(formatConfigError).join('\n'))
  const filter = r.snapshot.chain[0]!
  const ctx = (path: string) => ({
    id: 'r',
    snapshot: { version: 1, digest: 'd' },
    request: { method: 'GET', url: path, path, query: '', headers: {}, rawHeaders: [], remoteAddress: '127.0.0.1', clientIp: '127.0.0.1', protocol: 'http' as const },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
  })
  t.same(await filter.onRequest!(ctx('/guest/x')), { kind: 'continue' }, 'admin (a.yaml) reaches guest (b.yaml) through analyst')
  t.match(await filter.onRequest!(ctx('/other')), { kind: 'error', code: 'unauthorized' }, 'and nothing else')
})
