import t from 'tap'
import { compileCondition } from '../../../src/core/cel/index.js'
import { mulberry32 } from '../../helpers/prng.js'

/** The message of a condition that must not compile. */
function rejection(expression: string): string {
  const r = compileCondition(expression)
  if (r.ok) throw new Error(`${JSON.stringify(expression)} compiled`)
  return r.message
}

t.test('syntax errors say what is wrong and where', async (t) => {
  const cases: [string, RegExp][] = [
    ['principal.region == ', /^column 18: the expression ends after '=='; a value is missing$/],
    ['principal.region = "eu"', /^column 18: '=' is not an operator: write '==' to compare$/],
    ['"a" in principal.roles & true', /^column 24: '&' is not an operator: write '&&' for and$/],
    ['principal.region == "eu', /^column 21: this string is never closed$/],
    ['(principal.region == "eu"', /^column 1: this '\(' is never closed$/],
    ['principal.region == "eu")', /^column 25: '\)' has no matching opening bracket$/],
    ['["eu", "us"] == [1, 2)', /^column 22: '\)' does not close the '\[' at column 17 \(expected '\]'\)$/],
    ['principal.region "eu"', /^column 18: an operator is missing between 'region' at column 11 and '"eu"'$/],
    ['true && && false', /^column 9: a value is missing between '&&' at column 6 and '&&'$/],
    ['== "eu"', /^column 1: the expression starts with '=='; a value must come first$/],
    ['true ? false', /^column 6: this '\?' has no ':' part$/],
    ['principal.', /^column 10: a name must follow '\.'$/],
    ['principal.region == "eu" # comment', /^column 26: unexpected character '#'$/],
    ['1e == 1', /^column 1: malformed number$/],
    ['', /^column 1: the expression is empty$/],
    ['  // just a comment', /^column 1: the expression is empty$/],
    ['if == 1', /^column 1: syntax error: reserved identifier$/],
  ]
  for (const [expr, want] of cases) t.match(rejection(expr), want, JSON.stringify(expr))
})

t.test('a multi-line expression is located by line and column', async (t) => {
  const r = compileCondition('principal.region == "eu" &&\n  principal.tier = "gold"')
  t.notOk(r.ok)
  if (r.ok) return
  t.equal(r.message, "line 2, column 18: '=' is not an operator: write '==' to compare")
  t.equal(r.line, 2)
  t.equal(r.column, 18)
})

t.test('unknown variables, fields and functions are load errors', async (t) => {
  t.equal(rejection('princpal.region == "eu"'), 'column 1: unknown variable "princpal"; did you mean "principal"? (the variables are principal, request, time, source)')
  t.equal(rejection('user.region == "eu"'), 'column 1: unknown variable "user" (the variables are principal, request, time, source)')
  t.equal(
    rejection('principal.regoin == "eu"'),
    'column 11: principal has no field "regoin"; did you mean "region"? (its fields are subject, roles, tenant, region, tier, claims)',
  )
  t.match(rejection('request.modle == "large"'), /^column 9: request has no field "modle"; did you mean "model"\?/)
  t.match(rejection('source.port == 1'), /^column 8: source has no field "port" \(its fields are ip\)$/)
  t.equal(rejection('time.getHourz() > 1'), 'column 6: unknown method "getHourz"; did you mean "getHours"?')
  t.equal(rejection('lower(principal.region) == "eu"'), 'column 1: unknown function "lower"')
  t.match(rejection('has(time.seconds)'), /a timestamp has no field "seconds"/)
  t.equal(rejection('has(principal)'), 'column 1: has() takes one field access, as in has(principal.region)')
  t.equal(rejection('startsWith(principal.region, "e")'), 'column 1: "startsWith" is a method: write value.startsWith(...)')
})

t.test('a comment may end the expression', async (t) => {
  t.ok(compileCondition('principal.region == "eu" // EU only').ok)
  t.ok(compileCondition('principal.region == "eu" // EU only\n').ok)
})

t.test('comprehension variables are in scope only inside their macro', async (t) => {
  t.ok(compileCondition('principal.roles.exists(r, r.startsWith("team-"))').ok)
  t.match(rejection('principal.roles.exists(r, r == "a") && r == "a"'), /^column 40: unknown variable "r"/)
})

t.test('a condition must give a bool', async (t) => {
  t.equal(rejection('principal.region'), 'column 1: the condition gives a string, but it must give true or false')
  t.equal(rejection('size(principal.roles)'), 'column 1: the condition gives an int, but it must give true or false')
  t.equal(rejection('principal.roles'), 'column 1: the condition gives a list of string, but it must give true or false')
  t.equal(rejection('principal.roles.map(r, r == "a")'), 'column 1: the condition gives a list of any, but it must give true or false')
  t.equal(rejection('true ? "yes" : "no"'), 'column 1: the condition gives a string, but it must give true or false')
  // What is only known at run time is accepted here and checked on evaluation.
  t.ok(compileCondition('principal.claims.admin').ok)
  t.ok(compileCondition('true ? principal.claims.admin : false').ok)
})

t.test('operators on types that can never work are load errors', async (t) => {
  t.equal(
    rejection('principal.roles == "analyst"'),
    `column 17: '==' compares a list of string with a string, which is never equal; to test membership, use 'in', as in "admin" in principal.roles`,
  )
  t.equal(
    rejection('principal.region == null'),
    "column 18: '==' compares a string with null, which is never equal; to test whether a field is set, use has(), as in has(principal.region)",
  )
  t.equal(rejection('principal.region == 1'), "column 18: '==' compares a string with an int, which is never equal")
  t.equal(rejection('1 in principal.roles'), "column 3: 'in' looks for an int in a list of string, which can never contain it")
  t.equal(rejection('"a" in principal.region'), "column 18: 'in' needs a list or a map on its right, but this is a string")
  t.equal(rejection('principal.region && true'), "column 11: '&&' needs true or false on both sides, but this gives a string")
  t.equal(rejection('time.getHours() > "9"'), "column 17: '>' cannot be applied to an int and a string")
  t.equal(rejection('source.ip.startsWith(1)'), 'column 11: "startsWith" takes (string), not (int)')
  t.equal(rejection('principal.roles.startsWith("a")'), 'column 17: "startsWith" applies to a string, not to a list of string')
  t.equal(rejection('principal.roles.exists(r, r)'), 'column 27: the condition of exists() must give true or false, but gives a string')
  t.equal(rejection('principal.region[0] == "e"'), 'column 17: cannot index a string with [ ]')
  t.equal(rejection('principal["regoin"] == "eu"'), 'column 11: principal has no field "regoin"; did you mean "region"? (its fields are subject, roles, tenant, region, tier, claims)')
  // Numbers compare across int, uint and double, as CEL defines.
  t.ok(compileCondition('time.getHours() > 8.5 && size(principal.roles) >= 1u').ok)
})

t.test('literal arguments are checked at load', async (t) => {
  t.equal(
    rejection('time.getHours("Europe/Berlni") >= 9'),
    'column 15: unknown time zone "Europe/Berlni" (use an IANA name such as "Europe/Berlin", or an offset such as "+01:00")',
  )
  t.equal(rejection('time.getHours("+25:00") >= 9'), 'column 15: unknown time zone "+25:00" (use an IANA name such as "Europe/Berlin", or an offset such as "+01:00")')
  t.match(rejection('request.path.matches("(v1")'), /^column 22: invalid regular expression: .*missing \).* \(RE2 syntax: no backreferences or lookaround\)$/)
  t.match(rejection('request.path.matches("(a)\\\\1")'), /^column 22: invalid regular expression: /)
  t.match(rejection('request.path.matches("(?=v1)")'), /^column 22: invalid regular expression: /)
  t.equal(rejection('time > timestamp("yesterday")'), 'column 18: invalid timestamp "yesterday": expected RFC 3339, as in "2025-01-31T09:00:00Z"')
  t.equal(rejection('time - timestamp("2025-01-01T00:00:00Z") > duration("1 hour")'), 'column 53: invalid duration "1 hour": expected a duration such as "90s" or "1h30m"')
  t.equal(rejection('99999999999999999999 > 1'), 'column 1: this integer is out of range (64 bits)')
  t.equal(rejection('google.protobuf.Timestamp{seconds: 1} < time'), 'column 1: creating messages ("google.protobuf.Timestamp{...}") is not supported')
})

t.test('a compiled condition says which variables it reads', async (t) => {
  const read = (expr: string) => {
    const r = compileCondition(expr)
    if (!r.ok) throw new Error(r.message)
    return { variables: [...r.condition.variables].sort(), body: r.condition.readsRequestBody, expression: r.condition.expression }
  }
  t.same(read('principal.region == "eu"'), { variables: ['principal'], body: false, expression: 'principal.region == "eu"' })
  t.same(read('"analyst" in principal.roles && request.model == "large"'), { variables: ['principal', 'request'], body: false, expression: '"analyst" in principal.roles && request.model == "large"' })
  t.same(read('request.body.model == "large"').body, true)
  t.same(read('has(request.body)').body, true)
  t.same(read('request["body"].model == "large"').body, true)
  t.same(read('request.headers["x-debug"] == "1"').body, false)
  t.same(read('request.exists(k, k == "method")').body, true, 'the whole request escapes')
  t.same(read('time.getHours() < 12 || source.ip == "::1"').variables, ['source', 'time'])
  t.same(read('principal.roles.exists(request, request == "x")').variables, ['principal'], 'a macro variable shadows the global')
})

t.test('the variables documented in the index are the ones the checker knows', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const doc = await readFile(new URL('../../../src/core/cel/index.ts', import.meta.url), 'utf8')
  const documented = [...doc.matchAll(/^ \* \| `([a-z]+(?:\.[a-z]+)?)`/gm)].map((m) => m[1]!)
  t.ok(documented.length >= 14)
  for (const path of documented) {
    const r = compileCondition(path.includes('.') ? `has(${path})` : `${path} == ${path}`)
    t.ok(r.ok, `${path} ${r.ok ? '' : r.message}`)
  }
})

const SAMPLE = {
  principal: { subject: 'u', roles: ['team-a'], tier: 'gold', claims: { a: 1 } },
  request: { method: 'POST', path: '/v1/chat/completions', model: 'large', headers: { 'x-debug': '1' } },
  time: new Date('2025-03-30T01:00:00Z'),
  source: { ip: '::1' },
}

t.test('compiling never throws, whatever the text, nor does evaluating what compiled', async (t) => {
  const seeds = [
    '"analyst" in principal.roles && request.model == "large"',
    'time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 17',
    'has(principal.tier) ? principal.tier in ["gold", "platinum"] : principal.roles.exists(r, r.startsWith("team-"))',
    "request.headers['x-debug'] == '1' || {'a': [1, 2u, 3.0, b\"x\", null]}.size() > 0",
  ]
  const alphabet = ' ()[]{}.,:?!<>=&|+-*/%"\'\\abcdefghijklmnopqrstuvwxyz0123456789_\n@#$`'
  const rnd = mulberry32(42)
  let compiled = 0
  let refused = 0
  for (let i = 0; i < 3000; i++) {
    let s = seeds[i % seeds.length]!
    for (let edits = 1 + Math.floor(rnd() * 3); edits > 0; edits--) {
      const at = Math.floor(rnd() * (s.length + 1))
      const r = rnd()
      if (r < 0.4) s = s.slice(0, at) + s.slice(at + 1)
      else if (r < 0.8) s = s.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)]! + s.slice(at)
      else s = s.slice(0, at) + s.slice(at, at + 5).split('').reverse().join('') + s.slice(at + 5)
    }
    const result = compileCondition(s)
    if (result.ok) {
      compiled++
      const verdict = result.condition.evaluate(SAMPLE)
      if (typeof verdict !== 'boolean' && typeof verdict.error !== 'string') t.fail(`${JSON.stringify(s)} evaluated to ${JSON.stringify(verdict)}`)
    } else {
      refused++
      if (!/^(line \d+, )?column \d+: ./.test(result.message)) t.fail(`${JSON.stringify(s)}: ${result.message}`)
      if (/cannot be compiled/.test(result.message)) t.fail(`${JSON.stringify(s)} reached an unexpected shape: ${result.message}`)
    }
  }
  t.ok(compiled > 0 && refused > 0, `${compiled} compiled, ${refused} refused with a located message`)
})

t.test('a compiled condition says which request fields it reads', async (t) => {
  const fields = (expr: string) => {
    const r = compileCondition(expr)
    if (!r.ok) throw new Error(r.message)
    return [...r.condition.requestFields].sort()
  }
  t.same(fields('request.model == "large"'), ['model'])
  t.same(fields('request["model"] == "large" && request.path.startsWith("/v1")'), ['model', 'path'])
  t.same(fields('principal.region == "eu"'), [])
  t.same(fields('request.exists(k, k == "model")'), ['*'], 'the whole request escapes')
})
