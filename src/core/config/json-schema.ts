/**
 * The published JSON Schemas (draft 2020-12), generated from the zod schemas so they cannot
 * disagree with what Chaperone accepts. They describe the input: defaulted keys are optional.
 * `config/schema/*.schema.json` are this output rendered by renderJsonSchema; a test keeps them
 * in sync (regenerate with `npm run schema`).
 */
import { z } from 'zod'
import type { FilterFactory } from '../chain/types.js'
import { FILTER_FACTORIES } from '../filters/registry.js'
import { buildPolicySchema } from './policy-schema.js'
import { processConfigSchema } from './process-schema.js'

export type JsonSchema = Record<string, unknown>

export interface JsonSchemas {
  readonly policy: JsonSchema
  readonly process: JsonSchema
}

/** Paths, relative to the repository root, of the committed copies. */
export const JSON_SCHEMA_FILES = {
  policy: 'config/schema/policy.schema.json',
  process: 'config/schema/chaperone.schema.json',
} as const satisfies Record<keyof JsonSchemas, string>

export function exportJsonSchemas(factories: readonly FilterFactory[] = FILTER_FACTORIES): JsonSchemas {
  return {
    policy: titled('Chaperone policy', z.toJSONSchema(buildPolicySchema(factories), { io: 'input' })),
    process: titled('Chaperone process configuration (chaperone.yaml)', z.toJSONSchema(processConfigSchema, { io: 'input' })),
  }
}

/** `$schema` first, then the title, as editors display them. */
function titled(title: string, schema: JsonSchema): JsonSchema {
  return { $schema: schema.$schema, title, ...schema }
}

/** The exact bytes of a committed schema file. */
export function renderJsonSchema(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`
}
