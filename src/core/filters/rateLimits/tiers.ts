import type { Principal } from '../../chain/principal.js'
import { speed, type Rate } from './rate.js'
import type { LimitConfig } from './schema.js'

/**
 * The rate that applies to this caller: a tenant override wins; otherwise the most generous of
 * the caller's roles and tier (an admin, who also holds guest by inheritance, gets admin's rate);
 * otherwise the limit's own rate.
 */
export function rateFor(l: LimitConfig, p: Principal | undefined): Rate {
  const tenant = p?.tenant !== undefined ? l.byTenant?.[p.tenant] : undefined
  if (tenant) return tenant
  let best: Rate | undefined
  if (l.byRole && p) {
    for (const role of p.roles) {
      const r = l.byRole[role]
      if (r && (!best || speed(r) > speed(best))) best = r
    }
  }
  const tier = p?.tier !== undefined ? l.byTier?.[p.tier] : undefined
  if (tier && (!best || speed(tier) > speed(best))) best = tier
  return best ?? (l.rate ?? l.tokens)!
}
