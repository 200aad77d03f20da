import type { FilterFactory } from '../chain/types.js'
import { authzFactory } from './authz/index.js'
import { cacheFactory } from './cache/index.js'
import { moderationFactory } from './moderation/index.js'
import { rateLimitsFactory } from './rateLimits/index.js'

/**
 * Every filter Chaperone knows. The order of this array IS the chain order, the one place it
 * is decided: requests pass through the filters first to last, responses and onComplete last
 * to first. Each factory's `name` is also its key under a policy's `spec`.
 */
export const FILTER_FACTORIES: readonly FilterFactory[] = [authzFactory as FilterFactory, rateLimitsFactory as FilterFactory, moderationFactory as FilterFactory, cacheFactory as FilterFactory]
