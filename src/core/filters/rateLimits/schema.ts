import { z } from 'zod'
import { parseRate, RATE_PATTERN, type Rate } from './rate.js'

export const KEY_PARTS = ['subject', 'tenant', 'ip', 'role', 'route', 'model', 'global'] as const
export type KeyPart = (typeof KEY_PARTS)[number]

const rate = z
  .string()
  .regex(RATE_PATTERN, 'expected N/unit, e.g. 60/minute (units: second, minute, hour, day or s, m, h, d)')
  .transform((s, ctx): Rate => {
    const r = parseRate(s)
    if (!r) ctx.addIssue({ code: 'custom', message: 'the count must be a positive integer' })
    return r ?? { limit: 1, periodMs: 1000 }
  })

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

export const limitSchema = z
  .strictObject({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-"'),
    key: z
      .array(z.enum(KEY_PARTS))
      .min(1)
      .refine((k) => new Set(k).size === k.length, 'each part once')
      .describe('What shares one bucket: any of subject (anonymous callers by ip), tenant, ip, role, route, model, global.'),
    rate: rate.describe('Requests per period: 60/minute.'),
    burst: z.number().int().min(1).max(1_000_000).optional().describe('Requests allowed at once from a full bucket; default: the rate\'s count.'),
    byRole: z.record(z.string().min(1), rate).optional().describe('Rates per role; a caller with several roles gets the most generous.'),
    byTier: z.record(z.string().min(1), rate).optional().describe('Rates per principal tier.'),
    byTenant: z.record(z.string().min(1), rate).optional().describe('Per-tenant overrides; they win over byRole and byTier.'),
    match: z
      .strictObject({
        paths: z.array(z.string().min(1).max(1024)).min(1).optional().describe('Path patterns as in access rules (exact, /prefix/**, globs); any path when absent.'),
        methods: z.array(z.string().toUpperCase().pipe(z.enum(METHODS))).min(1).optional(),
      })
      .prefault({}),
    shadow: z.boolean().default(false).describe('Evaluate, count and send the headers; never refuse.'),
  })

export const rateLimitsSchema = z.array(limitSchema).describe('Rate limits: every limit that matches a request applies, and all must pass.')

export type LimitConfig = z.output<typeof limitSchema>
export type RateLimitsConfig = z.output<typeof rateLimitsSchema>
