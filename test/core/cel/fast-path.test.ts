import { parse, plan, isCelError } from '@bufbuild/cel'
import t from 'tap'
import { toBindings, type CelActivation } from '../../../src/core/cel/activation.js'
import { celEnvironment } from '../../../src/core/cel/environment.js'
import { compileFastPath } from '../../../src/core/cel/fast-path.js'
import { compileCondition } from '../../../src/core/cel/index.js'
import { mulberry32 } from '../../helpers/prng.js'

// The fast path must never disagree with the library: where it answers, the library gives the
// same bool; where the library fails, the fast path defers. Random expressions over the subset
// it handles, against random activations with missing, null and mistyped data.

const ALL = new Set(['principal', 'request', 'time', 'source'] as const)

function generator(seed: number) {
  const rnd = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const strings = ['"eu"', '"us"', '""', '"analyst"', '"gold"', '"/v1/chat"', '"a@example.com"', '"POST"', '"x-a"', '"Europe/Berlin"']
  const numbers = ['0', '1', '3', '1000', '-2', '1.5', '3.0', '9', '17']
  const lists = ['["eu", "us"]', '[1, 3]', '[1, "eu", true]', '[]', '["analyst", "admin"]']
  const selects = [
    'principal.subject', 'principal.roles', 'principal.tenant', 'principal.region', 'principal.tier',
    'principal.claims.email', 'principal.claims.level', 'principal.claims.groups', 'principal.claims.flag',
    'principal.claims.nested.deep', 'principal.claims.nul', 'principal.claims.tz',
    'request.method', 'request.path', 'request.route', 'request.model', 'request.headers.accept',
    'request.body.model', 'request.body.max_tokens', 'request.body.messages', 'source.ip',
  ]
  const paths = [...selects, 'request.headers["x-a"]', 'principal.claims["email"]']
  const literal = (): string => pick([pick(strings), pick(numbers), 'true', 'false', 'null'])
  const operand = (): string => (rnd() < 0.6 ? pick(paths) : literal())
  const bool = (depth: number): string => {
    const r = rnd()
    if (depth > 0 && r < 0.25) return `(${bool(depth - 1)}) ${pick(['&&', '||'])} (${bool(depth - 1)})`
    if (depth > 0 && r < 0.3) return `!(${bool(depth - 1)})`
    if (depth > 0 && r < 0.33) return `(${bool(depth - 1)}) ? (${bool(depth - 1)}) : (${bool(depth - 1)})`
    switch (pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])) {
      case 0:
        return `${operand()} ${pick(['==', '!='])} ${operand()}`
      case 1:
        return `${operand()} ${pick(['<', '<=', '>', '>='])} ${operand()}`
      case 2:
        return `${operand()} in ${rnd() < 0.5 ? pick(lists) : pick(['principal.roles', 'request.headers', 'principal.claims.groups', 'principal.claims', 'request.body.messages'])}`
      case 3:
        return `has(${pick(selects)})`
      case 4:
        return `${pick(paths)}.${pick(['startsWith', 'endsWith', 'contains'])}(${rnd() < 0.8 ? pick(strings) : pick(paths)})`
      case 5:
        return `${pick(paths)}.matches(${pick(['"^e"', '"[0-9]+"', '"@example\\\\.com$"', 'principal.claims.pattern'])})`
      case 6:
        return rnd() < 0.5 ? `size(${pick(paths)}) ${pick(['>', '==', '<'])} ${pick(['0', '2', '5'])}` : `${pick(paths)}.size() ${pick(['>', '=='])} ${pick(['0', '2'])}`
      case 7:
        return `time.${pick(['getHours', 'getDayOfWeek', 'getMinutes', 'getDate', 'getMonth', 'getFullYear', 'getDayOfYear'])}(${pick(['', '"Europe/Berlin"', '"America/New_York"', '"+05:30"', 'principal.claims.tz'])}) ${pick(['>=', '<', '=='])} ${pick(['0', '3', '9', '17', '2025'])}`
      case 8:
        return pick(['principal.claims.flag', 'true', 'false', 'principal.claims.nested.deep'])
      case 9:
        return `${pick(paths)}[${pick(['"k"', '0', 'principal.region'])}] == ${literal()}`
      default: {
        const range = pick(['principal.roles', 'principal.claims.groups', 'request.body.messages', 'principal.claims', '[1, 2, 3]', '["eu", "us"]', 'principal.claims.nested'])
        const predicate = pick(['x == "eu"', 'x.startsWith("a")', 'x in ["eu", "analyst"]', 'has(x.role)', 'x.role == "system"', 'true', 'x > 1', `x == ${operand()}`, `(${bool(0)})`])
        return `${range}.${pick(['exists', 'all', 'exists_one'])}(x, ${predicate})`
      }
    }
  }
  const maybe = <T>(v: T, p = 0.7): T | undefined => (rnd() < p ? v : undefined)
  const weird = (): unknown => pick(['eu', 'us', '', 3, 1.5, true, null, ['eu', 2], { k: 'v' }, undefined, 'Europe/Berlin', 'a@example.com'])
  const activation = (): CelActivation => {
    const claims: Record<string, unknown> = {}
    for (const k of ['email', 'level', 'groups', 'flag', 'nested', 'nul', 'tz', 'pattern']) if (rnd() < 0.7) claims[k] = weird()
    if (rnd() < 0.5) claims.nested = { deep: pick([true, false, 'x', null]) }
    if (rnd() < 0.3) claims.pattern = pick(['^a', '(', '[0-9]'])
    if (rnd() < 0.3) claims.tz = pick(['Europe/Berlin', 'Nowhere/City', '+01:00'])
    const principal = {
      subject: maybe('u1'),
      roles: pick([['analyst'], ['guest', 'analyst'], [], ['eu', 3, null]]) as string[],
      tenant: maybe('t1'),
      region: maybe(pick(['eu', 'us'])) as string | undefined,
      tier: rnd() < 0.2 ? (weird() as string) : maybe('gold'),
      claims,
    }
    const headers: Record<string, string> = {}
    if (rnd() < 0.5) headers['x-a'] = pick(['1', 'eu', ''])
    if (rnd() < 0.5) headers.accept = '*/*'
    const body = maybe<Record<string, unknown>>({ model: weird(), max_tokens: pick([100, 2000, '5', undefined]), messages: pick([[], ['eu'], [{ role: 'system' }]]) }, 0.6)
    return {
      principal,
      request: { method: pick(['POST', 'GET']), path: pick(['/v1/chat/completions', '/health']), route: maybe('chat'), model: maybe(pick(['large', 'small'])), headers, body },
      time: new Date(Date.UTC(2025, 0, 1) + Math.floor(rnd() * 365 * 86_400_000)),
      source: { ip: pick(['10.0.0.1', '::1']) },
    }
  }
  return { bool, activation }
}

t.test('the fast path agrees with the library wherever it answers', async (t) => {
  const g = generator(20250330)
  let compiled = 0
  let answered = 0
  let deferred = 0
  let disagreements = 0
  for (let i = 0; i < 1000; i++) {
    const source = g.bool(2)
    const checked = compileCondition(source)
    if (!checked.ok) continue
    const parsed = parse(source)
    const fast = compileFastPath(parsed)
    if (fast === undefined) continue
    compiled++
    const lib = plan(celEnvironment, parsed)
    for (let j = 0; j < 20; j++) {
      const a = g.activation()
      const expected = lib(toBindings(a, ALL))
      const got = fast(a)
      if (got === undefined) {
        deferred++
      } else {
        answered++
        if (got !== expected) {
          disagreements++
          if (disagreements <= 5) t.fail(`${source}: fast path says ${got}, library says ${isCelError(expected) ? `error ${expected.message}` : String(expected)}`, { activation: a })
        }
      }
      // The public evaluate gives the library's answer either way.
      const evaluated = checked.condition.evaluate(a)
      if (typeof expected === 'boolean') {
        if (evaluated !== expected) t.fail(`${source}: evaluate gives ${JSON.stringify(evaluated)}, library ${expected}`)
      } else if (typeof evaluated === 'boolean') {
        t.fail(`${source}: evaluate gives ${evaluated} where the library fails`)
      }
    }
  }
  t.equal(disagreements, 0, 'no disagreement')
  t.ok(compiled > 400, `most generated conditions take the fast path (${compiled})`)
  t.ok(answered > deferred, `the fast path answers most evaluations (${answered} answered, ${deferred} deferred)`)
})

t.test('what the fast path does not compile is left to the library', async (t) => {
  for (const source of ['principal.roles.map(r, r + "x").size() > 0', 'timestamp("2025-01-01T00:00:00Z") < time', 'principal.region + "x" == "eux"', 'size(principal.roles) > 1u', 'principal.claims.level == 2 * 3']) {
    t.equal(compileFastPath(parse(source)), undefined, source)
  }
})

t.test('the fast path reads the activation as given, without the library', async (t) => {
  const a: CelActivation = {
    principal: { roles: ['analyst'], region: 'eu', claims: {} },
    request: { method: 'POST', path: '/v1/chat/completions', model: 'large', headers: {} },
    time: new Date('2025-03-30T07:30:00Z'),
    source: { ip: '10.0.0.1' },
  }
  const run = (s: string) => compileFastPath(parse(s))!(a)
  t.equal(run('principal.region == "eu"'), true)
  t.equal(run('"analyst" in principal.roles && request.model == "large"'), true)
  t.equal(run('time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 17'), true)
  t.equal(run('principal.tier == "gold"'), undefined, 'a field that is not set is the library’s to report')
  t.equal(run('has(principal.tier) && principal.tier == "gold"'), false, 'has() guards it')
})
