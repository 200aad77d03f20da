/**
 * Fake filter factories for config tests: one section of every merge shape (map, list, struct,
 * scalar), with defaults that must not count as "defined" when merging.
 */
import { z } from 'zod'
import type { Filter, FilterFactory } from '../../src/core/chain/types.js'
import { ConfigCompileError } from '../../src/core/config/errors.js'

const rule = z.strictObject({
  name: z.string(),
  pattern: z.string(),
  action: z.enum(['block', 'redact']).default('block'),
})

export const gateSchema = z.strictObject({
  roles: z.record(z.string(), z.strictObject({ inherits: z.array(z.string()).default([]) })).optional(),
  rules: z.array(rule).optional(),
  settings: z
    .strictObject({
      threshold: z.number().optional(),
      mode: z.enum(['strict', 'lenient']).default('strict'),
      nested: z.strictObject({ a: z.number().optional(), b: z.number().optional() }).prefault({}),
    })
    .prefault({}),
  limit: z.number().optional(),
})
export type GateConfig = z.output<typeof gateSchema>

export interface FakePorts {
  compiled: string[]
}

/** Throws from compile on a rule whose pattern is "BAD", pointing at it like a real filter would. */
export const gate: FilterFactory<GateConfig, FakePorts> = {
  name: 'gate',
  schema: gateSchema,
  compile(config, ports) {
    ports.compiled.push('gate')
    config.rules?.forEach((r, i) => {
      if (r.pattern === 'BAD') throw new ConfigCompileError(['rules', i, 'pattern'], 'pattern does not compile')
    })
    if (config.limit === 13) throw new Error('unlucky limit')
    const roles = config.roles ?? {}
    for (const [name, role] of Object.entries(roles)) {
      for (const parent of role.inherits) {
        if (!(parent in roles)) throw new ConfigCompileError(['roles', name, 'inherits'], `unknown role ${JSON.stringify(parent)}`)
      }
    }
    return { name: 'gate', config } as Filter & { config: GateConfig }
  },
}

export const tail: FilterFactory<{ on: boolean }, FakePorts> = {
  name: 'tail',
  schema: z.strictObject({ on: z.boolean().default(true) }),
  compile(_config, ports) {
    ports.compiled.push('tail')
    return { name: 'tail' }
  },
}

export const FAKE_FACTORIES: readonly FilterFactory[] = [gate, tail]

export const policy = (name: string, spec: string) => `apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n${spec}`
