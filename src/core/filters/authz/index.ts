import type { FilterFactory } from '../../chain/types.js'
import type { Ports } from '../../ports.js'
import { compileAuthz } from './compile.js'
import { createAuthzFilter } from './filter.js'
import { authzSchema, type AuthzConfig } from './schema.js'

/**
 * `spec.identity`, `spec.roles` and `spec.access`: JWT identity, roles with inheritance and
 * access rules. Without access rules nothing is refused for lack of permission (identity alone
 * still verifies tokens and yields the principal); with one, everything is default deny.
 */
export const authzFactory: FilterFactory<AuthzConfig, Ports> = {
  name: 'authz',
  sections: ['identity', 'roles', 'access'],
  schema: authzSchema,
  compile(config, ports) {
    return createAuthzFilter(config, compileAuthz(config, ports), ports)
  },
}
