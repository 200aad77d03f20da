/**
 * Access decisions through the real filter: a policy parsed by the factory's schema, compiled by
 * the factory, tokens signed with a shared secret that the policyFiles port serves.
 */
import t from 'tap'
import { filesPort } from '../../../helpers/jwt.js'
import { SignJWT } from 'jose'
import type { Filter, RequestContext } from '../../../../src/core/chain/types.js'
import { PRINCIPAL_STATE, type Principal } from '../../../../src/core/chain/principal.js'
import { authzFactory } from '../../../../src/core/filters/authz/index.js'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'
import { bufferedBody } from '../../../../src/core/http/request-body.js'
import type { AuthzMetricsPort, Ports } from '../../../../src/core/ports.js'

const ISS = 'https://idp.example'
const AUD = 'chatbot'
const SECRET = new TextEncoder().encode('0123456789abcdef0123456789abcdef')
/** Monday 2025-06-16 10:00:00 UTC. */
const NOW = new Date('2025-06-16T10:00:00Z')
const T0 = NOW.getTime() / 1000

interface Recorded {
  decisions: [string, boolean, 'enforce' | 'audit'][]
  rejected: string[]
  dependency: [string, string][]
  logs: { level: string; obj: object; msg: string | undefined }[]
}

function recorder(): Recorded & { metrics: AuthzMetricsPort } {
  const r: Recorded = { decisions: [], rejected: [], dependency: [], logs: [] }
  return {
    ...r,
    metrics: {
      decision: (rule, allow, mode) => void r.decisions.push([rule, allow, mode]),
      tokenRejected: (reason) => void r.rejected.push(reason),
      dependencyError: (dep, policy) => void r.dependency.push([dep, policy]),
    },
  }
}

const HIERARCHY = { guest: null, analyst: { inherits: ['guest'] }, 'senior-analyst': { inherits: ['analyst'] }, admin: { inherits: ['senior-analyst'] } }

function build(spec: { roles?: unknown; access?: unknown; identity?: Record<string, unknown> }, rec = recorder(), ports: Partial<Ports> = {}, now: () => Date = () => NOW): { filter: Filter; rec: ReturnType<typeof recorder> } {
  const config = authzFactory.schema.parse({
    identity: { jwt: { issuers: [{ issuer: ISS, audiences: [AUD], algorithms: ['HS256'], hmacSecretFile: 'hmac.key' }] }, ...spec.identity },
    roles: spec.roles ?? HIERARCHY,
    access: spec.access,
  })
  const filter = authzFactory.compile(config, {
    policyFiles: filesPort({ 'hmac.key': SECRET }),
    authzMetrics: rec.metrics,
    now,
    ...ports,
  })
  return { filter, rec }
}

async function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISS).setAudience(AUD).setIssuedAt(T0 - 60).setExpirationTime(T0 + 3600).sign(SECRET)
}

interface Req {
  method?: string
  path?: string
  token?: string
  headers?: Record<string, string>
  body?: unknown
  ip?: string
  /** Canonical, as the server hands it over. */
  host?: string
}

function context(r: Req, log: Recorded['logs'] = []): RequestContext {
  const headers: Record<string, string> = { ...r.headers }
  const rawHeaders = Object.entries(headers).flat()
  if (r.token !== undefined) {
    headers.authorization = `Bearer ${r.token}`
    rawHeaders.push('Authorization', headers.authorization)
  }
  const path = r.path ?? '/v1/chat/completions'
  const push = (level: string) => (obj: object, msg?: string) => void log.push({ level, obj, msg })
  return {
    id: 'r1',
    snapshot: { version: 1, digest: 'd' },
    request: { method: r.method ?? 'POST', url: path, path, query: '', headers, rawHeaders, remoteAddress: r.ip ?? '10.0.0.1', clientIp: r.ip ?? '10.0.0.1', protocol: 'http', ...(r.host !== undefined ? { host: r.host } : {}) },
    log: { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') },
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
    ...(r.body !== undefined ? { body: bufferedBody(new TextEncoder().encode(typeof r.body === 'string' ? r.body : JSON.stringify(r.body)), 'application/json', undefined) } : {}),
  }
}

/** 'allow', or the refusal code. */
async function outcome(filter: Filter, r: Req, log?: Recorded['logs']): Promise<string> {
  const v = await filter.onRequest!(context(r, log))
  if (v.kind === 'continue') return 'allow'
  if (v.kind === 'error') return v.code
  return 'reply'
}

t.test('default deny: with access rules, a request no rule allows is refused', async (t) => {
  const { filter, rec } = build({ access: [{ name: 'chat', match: { paths: ['/v1/chat/completions'] }, allow: { roles: ['guest'] } }] })
  const guest = await sign({ sub: 'g', roles: ['guest'] })
  const nobody = await sign({ sub: 'n' })
  t.equal(await outcome(filter, { token: guest }), 'allow', 'the rule allows')
  t.equal(await outcome(filter, { token: guest, path: '/v1/embeddings' }), 'forbidden', 'another path: default deny')
  t.equal(await outcome(filter, { token: nobody }), 'forbidden', 'a valid token without roles: default deny')
  t.equal(await outcome(filter, {}), 'unauthorized', 'no token: authenticate first')
  t.same(rec.decisions, [
    ['chat', true, 'enforce'],
    ['(default)', false, 'enforce'],
    ['(default)', false, 'enforce'],
    ['(default)', false, 'enforce'],
  ])
})

t.test('the 401 without a token asks for one; the 403 names no rule', async (t) => {
  const { filter } = build({ access: [{ name: 'secret-rule-name', deny: { authenticated: true } }] })
  const v = await filter.onRequest!(context({}))
  t.same(v, { kind: 'error', code: 'unauthorized', headers: { 'www-authenticate': 'Bearer realm="chaperone"' } })
  const log: Recorded['logs'] = []
  const denied = await filter.onRequest!(context({ token: await sign({ sub: 'x' }) }, log))
  t.same(denied, { kind: 'error', code: 'forbidden' }, 'no headers, no rule name in the verdict')
  t.match(log, [{ level: 'info', obj: { rule: 'secret-rule-name', subject: 'x' }, msg: 'access denied' }], 'the rule is in the log')
})

t.test('a policy without access rules refuses nothing for lack of permission', async (t) => {
  const { filter, rec } = build({})
  t.equal(await outcome(filter, {}), 'allow')
  t.equal(await outcome(filter, { token: await sign({ sub: 'x' }) }), 'allow')
  t.equal(await outcome(filter, { token: 'a.b.c' }), 'unauthorized', 'but identity alone still refuses an invalid token')
  t.same(rec.decisions, [], 'no decisions without rules')
})

t.test('a matching deny beats any allow, in either order', async (t) => {
  const allowAll = { name: 'all', allow: { roles: ['guest'] } }
  const denyAdmin = { name: 'no-admin-path', match: { paths: ['/admin/**'] }, deny: { roles: ['analyst'] } }
  const analyst = await sign({ roles: ['analyst'] })
  const guest = await sign({ roles: ['guest'] })
  for (const access of [
    [allowAll, denyAdmin],
    [denyAdmin, allowAll],
  ]) {
    const { filter, rec } = build({ access })
    const order = access.map((r) => r.name).join(', ')
    t.equal(await outcome(filter, { token: analyst, path: '/admin/users' }), 'forbidden', `${order}: the deny wins`)
    t.equal(await outcome(filter, { token: analyst, path: '/v1/chat' }), 'allow', `${order}: the deny does not match elsewhere`)
    t.equal(await outcome(filter, { token: guest, path: '/admin/users' }), 'allow', `${order}: the deny is for analysts`)
    t.same(rec.decisions[0], ['no-admin-path', false, 'enforce'], `${order}: the deny is the deciding rule`)
  }
})

t.test('methods', async (t) => {
  const { filter } = build({ access: [{ name: 'read', match: { methods: ['get', 'HEAD'] }, allow: { roles: ['guest'] } }] })
  const guest = await sign({ roles: ['guest'] })
  const table: [string, string][] = [
    ['GET', 'allow'],
    ['HEAD', 'allow'],
    ['POST', 'forbidden'],
    ['DELETE', 'forbidden'],
    ['get', 'forbidden'],
  ]
  for (const [method, want] of table) t.equal(await outcome(filter, { token: guest, method }), want, method)
  t.throws(() => build({ access: [{ name: 'x', match: { methods: ['TRACE'] }, allow: { anyone: true } }] }), 'an unknown method is a schema error')
})

t.test('models: exact, prefix, and a request without one', async (t) => {
  const { filter } = build({
    access: [
      { name: 'small', match: { models: ['gpt-4o-mini', 'gpt-4*'] }, allow: { roles: ['guest'] } },
      { name: 'no-preview', match: { models: ['gpt-4-preview*'] }, deny: { roles: ['guest'] } },
    ],
  })
  t.equal(filter.needsRequestBody, true, 'a model rule asks for the body')
  const guest = await sign({ roles: ['guest'] })
  const table: [string, unknown, string][] = [
    ['exact', { model: 'gpt-4o-mini' }, 'allow'],
    ['prefix', { model: 'gpt-4-turbo' }, 'allow'],
    ['prefix itself', { model: 'gpt-4' }, 'allow'],
    ['deny on a narrower prefix', { model: 'gpt-4-preview-2' }, 'forbidden'],
    ['no match', { model: 'gpt-3.5' }, 'forbidden'],
    ['case differs', { model: 'GPT-4' }, 'forbidden'],
    ['model not a string', { model: 4 }, 'forbidden'],
    ['no model', { messages: [] }, 'forbidden'],
    ['JSON but not an object', ['gpt-4'], 'forbidden'],
    ['not JSON', 'model=gpt-4', 'forbidden'],
    ['no body', undefined, 'forbidden'],
  ]
  for (const [name, body, want] of table) t.equal(await outcome(filter, { token: guest, body }), want, name)

  const { filter: denyOnly } = build({
    access: [
      { name: 'all', allow: { roles: ['guest'] } },
      { name: 'no-big', match: { models: ['big'] }, deny: { roles: ['guest'] } },
    ],
  })
  t.equal(await outcome(denyOnly, { token: guest, body: { model: 'big' } }), 'forbidden')
  t.equal(await outcome(denyOnly, { token: guest }), 'allow', 'a deny on a model does not match a request without one')
})

t.test('authenticated and anyone', async (t) => {
  const { filter } = build({
    identity: { anonymous: { role: 'guest' } },
    access: [
      { name: 'public', match: { paths: ['/public/**'] }, allow: { anyone: true } },
      { name: 'members', match: { paths: ['/members/**'] }, allow: { authenticated: true } },
      { name: 'guests', match: { paths: ['/guests/**'] }, allow: { roles: ['guest'] } },
    ],
  })
  const tok = await sign({ sub: 'u' })
  const table: [string, string | undefined, string][] = [
    ['/public/x', undefined, 'allow'],
    ['/public/x', tok, 'allow'],
    ['/members/x', undefined, 'unauthorized'],
    ['/members/x', tok, 'allow'],
    ['/guests/x', undefined, 'allow'],
    ['/guests/x', tok, 'forbidden'],
    ['/other', undefined, 'unauthorized'],
  ]
  for (const [path, token, want] of table) t.equal(await outcome(filter, { path, ...(token ? { token } : {}) }), want, `${path} ${token ? 'with' : 'without'} a token`)

  const { filter: noAnon } = build({ access: [{ name: 'guests', allow: { roles: ['guest'] } }, { name: 'deny-all', match: { paths: ['/closed'] }, deny: { anyone: true } }] })
  t.equal(await outcome(noAnon, {}), 'unauthorized', 'without an anonymous role, no token has no roles')
  t.equal(await outcome(noAnon, { token: await sign({ roles: ['admin'] }), path: '/closed' }), 'forbidden', 'deny anyone covers callers with every role')

  const { filter: denyMembers } = build({ identity: { anonymous: { role: 'guest' } }, access: [{ name: 'guests', allow: { roles: ['guest'] } }, { name: 'no-members', deny: { authenticated: true } }] })
  t.equal(await outcome(denyMembers, {}), 'allow', 'deny authenticated leaves anonymous callers alone')
  t.equal(await outcome(denyMembers, { token: await sign({ roles: ['guest'] }) }), 'forbidden')
})

t.test('role hierarchy: a rule for a role admits it and every role above it', async (t) => {
  const ladder = ['guest', 'analyst', 'senior-analyst', 'admin']
  const tokens = Object.fromEntries(await Promise.all(ladder.map(async (r) => [r, await sign({ roles: [r] })] as const)))
  for (const [i, ruleRole] of ladder.entries()) {
    const { filter } = build({ access: [{ name: `for-${ruleRole}`, allow: { roles: [ruleRole] } }] })
    const admitted: string[] = []
    for (const caller of ladder) if ((await outcome(filter, { token: tokens[caller] })) === 'allow') admitted.push(caller)
    t.same(admitted, ladder.slice(i), `allow ${ruleRole} admits ${ladder.slice(i).join(', ')}`)
  }
  for (const [i, ruleRole] of ladder.entries()) {
    const { filter } = build({ access: [{ name: 'all', allow: { roles: ['guest'] } }, { name: `not-${ruleRole}`, deny: { roles: [ruleRole] } }] })
    const refused: string[] = []
    for (const caller of ladder) if ((await outcome(filter, { token: tokens[caller] })) === 'forbidden') refused.push(caller)
    t.same(refused, ladder.slice(i), `deny ${ruleRole} refuses ${ladder.slice(i).join(', ')}`)
  }
  const { filter } = build({ identity: { anonymous: { role: 'analyst' } }, access: [{ name: 'g', allow: { roles: ['guest'] } }] })
  t.equal(await outcome(filter, {}), 'allow', 'the anonymous role inherits too')
})

t.test('the principal the other filters see has the expanded roles', async (t) => {
  const { filter } = build({ access: [{ name: 'g', allow: { roles: ['guest'] } }] })
  const ctx = context({ token: await sign({ sub: 'alice', roles: ['senior-analyst', 'undeclared'], tier: 'gold' }) })
  t.same(await filter.onRequest!(ctx), { kind: 'continue' })
  const p = ctx.state.get(PRINCIPAL_STATE) as Principal
  t.same([...p.roles].sort(), ['analyst', 'guest', 'senior-analyst', 'undeclared'])
  t.equal(p.subject, 'alice')
  t.equal(p.tier, 'gold')
})

t.test('"admin" as a string and as a list are the same role; "Admin " and "ADMIN" are not', async (t) => {
  const { filter } = build({ access: [{ name: 'admins', allow: { roles: ['admin'] } }] })
  const table: [unknown, string][] = [
    ['admin', 'allow'],
    [['admin'], 'allow'],
    [['guest', 'admin'], 'allow'],
    ['Admin ', 'forbidden'],
    [['Admin '], 'forbidden'],
    ['ADMIN', 'forbidden'],
    [' admin', 'forbidden'],
    ['admin,guest', 'forbidden'],
    [{ admin: true }, 'forbidden'],
    [[['admin']], 'forbidden'],
    ['', 'forbidden'],
  ]
  for (const [roles, want] of table) t.equal(await outcome(filter, { token: await sign({ roles }) }), want, JSON.stringify(roles))
})

t.test('CEL when: principal, request, time and source', async (t) => {
  const rule = (when: string) => ({ access: [{ name: 'cond', allow: { authenticated: true }, when }] })
  const gold = await sign({ sub: 'alice', roles: ['analyst'], tier: 'gold', tenant: 'acme', email: 'alice@example.com', groups: ['ops', 'dev'], level: 3 })
  const bronze = await sign({ sub: 'bob', roles: ['guest'], tier: 'bronze', email: 'bob@evil.test' })
  const table: [string, Req, string][] = [
    ['"analyst" in principal.roles', { token: gold }, 'allow'],
    ['"guest" in principal.roles', { token: gold }, 'allow'],
    ['"analyst" in principal.roles', { token: bronze }, 'forbidden'],
    ['principal.subject == "alice"', { token: gold }, 'allow'],
    ['principal.subject == "alice"', { token: bronze }, 'forbidden'],
    ['has(principal.tier) && principal.tier in ["gold", "platinum"]', { token: gold }, 'allow'],
    ['has(principal.tier) && principal.tier in ["gold", "platinum"]', { token: bronze }, 'forbidden'],
    ['principal.tenant == "acme"', { token: gold }, 'allow'],
    ['principal.claims.email.endsWith("@example.com")', { token: gold }, 'allow'],
    ['principal.claims.email.endsWith("@example.com")', { token: bronze }, 'forbidden'],
    ['"ops" in principal.claims.groups', { token: gold }, 'allow'],
    ['principal.claims.level >= 3', { token: gold }, 'allow'],
    ['principal.claims.iss == "https://idp.example"', { token: gold }, 'allow'],
    ['request.method == "GET"', { token: gold, method: 'GET' }, 'allow'],
    ['request.method == "GET"', { token: gold, method: 'POST' }, 'forbidden'],
    ['request.path.startsWith("/v1/")', { token: gold, path: '/v1/models' }, 'allow'],
    ['request.path.startsWith("/v1/")', { token: gold, path: '/v2/models' }, 'forbidden'],
    ['request.path.matches("^/v1/(chat|responses)")', { token: gold, path: '/v1/responses' }, 'allow'],
    ['has(request.model) && request.model == "small"', { token: gold, body: { model: 'small' } }, 'allow'],
    ['has(request.model) && request.model == "small"', { token: gold, body: { model: 'large' } }, 'forbidden'],
    ['has(request.model) && request.model == "small"', { token: gold }, 'forbidden'],
    ['request.body.max_tokens <= 1000', { token: gold, body: { model: 'm', max_tokens: 500 } }, 'allow'],
    ['request.body.max_tokens <= 1000', { token: gold, body: { model: 'm', max_tokens: 5000 } }, 'forbidden'],
    ['"x-debug" in request.headers && request.headers["x-debug"] == "1"', { token: gold, headers: { 'x-debug': '1' } }, 'allow'],
    ['"x-debug" in request.headers && request.headers["x-debug"] == "1"', { token: gold, headers: { 'x-debug': '0' } }, 'forbidden'],
    ['"x-debug" in request.headers', { token: gold }, 'forbidden'],
    ['time.getHours() == 10', { token: gold }, 'allow'],
    ['time.getHours("Europe/Berlin") == 12', { token: gold }, 'allow'],
    ['time.getDayOfWeek() == 1', { token: gold }, 'allow'],
    ['time.getDayOfWeek("Europe/Paris") in [0, 6]', { token: gold }, 'forbidden'],
    ['time >= timestamp("2025-06-16T09:59:59Z") && time < timestamp("2025-06-16T10:00:01Z")', { token: gold }, 'allow'],
    ['source.ip == "10.0.0.1"', { token: gold }, 'allow'],
    ['source.ip.startsWith("192.168.")', { token: gold, ip: '192.168.1.9' }, 'allow'],
    ['source.ip.startsWith("192.168.")', { token: gold }, 'forbidden'],
  ]
  for (const [when, req, want] of table) {
    const { filter } = build(rule(when))
    t.equal(await outcome(filter, req), want, `${when} ${JSON.stringify({ ...req, token: undefined })}`)
  }
})

t.test('CEL when reads the pinned clock at request time, not at compile time', async (t) => {
  let now = NOW
  const { filter } = build({ access: [{ name: 'office-hours', allow: { authenticated: true }, when: 'time.getHours("UTC") >= 9 && time.getHours("UTC") < 17' }] }, recorder(), {}, () => now)
  const tok = await sign({ sub: 'x' })
  t.equal(await outcome(filter, { token: tok }), 'allow', '10:00')
  now = new Date('2025-06-16T18:30:00Z')
  // The first token expired at 11:00: sign one that is valid at 18:30.
  const later = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISS).setAudience(AUD).setExpirationTime(now.getTime() / 1000 + 60).sign(SECRET)
  t.equal(await outcome(filter, { token: later }), 'forbidden', '18:30')
})

t.test('a condition on request.model makes the filter read the body, in any CEL spelling', async (t) => {
  const tok = await sign({ sub: 'x' })
  for (const when of ['has(request.model) && request.model == "big"', 'request["model"] == "big"', 'request.body.model == "big"']) {
    const { filter } = build({ access: [{ name: 'big', allow: { authenticated: true }, when }] })
    t.equal(filter.needsRequestBody, true, `${when}: needs the body`)
    t.equal(await outcome(filter, { token: tok, body: { model: 'big' } }), 'allow', `${when}: the model from the body decides`)
    t.equal(await outcome(filter, { token: tok, body: { model: 'small' } }), 'forbidden', `${when}: and can refuse`)
  }
  const { filter } = build({ access: [{ name: 'p', allow: { authenticated: true }, when: 'request.path == "/"' }] })
  t.equal(filter.needsRequestBody, false, 'a condition on the path alone does not')
})

t.test('a `when` on a deny limits the deny', async (t) => {
  const { filter } = build({
    access: [
      { name: 'all', allow: { roles: ['guest'] } },
      { name: 'no-big-outside-eu', deny: { roles: ['guest'] }, when: 'has(request.model) && request.model == "big" && !(has(principal.region) && principal.region == "eu")' },
    ],
  })
  const eu = await sign({ roles: ['guest'], region: 'eu' })
  const us = await sign({ roles: ['guest'], region: 'us' })
  t.equal(await outcome(filter, { token: eu, body: { model: 'big' } }), 'allow')
  t.equal(await outcome(filter, { token: us, body: { model: 'big' } }), 'forbidden')
  t.equal(await outcome(filter, { token: us, body: { model: 'small' } }), 'allow')
})

t.test('a bad `when` is a load error', async (t) => {
  t.throws(() => build({ access: [{ name: 'x', allow: { anyone: true }, when: 'principal.nope == 1' }] }), { errors: [{ path: ['access', 0, 'when'] }] })
  t.throws(() => build({ access: [{ name: 'x', allow: { anyone: true }, when: '"a"' }] }), { errors: [{ path: ['access', 0, 'when'] }] }, 'not a bool')
})

t.test('onError: by default a failing deny applies and a failing allow is skipped; explicit settings win', async (t) => {
  // principal.region is absent from the token: reading it is an evaluation error.
  const failing = 'principal.region == "eu"'
  const allowAll = { name: 'all', allow: { roles: ['guest'] } }
  const table: [string, object, string, [string, string]][] = [
    ['deny, default (apply)', { name: 'r', deny: { roles: ['guest'] }, when: failing }, 'forbidden', ['condition', 'deny']],
    ['deny, onError skip', { name: 'r', deny: { roles: ['guest'] }, when: failing, onError: 'skip' }, 'allow', ['condition', 'allow']],
    ['deny, onError apply', { name: 'r', deny: { roles: ['guest'] }, when: failing, onError: 'apply' }, 'forbidden', ['condition', 'deny']],
    ['allow, default (skip)', { name: 'r', allow: { roles: ['guest'] }, when: failing }, 'forbidden', ['condition', 'deny']],
    ['allow, onError apply', { name: 'r', allow: { roles: ['guest'] }, when: failing, onError: 'apply' }, 'allow', ['condition', 'allow']],
    ['allow, onError skip', { name: 'r', allow: { roles: ['guest'] }, when: failing, onError: 'skip' }, 'forbidden', ['condition', 'deny']],
  ]
  const tok = await sign({ roles: ['guest'] })
  for (const [name, rule, want, dependency] of table) {
    // A deny is tried against an allow that admits the caller; an allow stands alone.
    const access = 'deny' in rule ? [allowAll, rule] : [rule]
    const { filter, rec } = build({ access })
    const log: Recorded['logs'] = []
    t.equal(await outcome(filter, { token: tok, path: '/x' }, log), want, name)
    t.same(rec.dependency, [dependency], `${name}: counted`)
    t.match(log, [{ level: 'warn', obj: { rule: 'r' }, msg: 'access condition failed' }], `${name}: logged`)
  }
  const { filter, rec } = build({ access: [{ name: 'r', allow: { roles: ['guest'] }, when: 'has(principal.region) && principal.region == "eu"' }] })
  t.equal(await outcome(filter, { token: tok }), 'forbidden')
  t.same(rec.dependency, [], 'a guarded condition does not fail')
})

t.test('audit mode: an all-audit rule set evaluates, counts and logs, and never refuses', async (t) => {
  const { filter, rec } = build({
    access: [
      { name: 'analysts', match: { paths: ['/v1/**'] }, allow: { roles: ['analyst'] }, mode: 'audit' },
      { name: 'no-admin', match: { paths: ['/admin/**'] }, deny: { roles: ['guest'] }, mode: 'audit' },
    ],
  })
  const analyst = await sign({ sub: 'a', roles: ['analyst'] })
  const guest = await sign({ sub: 'g', roles: ['guest'] })
  const cases: [Req, boolean, string][] = [
    [{ token: analyst, path: '/v1/chat' }, true, 'analysts'],
    [{ token: guest, path: '/v1/chat' }, false, '(default)'],
    [{ token: analyst, path: '/admin/x' }, false, 'no-admin'],
    [{ path: '/v1/chat' }, false, '(default)'],
    [{ token: 'not-a-token', path: '/v1/chat' }, false, '(default)'],
  ]
  for (const [req, wouldAllow, rule] of cases) {
    rec.decisions.length = 0
    const log: Recorded['logs'] = []
    const label = `${req.path} ${req.token === undefined ? 'anonymous' : req.token === 'not-a-token' ? 'bad token' : ''}`
    t.equal(await outcome(filter, req, log), 'allow', `${label}: never refused`)
    t.same(rec.decisions, [[rule, wouldAllow, 'audit']], `${label}: counted in audit mode only`)
    const audit = log.filter((l) => l.msg?.startsWith('authz audit'))
    if (wouldAllow) t.same(audit, [], `${label}: nothing to report`)
    else t.match(audit, [{ level: 'info', obj: { rule, wouldAllow: false, allowed: true } }], `${label}: the would-be decision is logged`)
  }
  t.same(rec.rejected, ['malformed'], 'the bad token is still counted')
})

t.test('audit mode: in a mixed set only the enforce rules decide', async (t) => {
  const { filter, rec } = build({
    access: [
      { name: 'guests', allow: { roles: ['guest'] } },
      { name: 'trial-no-admin', match: { paths: ['/admin/**'] }, deny: { roles: ['guest'] }, mode: 'audit' },
      { name: 'no-secrets', match: { paths: ['/secrets/**'] }, deny: { roles: ['guest'] } },
      { name: 'trial-anon', allow: { anyone: true }, mode: 'audit' },
    ],
  })
  const guest = await sign({ roles: ['guest'] })
  const table: [Req, string, [string, boolean, string][]][] = [
    [{ token: guest, path: '/admin/x' }, 'allow', [['trial-no-admin', false, 'audit'], ['guests', true, 'enforce']]],
    [{ token: guest, path: '/secrets/x' }, 'forbidden', [['no-secrets', false, 'audit'], ['no-secrets', false, 'enforce']]],
    [{ path: '/v1' }, 'unauthorized', [['trial-anon', true, 'audit'], ['(default)', false, 'enforce']]],
    [{ token: guest, path: '/v1' }, 'allow', [['guests', true, 'audit'], ['guests', true, 'enforce']]],
  ]
  for (const [req, want, decisions] of table) {
    rec.decisions.length = 0
    t.equal(await outcome(filter, req), want, `${req.path} ${req.token ? 'guest' : 'anonymous'}`)
    t.same(rec.decisions, decisions, `${req.path}: both decisions counted`)
  }
  t.equal(await outcome(filter, { token: 'not-a-token' }), 'unauthorized', 'with enforce rules a bad token is refused')
})

t.test('a failing condition is counted once, whether its rule enforces or audits', async (t) => {
  const { filter, rec } = build({
    access: [
      { name: 'guests', allow: { roles: ['guest'] } },
      // First, so the audit pass reaches it before the enforced deny ends that pass.
      { name: 'audited-tier', deny: { roles: ['guest'] }, when: 'principal.tier == "trial"', mode: 'audit' },
      { name: 'enforced-tier', deny: { roles: ['guest'] }, when: 'principal.tier == "free"' },
    ],
  })
  // No tier claim: reading principal.tier fails in both conditions; a deny applies on error.
  t.equal(await outcome(filter, { token: await sign({ roles: ['guest'] }) }), 'forbidden')
  t.same(rec.dependency, [['condition', 'deny'], ['condition', 'deny']], 'one count per failing rule: enforced in the enforce pass, audited in the audit pass')
})

t.test('hosts: case-insensitive names, wildcards, and no Host no match', async (t) => {
  const { filter } = build({
    access: [
      { name: 'chat-host', match: { hosts: ['Chat.Example.com', '*.bots.example.com.'] }, allow: { roles: ['guest'] } },
      { name: 'ops-by-condition', allow: { roles: ['guest'] }, when: 'has(request.host) && request.host == "ops.example.com"' },
    ],
  })
  const guest = await sign({ roles: ['guest'] })
  const table: [string | undefined, string][] = [
    ['chat.example.com', 'allow'],
    ['a.bots.example.com', 'allow'],
    ['a.b.bots.example.com', 'allow'],
    ['bots.example.com', 'forbidden'],
    ['evilchat.example.com', 'forbidden'],
    ['ops.example.com', 'allow'],
    [undefined, 'forbidden'],
  ]
  for (const [host, want] of table) t.equal(await outcome(filter, { token: guest, ...(host !== undefined ? { host } : {}) }), want, String(host))
  t.notOk(authzFactory.schema.safeParse({ access: [{ name: 'x', match: { hosts: ['exa mple.com'] }, allow: { anyone: true } }] }).success, 'a host with a space is refused at load')
})
