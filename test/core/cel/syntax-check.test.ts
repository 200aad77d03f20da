import { parse } from '@bufbuild/cel'
import t from 'tap'
import { checkSyntax } from '../../../src/core/cel/syntax-check.js'

type Suite = { tests?: { original: { expr: string } }[]; suites?: Suite[] }

function expressions(suite: Suite, out: Set<string>): Set<string> {
  for (const test of suite.tests ?? []) out.add(test.original.expr)
  for (const s of suite.suites ?? []) expressions(s, out)
  return out
}

const parses = (expr: string): boolean => {
  try {
    parse(expr)
    return true
  } catch {
    return false
  }
}

t.test('no expression of the CEL conformance and parser suites that parses is flagged', async (t) => {
  const all = new Set<string>()
  for (const name of ['parsing', 'conformance', 'comprehension', 'checking']) {
    const mod = (await import(`@bufbuild/cel-spec/testdata/${name}.js`)) as { tests: Suite }
    expressions(mod.tests, all)
  }
  let valid = 0
  let flaggedInvalid = 0
  for (const expr of all) {
    const problem = checkSyntax(expr)
    if (parses(expr)) {
      valid++
      if (problem !== undefined) t.fail(`${JSON.stringify(expr)} is valid but flagged: ${problem.message(String)}`)
    } else if (problem !== undefined) {
      flaggedInvalid++
    }
  }
  t.ok(valid > 2000, `${valid} valid expressions`)
  t.ok(flaggedInvalid > 100, `${flaggedInvalid} invalid ones are explained before the library's parser`)
})

t.test('lexical corners are accepted', async (t) => {
  const valid = [
    String.raw`r"C:\path" == "x"`,
    String.raw`"say \"hi\"" == 'it\'s'`,
    '"""multi\nline "quoted" text""" == \'\'\'x\'\'\'',
    String.raw`b"\xff" == b'abc' && R"\" == "\\"`,
    '0x1F == 31 && 7u == 7U && 0xffu > 1u && 1.5e3 > .5 && 2e-3 < 1.0',
    'principal.region == "eu" // trailing comment\n',
    '// leading comment\nprincipal.region == "eu"',
    '[1, 2,] == [1, 2] && {"a": 1,}.a == 1',
    'f() && a.b() && .principal.region == "eu"',
    'a ? b : c ? d : e',
    '{"a": x ? 1 : 2}',
    'Msg{field: 1}',
    '!!true && -(-1) == 1',
    '"日本語 😀" == "x"',
  ]
  for (const expr of valid) {
    t.ok(parses(expr), `the library parses ${expr}`)
    t.equal(checkSyntax(expr), undefined, expr)
  }
})

t.test('each kind of problem is placed where it is', async (t) => {
  const cases: [string, number, string][] = [
    ['a == "x', 5, 'this string is never closed'],
    ["a == 'x\ny'", 5, 'this string is never closed'],
    ['a == """x', 5, 'this string is never closed'],
    ['0x == 1', 0, 'malformed number'],
    ['12abc == 1', 0, 'malformed number'],
    ['a | b', 2, "'|' is not an operator: write '||' for or"],
    ['a ~ b', 2, "unexpected character '~'"],
    ['a == ()', 5, "empty parentheses: '()' holds no value"],
    ['f(1,)', 4, "a value is missing between ',' at 3 and ')'"],
    ['a[]', 2, "a value is missing between '[' at 1 and ']'"],
    ['a , b', 2, "',' may only separate arguments or list and map entries"],
    ['a : b', 2, "':' has no matching '?' (nor is it inside a map literal)"],
    ['(a ? b)', 3, "this '?' has no ':' part"],
    ['[a ? b, c]', 3, "this '?' has no ':' part"],
    ['(a]', 2, "']' does not close the '(' at 0 (expected ')')"],
    ['a.(b)', 1, "a name must follow '.'"],
    ['a in', 2, "the expression ends after 'in'; a value is missing"],
  ]
  for (const [expr, offset, message] of cases) {
    const problem = checkSyntax(expr)
    t.same(problem && { offset: problem.offset, message: problem.message(String) }, { offset, message }, JSON.stringify(expr))
    t.notOk(parses(expr), `the library rejects ${JSON.stringify(expr)} too`)
  }
})
