/**
 * One policy document. The envelope is fixed; `spec` is closed and has exactly one optional key
 * per filter factory, validated by that factory's own schema, so adding a filter to the
 * registry is all it takes to extend the format (and its published JSON Schema).
 */
import { z } from 'zod'
import type { FilterFactory } from '../chain/types.js'

export const POLICY_API_VERSION = 'chaperone.dev/v1'
export const POLICY_KIND = 'Policy'

/** A Kubernetes DNS label: it ends up in logs, metrics labels and /admin/config. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

const stringMap = z.record(z.string(), z.string())

export function buildSpecSchema(factories: readonly FilterFactory[]) {
  const shape: Record<string, z.ZodType> = {}
  for (const f of factories) {
    for (const [key, schema] of sectionSchemas(f)) {
      // Two factories on one key would make one of them unreachable: a registry bug.
      if (Object.prototype.hasOwnProperty.call(shape, key)) throw new Error(`two filter factories own spec.${key}`)
      shape[key] = schema.optional()
    }
  }
  return z.strictObject(shape)
}

/** The `spec` keys a factory owns, each with its schema. */
export function sectionSchemas(f: FilterFactory): Array<[string, z.ZodType]> {
  if (!f.sections) return [[f.name, f.schema]]
  const shape = (f.schema as unknown as { shape?: Record<string, z.ZodType> }).shape
  if (!shape) throw new Error(`filter factory ${f.name} has sections but its schema is not an object`)
  return f.sections.map((k) => {
    const s = shape[k]
    if (!s) throw new Error(`filter factory ${f.name}: section ${k} missing from its schema`)
    return [k, s]
  })
}

export function buildPolicySchema(factories: readonly FilterFactory[]) {
  return z
    .strictObject({
      apiVersion: z.literal(POLICY_API_VERSION),
      kind: z.literal(POLICY_KIND),
      metadata: z.strictObject({
        name: z
          .string()
          .max(63)
          .regex(DNS_LABEL, 'expected a DNS label: lower-case letters, digits and "-", starting and ending alphanumeric'),
        labels: stringMap.optional(),
        annotations: stringMap.optional(),
      }),
      spec: buildSpecSchema(factories).default({}),
    })
    .describe('A Chaperone policy (apiVersion chaperone.dev/v1, kind Policy).')
}

export type PolicyDocument = {
  apiVersion: typeof POLICY_API_VERSION
  kind: typeof POLICY_KIND
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec: Record<string, unknown>
}
