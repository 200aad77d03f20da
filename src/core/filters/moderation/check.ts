import { z } from 'zod'
import type { Filter, FilterFactory } from '../../chain/types.js'
import { compilePolicies } from '../../config/compile.js'
import { formatConfigError } from '../../config/errors.js'
import { isPreviewable, type PreviewResult } from './preview.js'

/**
 * The moderation preview behind `POST /admin/moderation/check` and `chaperone check`: run text
 * through the active rules, or through a candidate policy given as YAML, and report every match.
 * Nothing is activated.
 */
export const checkRequestSchema = z.strictObject({
  text: z.string().max(1_000_000),
  direction: z.enum(['request', 'response']).default('response'),
  principal: z
    .strictObject({
      subject: z.string().optional(),
      roles: z.array(z.string()).default([]),
      tenant: z.string().optional(),
      region: z.string().optional(),
      tier: z.string().optional(),
      claims: z.record(z.string(), z.unknown()).default({}),
    })
    .prefault({}),
  request: z
    .strictObject({
      method: z.string().default('POST'),
      path: z.string().default('/v1/chat/completions'),
      model: z.string().optional(),
      headers: z.record(z.string(), z.string()).default({}),
    })
    .prefault({}),
  time: z.iso.datetime({ offset: true }).optional(),
  /** A candidate policy document (YAML); without it, the active policy is used. */
  policy: z.string().max(1_000_000).optional(),
})
export type CheckRequest = z.output<typeof checkRequestSchema>

export type CheckOutcome =
  | { readonly ok: true; readonly source: 'active' | 'candidate'; readonly result: PreviewResult | undefined }
  | { readonly ok: false; readonly status: 400; readonly errors: readonly string[] }

export async function runCheck(input: unknown, active: readonly Filter[] | undefined, factories: readonly FilterFactory[], ports: unknown): Promise<CheckOutcome> {
  const parsed = checkRequestSchema.safeParse(input)
  if (!parsed.success) return { ok: false, status: 400, errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) }
  const req = parsed.data
  let chain = active ?? []
  let source: 'active' | 'candidate' = 'active'
  if (req.policy !== undefined) {
    const c = compilePolicies([{ name: 'candidate.yaml', content: req.policy }], factories, ports, { version: 0, loadedAt: new Date() })
    const errors = c.ok ? await c.ready() : c.errors
    if (errors.length > 0 || !c.ok) return { ok: false, status: 400, errors: errors.map(formatConfigError) }
    chain = c.snapshot.chain
    source = 'candidate'
  }
  const filter = chain.find((f) => f.name === 'moderation')
  if (!filter || !isPreviewable(filter)) return { ok: true, source, result: undefined }
  const result = await filter.preview({
    text: req.text,
    direction: req.direction,
    principal: req.principal,
    request: req.request,
    ...(req.time ? { time: new Date(req.time) } : {}),
  })
  return { ok: true, source, result }
}
