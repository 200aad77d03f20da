import t from 'tap'
import { compileCondition, type CelActivation, type Condition } from '../../../src/core/cel/index.js'

function condition(expr: string): Condition {
  const r = compileCondition(expr)
  if (!r.ok) throw new Error(r.message)
  return r.condition
}

function activation(over: { principal?: Partial<CelActivation['principal']>; request?: Partial<CelActivation['request']>; time?: Date; ip?: string } = {}): CelActivation {
  return {
    principal: { subject: 'alice', roles: ['guest', 'analyst'], region: 'eu', tier: 'gold', claims: { email: 'alice@example.com', level: 3, groups: ['a', 'b'] }, ...over.principal },
    request: { method: 'POST', path: '/v1/chat/completions', model: 'large', headers: { 'content-type': 'application/json', 'x-debug': '1' }, body: { model: 'large', max_tokens: 2000 }, ...over.request },
    time: over.time ?? new Date('2025-06-02T10:00:00Z'),
    source: { ip: over.ip ?? '10.1.2.3' },
  }
}

t.test('the examples of the brief, true and false', async (t) => {
  const region = condition('principal.region == "eu"')
  t.equal(region.evaluate(activation()), true)
  t.equal(region.evaluate(activation({ principal: { region: 'us' } })), false)

  const analystLarge = condition('"analyst" in principal.roles && request.model == "large"')
  t.equal(analystLarge.evaluate(activation()), true)
  t.equal(analystLarge.evaluate(activation({ principal: { roles: ['guest'] } })), false)
  t.equal(analystLarge.evaluate(activation({ request: { model: 'small' } })), false)

  // 2025-06-02 is a Monday; Berlin is UTC+2 in summer.
  const officeHours = condition('time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 17')
  t.equal(officeHours.evaluate(activation({ time: new Date('2025-06-02T07:00:00Z') })), true, '09:00 in Berlin')
  t.equal(officeHours.evaluate(activation({ time: new Date('2025-06-02T06:59:59Z') })), false, '08:59:59 in Berlin')
  t.equal(officeHours.evaluate(activation({ time: new Date('2025-06-02T14:59:59Z') })), true, '16:59:59 in Berlin')
  t.equal(officeHours.evaluate(activation({ time: new Date('2025-06-02T15:00:00Z') })), false, '17:00 in Berlin')

  const body = condition('request.body.model == "large" && !("analyst" in principal.roles)')
  t.equal(body.evaluate(activation({ principal: { roles: ['guest'] } })), true)
  t.equal(body.evaluate(activation()), false)
})

t.test('in on lists and maps', async (t) => {
  t.equal(condition('"analyst" in principal.roles').evaluate(activation()), true)
  t.equal(condition('"admin" in principal.roles').evaluate(activation()), false)
  t.equal(condition('"admin" in principal.roles').evaluate(activation({ principal: { roles: [] } })), false)
  t.equal(condition('principal.tier in ["gold", "platinum"]').evaluate(activation()), true)
  t.equal(condition('principal.tier in ["silver"]').evaluate(activation()), false)
  t.equal(condition('principal.claims.level in [1, 2, 3]').evaluate(activation()), true, 'a JSON number (double) is found among ints')
  t.equal(condition('"b" in principal.claims.groups').evaluate(activation()), true)
  t.equal(condition('"x-debug" in request.headers').evaluate(activation()), true, 'in on a map tests its keys')
  t.equal(condition('"x-trace" in request.headers').evaluate(activation()), false)
  t.equal(condition('"email" in principal.claims').evaluate(activation()), true)
})

t.test('has() makes optional data usable', async (t) => {
  const guarded = condition('has(principal.tier) && principal.tier == "gold"')
  t.equal(guarded.evaluate(activation()), true)
  t.equal(guarded.evaluate(activation({ principal: { tier: undefined } })), false)
  const anonymous = activation()
  delete anonymous.principal.subject
  t.equal(condition('!has(principal.subject)').evaluate(anonymous), true)
  t.equal(condition('has(principal.claims.email)').evaluate(activation()), true)
  t.equal(condition('has(principal.claims.phone)').evaluate(activation()), false)
  t.equal(condition('has(request.body) && request.body.max_tokens > 1000').evaluate(activation()), true)
  t.equal(condition('has(request.body) && request.body.max_tokens > 1000').evaluate(activation({ request: { body: undefined } })), false)
  t.equal(condition('has(request.route)').evaluate(activation()), false)
  t.equal(condition('has(request.route)').evaluate(activation({ request: { route: 'chat' } })), true)
})

t.test('string functions', async (t) => {
  t.equal(condition('request.path.startsWith("/v1/")').evaluate(activation()), true)
  t.equal(condition('request.path.startsWith("/v2/")').evaluate(activation()), false)
  t.equal(condition('principal.claims.email.endsWith("@example.com")').evaluate(activation()), true)
  t.equal(condition('principal.claims.email.endsWith("@example.org")').evaluate(activation()), false)
  t.equal(condition('source.ip.contains(".2.")').evaluate(activation()), true)
  t.equal(condition('principal.claims.email.lowerAscii() == "alice@example.com"').evaluate(activation({ principal: { claims: { email: 'Alice@Example.COM' } } })), true)
  t.equal(condition('request.headers["content-type"].split(";")[0] == "application/json"').evaluate(activation({ request: { headers: { 'content-type': 'application/json; charset=utf-8' } } })), true)
  t.equal(condition('size(principal.subject) == 5').evaluate(activation()), true)
  t.equal(condition('size("日本語") == 3').evaluate(activation()), true, 'size counts characters')
  t.equal(condition('size("😀") == 1').evaluate(activation()), true, 'a character outside the BMP counts once')
})

t.test('matches uses RE2 and is unanchored unless anchored', async (t) => {
  t.equal(condition('request.path.matches("chat")').evaluate(activation()), true)
  t.equal(condition('request.path.matches("^chat")').evaluate(activation()), false)
  t.equal(condition('request.path.matches("^/v1/(chat|responses)")').evaluate(activation()), true)
  t.equal(condition('request.path.matches("^/v1/(chat|responses)")').evaluate(activation({ request: { path: '/v1/embeddings' } })), false)
  t.equal(condition('principal.subject.matches("(?i)^ALICE$")').evaluate(activation()), true, 'RE2 flags')
  t.equal(condition('principal.subject.matches("^.{5}$")').evaluate(activation({ principal: { subject: 'ünïcø' } })), true, '. is a character')
  t.equal(condition('request.path.matches(principal.claims.pattern)').evaluate(activation({ principal: { claims: { pattern: '^/v1/' } } })), true, 'a pattern from data')
})

t.test('matches runs in linear time on input that makes backtracking engines explode', async (t) => {
  const c = condition('principal.subject.matches("^(a+)+$")')
  const evil = `${'a'.repeat(100_000)}!`
  const started = performance.now()
  t.equal(c.evaluate(activation({ principal: { subject: evil } })), false)
  t.ok(performance.now() - started < 1000, 'far below the seconds-to-centuries a backtracking engine needs')
  t.equal(c.evaluate(activation({ principal: { subject: 'aaaa' } })), true)
})

t.test('evaluation errors are returned, never thrown', async (t) => {
  t.same(condition('principal.tier == "gold"').evaluate(activation({ principal: { tier: undefined } })), {
    error: 'column 11: principal.tier is not set; test it first with has(principal.tier)',
  })
  t.same(condition('request.headers["x-trace"] == "1"').evaluate(activation()), {
    error: 'column 16: request.headers has no key "x-trace"; test it first with "x-trace" in request.headers',
  })
  t.same(condition('principal.claims.email.endsWith("@example.com")').evaluate(activation({ principal: { claims: {} } })), {
    error: 'column 18: principal.claims.email is not set; test it first with has(principal.claims.email)',
  })
  const mismatch = condition('principal.claims.level > 2').evaluate(activation({ principal: { claims: { level: 'high' } } }))
  t.match(mismatch, { error: /^column 24: .*no matching overload.*'_>_'.*\(string, int\)/ }, 'a claim of an unexpected type')
  t.match(condition('principal.claims.admin').evaluate(activation({ principal: { claims: { admin: 'yes' } } })), { error: 'the condition gave a string, not true or false' })
  t.match(condition('request.path.matches(principal.claims.pattern)').evaluate(activation({ principal: { claims: { pattern: '(' } } })), { error: /missing \)/ })
  t.match(condition('time.getHours(principal.claims.tz) > 9').evaluate(activation({ principal: { claims: { tz: 'Mars/Olympus' } } })), { error: /unknown time zone "Mars\/Olympus"/ })
  t.match(condition('time.getHours() > 9').evaluate(activation({ time: new Date(Number.NaN) })), { error: /./ }, 'an invalid Date')
  t.match(condition('principal.claims.n / 0 == 1').evaluate(activation({ principal: { claims: { n: 1 } } })), { error: /./ })
  t.match(condition('1 / (size(principal.roles) - 2) == 1').evaluate(activation()), { error: /divide by zero/ })
})

t.test('CEL’s commutative logic: a decided && or || ignores an error on the other side', async (t) => {
  const a = activation({ principal: { tier: undefined } })
  t.equal(condition('principal.tier == "gold" || principal.region == "eu"').evaluate(a), true)
  t.equal(condition('principal.tier == "gold" && principal.region == "us"').evaluate(a), false)
  t.match(condition('principal.tier == "gold" || principal.region == "us"').evaluate(a), { error: /principal\.tier is not set/ })
})

t.test('data that is not plain JSON does not escape as an exception', async (t) => {
  const hostile = activation({ principal: { claims: { fn: () => 1, date: new Date(0), nested: Object.create(null) as Record<string, unknown> } } })
  Object.defineProperty(hostile.principal.claims, 'boom', { enumerable: true, get: () => { throw new Error('getter') } })
  for (const expr of ['principal.claims.fn == 1', 'principal.claims.date == 1', 'has(principal.claims.nested.x)', 'principal.claims.boom == 1', 'principal.claims.exists(k, k == "x")', 'size(principal.claims) > 0']) {
    const r = condition(expr).evaluate(hostile)
    t.ok(typeof r === 'boolean' || typeof r.error === 'string', expr)
  }
  t.equal(condition('has(principal.claims.nested.x)').evaluate(hostile), false, 'a null-prototype object is a map')
})

t.test('a record with undefined properties hides them from iteration and size', async (t) => {
  const a = activation({ principal: { claims: { a: 1, b: undefined, c: 'x' } } })
  t.equal(condition('size(principal.claims) == 2').evaluate(a), true)
  t.equal(condition('principal.claims.all(k, k != "b")').evaluate(a), true)
  t.equal(condition('principal.claims.exists(k, k == "c")').evaluate(a), true)
})

t.test('JSON numbers compare with ints, as CEL does across numeric types', async (t) => {
  t.equal(condition('request.body.max_tokens > 1000').evaluate(activation()), true)
  t.equal(condition('request.body.max_tokens == 2000').evaluate(activation()), true)
  t.equal(condition('request.body.max_tokens < 1000.5').evaluate(activation()), false)
  t.equal(condition('principal.claims.level >= 3u').evaluate(activation()), true)
})

t.test('a compiled condition is reusable and independent of earlier activations', async (t) => {
  const c = condition('"analyst" in principal.roles')
  const yes = activation()
  const no = activation({ principal: { roles: ['guest'] } })
  for (let i = 0; i < 3; i++) {
    t.equal(c.evaluate(yes), true)
    t.equal(c.evaluate(no), false)
  }
  yes.principal.roles = ['guest']
  t.equal(c.evaluate(yes), false, 'the activation is read at evaluation, not cached')
})
