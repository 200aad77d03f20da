import t from 'tap'
import { formatConfigError, formatPath } from '../../../src/core/config/errors.js'

t.test('paths render dotted, with indexes and quoted odd keys', async (t) => {
  t.equal(formatPath(['spec', 'moderation', 'rules', 2, 'regex']), 'spec.moderation.rules[2].regex')
  t.equal(formatPath([1, 'spec', 'roles', 'senior-analyst']), '[1].spec.roles.senior-analyst')
  t.equal(formatPath(['metadata', 'labels', 'app.kubernetes.io/name']), 'metadata.labels["app.kubernetes.io/name"]')
  t.equal(formatPath(['a', 'has space', '0']), 'a["has space"]["0"]')
  t.equal(formatPath([]), '(root)')
})

t.test('errors render as file:path: message', async (t) => {
  t.equal(formatConfigError({ file: 'b.yaml', path: 'spec.roles.admin', message: 'already defined in a.yaml', line: 3 }), 'b.yaml:spec.roles.admin: already defined in a.yaml')
})
