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
    rate: rate.optional().describe('Requests per period: 60/minute.'),
    tokens: rate.optional().describe('An LLM token budget per period, e.g. 200000/day: each request reserves its prompt tokens plus its max_tokens up front; the actual usage is reconciled when the response ends.'),
    concurrency: z.number().int().min(1).max(100_000).optional().describe('The most requests (streams) in flight at once for one key.'),
    penalty: z
      .strictObject({
        threshold: z.number().positive().default(100).describe('Decayed points at which the key is refused (429 abuse_penalty).'),
        halfLifeSeconds: z.number().positive().max(30 * 86400).default(600).describe('Time for points to lose half their weight.'),
        boxSeconds: z.number().positive().max(30 * 86400).default(60).describe('The first refusal period; each further one within strikeMemorySeconds doubles it.'),
        maxBoxSeconds: z.number().positive().max(365 * 86400).default(86400),
        strikeMemorySeconds: z.number().min(0).max(365 * 86400).default(86400).describe('After this long without a box, the next one is boxSeconds again.'),
      })
      .optional()
      .describe('An abuse penalty box: moderation blocks report points (moderation.penaltyPoints) for this key.'),
    burst: z.number().int().min(1).max(1_000_000_000).optional().describe('Units allowed at once from a full bucket; default: the count of rate or tokens.'),
    defaultMaxTokens: z.number().int().min(1).max(1_000_000).default(1024).describe('With tokens: the output allowance reserved when a request sets no max_tokens.'),
    cutStream: z.boolean().default(false).describe('With tokens: end a stream cleanly once its output exceeds what the budget had left when it was admitted.'),
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
  .superRefine((l, ctx) => {
    const kinds = [l.rate && 'rate', l.tokens && 'tokens', l.concurrency && 'concurrency', l.penalty && 'penalty'].filter(Boolean)
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: `a limit needs exactly one of rate, tokens, concurrency, penalty (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})` })
    if ((l.concurrency !== undefined || l.penalty !== undefined) && (l.byRole || l.byTier || l.byTenant || l.burst)) ctx.addIssue({ code: 'custom', message: 'byRole, byTier, byTenant and burst apply to rate and tokens only' })
    if (l.penalty && l.penalty.maxBoxSeconds < l.penalty.boxSeconds) ctx.addIssue({ code: 'custom', path: ['penalty', 'maxBoxSeconds'], message: 'at least boxSeconds' })
  })

export const rateLimitsSchema = z.array(limitSchema).describe('Rate limits: every limit that matches a request applies, and all must pass.')

export type LimitConfig = z.output<typeof limitSchema>
export type RateLimitsConfig = z.output<typeof rateLimitsSchema>
