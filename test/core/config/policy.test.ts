import t from 'tap'
import { compilePolicies, type CompileResult } from '../../../src/core/config/compile.js'
import { formatConfigError } from '../../../src/core/config/errors.js'
import { FILTER_FACTORIES } from '../../../src/core/filters/registry.js'

const meta = { version: 1, loadedAt: new Date(0) }
const compile = (files: Record<string, string>): CompileResult =>
  compilePolicies(
    Object.entries(files).map(([name, content]) => ({ name, content })),
    FILTER_FACTORIES,
    {},
    meta,
  )

function errorsOf(files: Record<string, string>): string[] {
  const r = compile(files)
  if (r.ok) throw new Error('expected errors')
  return r.errors.map(formatConfigError)
}

const policy = (name: string, spec = '') => `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata:\n  name: ${name}\n${spec}`

t.test('no policy files is a valid, empty (pass-through) chain', async (t) => {
  const r = compile({})
  t.ok(r.ok)
  if (r.ok) {
    t.same(r.snapshot.chain, [])
    t.same(r.snapshot.policies, [])
    t.same(r.snapshot.spec, {})
  }
})

t.test('a minimal policy, with or without an empty spec', async (t) => {
  for (const spec of ['', 'spec: {}\n']) {
    const r = compile({ 'a.yaml': policy('default', spec) })
    t.ok(r.ok, JSON.stringify(spec))
    if (r.ok) t.same(r.snapshot.policies, ['default'])
  }
})

t.test('envelope errors', async (t) => {
  t.same(errorsOf({ 'p.yaml': policy('x').replace('chaperone.dev/v1', 'chaperone.dev/v2') }), [
    'p.yaml:apiVersion: Invalid input: expected "chaperone.dev/v1"',
  ])
  t.same(errorsOf({ 'p.yaml': policy('x').replace('Policy', 'ConfigMap') }), ['p.yaml:kind: Invalid input: expected "Policy"'])
  t.same(errorsOf({ 'p.yaml': 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: {}\n' }), ['p.yaml:metadata.name: required'])
  t.same(errorsOf({ 'p.yaml': 'apiVersion: chaperone.dev/v1\nkind: Policy\n' }), ['p.yaml:metadata: required'])
  t.match(errorsOf({ 'p.yaml': policy('Not_A_Label') }), [/^p\.yaml:metadata\.name: expected a DNS label/])
  t.same(errorsOf({ 'p.yaml': policy('x') + 'status: {}\n' }), ['p.yaml:status: unknown key'])
  t.same(errorsOf({ 'p.yaml': policy('x') + '  owner: me\n' }), ['p.yaml:metadata.owner: unknown key'])
  t.match(errorsOf({ 'p.yaml': '- just\n- a list\n' }), [/^p\.yaml:\(root\): .*expected object/])
})

t.test('a spec key no filter owns is unknown', async (t) => {
  const r = compile({ 'p.yaml': policy('x', 'spec:\n  moderaton:\n    rules: []\n') })
  t.equal(r.ok, false)
  if (!r.ok) t.same(r.errors, [{ file: 'p.yaml', path: 'spec.moderaton', message: 'unknown key', line: 6, col: 3 }])
})

t.test('labels and annotations are string maps; odd keys are quoted in paths', async (t) => {
  t.ok(compile({ 'p.yaml': policy('x', '  labels: { team: a, app.kubernetes.io/name: chaperone }\n') }).ok)
  t.same(errorsOf({ 'p.yaml': policy('x', '  labels: { app.kubernetes.io/name: 3 }\n') }), [
    'p.yaml:metadata.labels["app.kubernetes.io/name"]: Invalid input: expected string, received number',
  ])
})

t.test('a file may hold several Policy documents; paths then start with the document index', async (t) => {
  const multi = `${policy('one')}---\n${policy('two')}---\n`
  const r = compile({ 'm.yaml': multi })
  t.ok(r.ok)
  if (r.ok) t.same(r.snapshot.policies, ['one', 'two'])
  t.same(errorsOf({ 'm.yaml': `${policy('one')}---\n${policy('two').replace('Policy', 'Nope')}` }), ['m.yaml:[1].kind: Invalid input: expected "Policy"'])
  t.same(errorsOf({ 'm.yaml': `${policy('one')}---\nkind: Policy\n` }), [
    'm.yaml:[1].apiVersion: Invalid input: expected "chaperone.dev/v1"',
    'm.yaml:[1].metadata: required',
  ])
})

t.test('two policies with one name is an error naming both files', async (t) => {
  t.same(errorsOf({ 'b.yaml': policy('same'), 'a.yaml': policy('same') }), ['b.yaml:metadata.name: policy "same" already defined in a.yaml'])
  t.same(errorsOf({ 'm.yaml': `${policy('same')}---\n${policy('same')}` }), ['m.yaml:[1].metadata.name: policy "same" already defined at [0].metadata.name'])
})

t.test('YAML syntax and duplicate-key errors name the file and the line', async (t) => {
  const r = compile({ 'ok.yaml': policy('fine'), 'bad.yaml': policy('x', 'spec:\n  a: [1, 2\n') })
  t.equal(r.ok, false)
  if (!r.ok) {
    t.equal(r.errors.length, 1)
    t.match(r.errors[0], { file: 'bad.yaml', path: '(root)', line: Number })
    t.match(formatConfigError(r.errors[0]!), /^bad\.yaml:\(root\): YAML syntax error: .* at line \d+, column \d+$/)
  }
  const dup = compile({ 'dup.yaml': 'apiVersion: chaperone.dev/v1\nkind: Policy\nkind: Policy\nmetadata: { name: x }\n' })
  t.equal(dup.ok, false)
  if (!dup.ok) {
    t.same(dup.errors.map(formatConfigError), ['dup.yaml:(root): YAML syntax error: Map keys must be unique at line 3, column 1'])
    t.match(dup.errors[0], { line: 3, col: 1 })
  }
  t.match(errorsOf({ 't.yaml': policy('x', 'spec: !custom {}\n') }), [/^t\.yaml:\(root\): YAML warning: Unresolved tag: !custom at line 5, column 7$/])
})

t.test('errors from several files are all reported', async (t) => {
  const errs = errorsOf({ 'a.yaml': 'a: [', 'b.yaml': policy('b') + 'x: 1\n', 'c.yaml': policy('c') })
  t.equal(errs.length, 2)
  t.match(errs[0], /^a\.yaml:\(root\): YAML syntax error/)
  t.equal(errs[1], 'b.yaml:x: unknown key')
})

t.test('alias bombs are refused', async (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 0; i < 6; i++) bomb.push(`${'bcdefg'[i]}: &${'bcdefg'[i]} [${Array(10).fill(`*${i === 0 ? 'a' : 'bcdefg'[i - 1]}`).join(', ')}]`)
  const errs = errorsOf({ 'bomb.yaml': `${bomb.join('\n')}\n` })
  t.match(errs, [/^bomb\.yaml:\(root\): YAML: .*alias/i])
})
