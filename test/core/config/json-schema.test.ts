import t from 'tap'
import { readFileSync } from 'node:fs'
import { exportJsonSchemas, JSON_SCHEMA_FILES, renderJsonSchema } from '../../../src/core/config/json-schema.js'
import { FAKE_FACTORIES } from '../../helpers/fake-factories.js'

t.test('the committed schema files are exactly the generated ones', async (t) => {
  const schemas = exportJsonSchemas()
  for (const [kind, file] of Object.entries(JSON_SCHEMA_FILES)) {
    const committed = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8')
    t.equal(committed, renderJsonSchema(schemas[kind as keyof typeof schemas]), `${file} matches the generated schema (regenerate: npm run schema)`)
  }
})

t.test('both schemas are closed', async (t) => {
  const { policy, process } = exportJsonSchemas()
  t.equal(policy.additionalProperties, false)
  t.equal(process.additionalProperties, false)
  const props = policy.properties as Record<string, { additionalProperties?: unknown }>
  t.equal(props.metadata?.additionalProperties, false)
  t.equal(props.spec?.additionalProperties, false)
  t.same(policy.required, ['apiVersion', 'kind', 'metadata'])
})

t.test('each registered factory becomes an optional spec key with its own closed schema', async (t) => {
  const { policy } = exportJsonSchemas(FAKE_FACTORIES)
  const spec = (policy.properties as Record<string, { properties: Record<string, { additionalProperties?: unknown }>; required?: unknown }>).spec!
  t.same(Object.keys(spec.properties), ['gate', 'tail'])
  t.equal(spec.required, undefined)
  t.equal(spec.properties.gate!.additionalProperties, false)
})

t.test('the process schema documents defaults', async (t) => {
  const { process } = exportJsonSchemas()
  const props = process.properties as Record<string, { default?: unknown }>
  t.equal(props.listen?.default, '0.0.0.0:8080')
})
