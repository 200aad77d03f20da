import t from 'tap'
import type { FilterFactory } from '../../../../src/core/chain/types.js'
import { compilePolicies } from '../../../../src/core/config/compile.js'
import { formatConfigError } from '../../../../src/core/config/errors.js'
import { authzFactory } from '../../../../src/core/filters/authz/index.js'
import { lintAuthz } from '../../../../src/core/filters/authz/lint.js'
import { authzSchema } from '../../../../src/core/filters/authz/schema.js'
import { expandRoles } from '../../../../src/core/filters/authz/roles.js'
import { compileAccessRules } from '../../../../src/core/filters/authz/rules.js'

const ROLES = { guest: null, analyst: { inherits: ['guest'] }, admin: { inherits: ['analyst'] } }

/** `path: message` of each warning. */
function lint(access: unknown[], roles: unknown = ROLES): string[] {
  return warningsOf({ roles, access }).map((w) => `${w.path.join('.')}: ${w.message}`)
}

function warningsOf(spec: unknown) {
  const config = authzSchema.parse(spec)
  const closures = expandRoles(config.roles ?? {})
  return lintAuthz(compileAccessRules(config.access ?? [], closures), closures)
}

t.test('no access rules, no warnings', async (t) => {
  t.same(warningsOf({}), [])
  t.same(warningsOf({ roles: ROLES }), [])
})

t.test('a constant-false `when` can never match', async (t) => {
  const table: [string, boolean][] = [
    ['false', true],
    ['1 == 2', true],
    ['"a" == "b" || false', true],
    ['!true', true],
    ['true', false],
    ['1 == 1', false],
    ['principal.subject == "x"', false],
  ]
  for (const [when, warns] of table) {
    const warnings = lint([{ name: 'r', allow: { roles: ['guest'] }, when }])
    if (warns) t.same(warnings, ['access.0.when: rule r can never match: its condition is always false'], when)
    else t.same(warnings, [], `${when}: not constant false`)
  }
})

t.test('a role allowed and denied on the same requests, both without `when`', async (t) => {
  const cases: [string, unknown[], string[]][] = [
    [
      'deny covers the allow by path',
      [
        { name: 'chat', match: { paths: ['/v1/chat/completions'] }, allow: { roles: ['analyst'] } },
        { name: 'no-v1', match: { paths: ['/v1/**'] }, deny: { roles: ['analyst'] } },
      ],
      ['access.0.allow.roles.0: role analyst is allowed by rule chat and denied by rule no-v1 on the same requests; the deny always wins, so chat never admits it'],
    ],
    [
      'deny without match covers everything',
      [
        { name: 'chat', match: { paths: ['/v1/**'], methods: ['POST'], models: ['gpt-4o'] }, allow: { roles: ['guest', 'analyst'] } },
        { name: 'no-analysts', deny: { roles: ['analyst'] } },
      ],
      ['access.0.allow.roles.1: role analyst is allowed by rule chat and denied by rule no-analysts on the same requests; the deny always wins, so chat never admits it'],
    ],
    [
      'the same glob',
      [
        { name: 'a', match: { paths: ['/v1/*/x'] }, allow: { roles: ['guest'] } },
        { name: 'd', match: { paths: ['/v1/*/x'] }, deny: { roles: ['guest'] } },
      ],
      ['access.0.allow.roles.0: role guest is allowed by rule a and denied by rule d on the same requests; the deny always wins, so a never admits it'],
    ],
    [
      'a deny with `when`: no warning',
      [
        { name: 'chat', match: { paths: ['/v1/chat'] }, allow: { roles: ['analyst'] } },
        { name: 'night', match: { paths: ['/v1/**'] }, deny: { roles: ['analyst'] }, when: 'time.getHours() < 6' },
      ],
      [],
    ],
    [
      'an allow with `when`: no warning',
      [
        { name: 'chat', match: { paths: ['/v1/chat'] }, allow: { roles: ['analyst'] }, when: 'request.method == "POST"' },
        { name: 'no-v1', match: { paths: ['/v1/**'] }, deny: { roles: ['analyst'] } },
      ],
      [],
    ],
    [
      'a deny on a narrower path: no warning',
      [
        { name: 'v1', match: { paths: ['/v1/**'] }, allow: { roles: ['analyst'] } },
        { name: 'no-admin', match: { paths: ['/v1/admin'] }, deny: { roles: ['analyst'] } },
      ],
      [],
    ],
    [
      'a deny on a narrower prefix: no warning',
      [
        { name: 'v1', match: { paths: ['/v1/**'] }, allow: { roles: ['analyst'] } },
        { name: 'no-admin', match: { paths: ['/v1/admin/**'] }, deny: { roles: ['analyst'] } },
      ],
      [],
    ],
    [
      'a deny on fewer methods: no warning',
      [
        { name: 'all', allow: { roles: ['analyst'] } },
        { name: 'no-delete', match: { methods: ['DELETE'] }, deny: { roles: ['analyst'] } },
      ],
      [],
    ],
    [
      'a deny on more methods: warns',
      [
        { name: 'read', match: { methods: ['GET'] }, allow: { roles: ['analyst'] } },
        { name: 'no-rw', match: { methods: ['GET', 'POST'] }, deny: { roles: ['analyst'] } },
      ],
      ['access.0.allow.roles.0: role analyst is allowed by rule read and denied by rule no-rw on the same requests; the deny always wins, so read never admits it'],
    ],
    [
      'a deny on a model prefix covering the allowed model: warns',
      [
        { name: 'small', match: { models: ['gpt-4o-mini'] }, allow: { roles: ['guest'] } },
        { name: 'no-gpt4', match: { models: ['gpt-4*'] }, deny: { roles: ['guest'] } },
      ],
      ['access.0.allow.roles.0: role guest is allowed by rule small and denied by rule no-gpt4 on the same requests; the deny always wins, so small never admits it'],
    ],
    [
      'a deny in another mode: no warning',
      [
        { name: 'chat', allow: { roles: ['analyst'] } },
        { name: 'trial', deny: { roles: ['analyst'] }, mode: 'audit' },
      ],
      [],
    ],
    [
      'a deny for another role: no warning',
      [
        { name: 'chat', allow: { roles: ['analyst'] } },
        { name: 'no-admins', deny: { roles: ['admin'] } },
      ],
      [],
    ],
    [
      'inherited: allow admin, deny guest, admin inherits guest: warns',
      [
        { name: 'admins', match: { paths: ['/admin/**'] }, allow: { roles: ['admin'] } },
        { name: 'no-guests', deny: { roles: ['guest'] } },
      ],
      ['access.0.allow.roles.0: role admin is allowed by rule admins and denied by rule no-guests on the same requests; the deny always wins, so admins never admits it'],
    ],
    [
      'inherited the other way: allow guest, deny admin: no warning (a guest is not an admin)',
      [
        { name: 'guests', allow: { roles: ['guest'] } },
        { name: 'no-admins', deny: { roles: ['admin'] } },
      ],
      [],
    ],
    [
      'deny anyone covers every allow',
      [
        { name: 'members', match: { paths: ['/x'] }, allow: { authenticated: true } },
        { name: 'closed', match: { paths: ['/x'] }, deny: { anyone: true } },
      ],
      ['access.0.allow: every caller is allowed by rule members and denied by rule closed on the same requests; the deny always wins, so members never admits anyone'],
    ],
    [
      'deny authenticated does not cover allow anyone (anonymous callers pass)',
      [
        { name: 'public', allow: { anyone: true } },
        { name: 'no-members', deny: { authenticated: true } },
      ],
      [],
    ],
  ]
  for (const [name, access, want] of cases) t.same(lint(access), want, name)
})

t.test('ignoreCase: a case-sensitive deny does not cover a case-insensitive allow', async (t) => {
  t.same(
    lint([
      { name: 'a', match: { paths: ['/admin'], ignoreCase: true }, allow: { roles: ['guest'] } },
      { name: 'd', match: { paths: ['/admin'] }, deny: { roles: ['guest'] } },
    ]),
    [],
    '/ADMIN is allowed and not denied',
  )
  t.equal(
    lint([
      { name: 'a', match: { paths: ['/admin'] }, allow: { roles: ['guest'] } },
      { name: 'd', match: { paths: ['/ADMIN'], ignoreCase: true }, deny: { roles: ['guest'] } },
    ]).length,
    1,
    'a case-insensitive deny covers a case-sensitive allow',
  )
})

t.test('through compilePolicies the warnings come back as file:path in snapshot.warnings', async (t) => {
  const policy = (name: string, spec: string) => `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n${spec}`
  const r = compilePolicies(
    [
      { name: 'roles.yaml', content: policy('roles', '  roles:\n    guest: null\n    admin:\n      inherits: [guest]\n') },
      {
        name: 'rules.yaml',
        content: policy(
          'rules',
          '  access:\n    - name: admins\n      match: { paths: [/admin/**] }\n      allow: { roles: [admin] }\n    - name: never\n      allow: { roles: [guest] }\n      when: "1 == 2"\n',
        ),
      },
      { name: 'z.yaml', content: policy('z', '  access:\n    - name: no-guests\n      deny: { roles: [guest] }\n') },
    ],
    [authzFactory as FilterFactory],
    {},
    { version: 1, loadedAt: new Date(0) },
  )
  if (!r.ok) return t.fail(r.errors.map(formatConfigError).join('\n'))
  t.same(r.snapshot.warnings.map(formatConfigError).sort(), [
    'rules.yaml:spec.access[0].allow.roles[0]: role admin is allowed by rule admins and denied by rule no-guests on the same requests; the deny always wins, so admins never admits it',
    'rules.yaml:spec.access[1].when: rule never can never match: its condition is always false',
  ])
  t.match(r.snapshot.warnings.find((w) => w.path.endsWith('when')), { line: 12 }, 'with the line of the key')
})
