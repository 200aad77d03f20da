import t from 'tap'
import { compilePolicies, type CompileResult } from '../../../src/core/config/compile.js'
import { formatConfigError } from '../../../src/core/config/errors.js'
import { FAKE_FACTORIES, policy, type FakePorts, type GateConfig } from '../../helpers/fake-factories.js'

function compile(files: Record<string, string>): CompileResult {
  const ports: FakePorts = { compiled: [] }
  return compilePolicies(
    Object.entries(files).map(([name, content]) => ({ name, content })),
    FAKE_FACTORIES,
    ports,
    { version: 1, loadedAt: new Date(0) },
  )
}

function specOf(files: Record<string, string>): GateConfig {
  const r = compile(files)
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'))
  return r.snapshot.spec.gate as GateConfig
}

function errorsOf(files: Record<string, string>): string[] {
  const r = compile(files)
  if (r.ok) throw new Error('expected errors')
  return r.errors.map(formatConfigError)
}

t.test('lists concatenate in file-name order, whatever order the files are given in', async (t) => {
  const spec = specOf({
    'b.yaml': policy('b', '  gate:\n    rules:\n      - { name: r3, pattern: z }\n'),
    'a.yaml': policy('a', '  gate:\n    rules:\n      - { name: r1, pattern: x }\n      - { name: r2, pattern: y }\n'),
  })
  t.same(
    spec.rules?.map((r) => r.name),
    ['r1', 'r2', 'r3'],
  )
  // Defaults are applied after the merge.
  t.same(
    spec.rules?.map((r) => r.action),
    ['block', 'block', 'block'],
  )
})

t.test('maps merge entry by entry; an entry in two files names both', async (t) => {
  const spec = specOf({
    'a.yaml': policy('a', '  gate:\n    roles:\n      guest: {}\n'),
    'b.yaml': policy('b', '  gate:\n    roles:\n      admin: { inherits: [guest] }\n'),
  })
  t.same(spec.roles, { guest: { inherits: [] }, admin: { inherits: ['guest'] } })
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    roles:\n      admin: {}\n'),
      'b.yaml': policy('b', '  gate:\n    roles:\n      admin: {}\n'),
    }),
    ['b.yaml:spec.gate.roles.admin: already defined in a.yaml'],
  )
})

t.test('structs merge field by field; defaults do not count as written', async (t) => {
  const spec = specOf({
    'a.yaml': policy('a', '  gate:\n    settings:\n      threshold: 3\n      nested: { a: 1 }\n'),
    'b.yaml': policy('b', '  gate:\n    settings:\n      mode: lenient\n      nested: { b: 2 }\n'),
  })
  t.same(spec.settings, { threshold: 3, mode: 'lenient', nested: { a: 1, b: 2 } })
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    settings: { nested: { a: 1 } }\n'),
      'b.yaml': policy('b', '  gate:\n    settings: { nested: { a: 2 } }\n'),
    }),
    ['b.yaml:spec.gate.settings.nested.a: already defined in a.yaml'],
  )
})

t.test('a scalar written in two files is an error naming both', async (t) => {
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    limit: 1\n'),
      'b.yaml': policy('b', '  gate:\n    limit: 1\n'),
      'c.yaml': policy('c', '  gate:\n    limit: 2\n'),
    }),
    ['b.yaml:spec.gate.limit: already defined in a.yaml', 'c.yaml:spec.gate.limit: already defined in a.yaml'],
  )
})

t.test('named list items must be unique across and within files', async (t) => {
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    rules:\n      - { name: dup, pattern: x }\n'),
      'b.yaml': policy('b', '  gate:\n    rules:\n      - { name: fine, pattern: x }\n      - { name: dup, pattern: y }\n'),
    }),
    ['b.yaml:spec.gate.rules[1].name: "dup" already defined in a.yaml'],
  )
  t.same(errorsOf({ 'a.yaml': policy('a', '  gate:\n    rules:\n      - { name: d, pattern: x }\n      - { name: d, pattern: y }\n') }), [
    'a.yaml:spec.gate.rules[1].name: "d" already defined at spec.gate.rules[0]',
  ])
})

t.test('documents of one file merge like files; errors point at the document', async (t) => {
  const multi = `${policy('one', '  gate:\n    roles: { a: {} }\n')}---\n${policy('two', '  gate:\n    roles: { a: {} }\n')}`
  t.same(errorsOf({ 'm.yaml': multi }), ['m.yaml:[1].spec.gate.roles.a: already defined at [0].spec.gate.roles.a'])
  const ok = `${policy('one', '  gate:\n    rules: [{ name: x, pattern: p }]\n')}---\n${policy('two', '  gate:\n    rules: [{ name: y, pattern: q }]\n')}`
  t.same(
    specOf({ 'm.yaml': ok }).rules?.map((r) => r.name),
    ['x', 'y'],
  )
})

t.test('merge errors carry the line in the second file', async (t) => {
  const r = compile({
    'a.yaml': policy('a', '  gate:\n    roles:\n      admin: {}\n'),
    'b.yaml': policy('b', '  gate:\n    roles:\n      guest: {}\n      admin: {}\n'),
  })
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.errors, [{ file: 'b.yaml', path: 'spec.gate.roles.admin', line: 9, col: 7 }])
})

t.test('a compile error inside a merged list points at the file and index the operator wrote', async (t) => {
  const r = compile({
    'a.yaml': policy('a', '  gate:\n    rules:\n      - { name: r1, pattern: x }\n      - { name: r2, pattern: y }\n'),
    'b.yaml': policy('b', '  gate:\n    rules:\n      - { name: r3, pattern: z }\n      - { name: r4, pattern: BAD }\n'),
  })
  t.equal(r.ok, false)
  if (!r.ok) {
    t.same(r.errors.map(formatConfigError), ['b.yaml:spec.gate.rules[1].pattern: pattern does not compile'])
    t.match(r.errors[0], { line: 9 })
  }
})

t.test('a compile error on a map entry points at the file that wrote it', async (t) => {
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    roles:\n      guest: {}\n'),
      'b.yaml': policy('b', '  gate:\n    roles:\n      admin: { inherits: [root] }\n'),
    }),
    ['b.yaml:spec.gate.roles.admin.inherits: unknown role "root"'],
  )
})

t.test('a plain thrown error is reported on the section, naming the files that wrote it', async (t) => {
  t.same(
    errorsOf({
      'a.yaml': policy('a', '  gate:\n    limit: 13\n'),
      'b.yaml': policy('b', '  gate:\n    roles: {}\n'),
    }),
    ['a.yaml, b.yaml:spec.gate: unlucky limit'],
  )
})

t.test('an unknown section key is reported per file, before any merge', async (t) => {
  t.same(errorsOf({ 'a.yaml': policy('a', '  gate:\n    rulez: []\n'), 'b.yaml': policy('b', '  nope: {}\n') }), [
    'a.yaml:spec.gate.rulez: unknown key',
    'b.yaml:spec.nope: unknown key',
  ])
})
