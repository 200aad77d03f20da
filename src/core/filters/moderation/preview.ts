import type { Filter } from '../../chain/types.js'
import type { ModerationDirection } from '../../ports.js'
import type { CelActivation } from '../../cel/index.js'
import { moderateWhole, type Finding } from '../../moderation/text-moderator.js'
import { ACTION_RANK } from '../../moderation/rules.js'
import type { CompiledRules } from './compile-rules.js'
import { conditionsHold } from './conditions.js'
import type { ModerationConfig } from './schema.js'

export interface PreviewInput {
  readonly text: string
  readonly direction: ModerationDirection
  readonly principal?: Partial<CelActivation['principal']>
  readonly request?: Partial<CelActivation['request']>
  readonly time?: Date
}

export interface PreviewMatch {
  readonly rule: string
  readonly action: Finding['action']
  readonly shadow: boolean
  readonly label?: string
  readonly score?: number
  /** [start, end) in UTF-16 code units of the input text. */
  readonly span: readonly [number, number]
  readonly original: string
  readonly normalized?: string
}

export interface PreviewResult {
  /** What the strictest acting rule decided; shadow and flag rules never change it. */
  readonly decision: 'allow' | 'flag' | 'redact' | 'block'
  /** The text as it would be sent (undefined when blocked). */
  readonly output?: string
  readonly matches: readonly PreviewMatch[]
  /** Rules skipped because their `when` was false for these attributes. */
  readonly inactive: readonly string[]
  readonly tookMs: number
}

export interface PreviewableFilter extends Filter {
  preview(input: PreviewInput): Promise<PreviewResult>
}

export function isPreviewable(f: Filter): f is PreviewableFilter {
  return typeof (f as Partial<PreviewableFilter>).preview === 'function'
}

/**
 * The same engine a live request uses, on one text, with excerpts kept: the preview API and
 * `chaperone check` answer "what would these rules do to this text for this user" without
 * activating anything.
 */
export function attachPreview(filter: Filter, config: ModerationConfig, compiled: CompiledRules): PreviewableFilter {
  const { policy, conditions } = compiled
  return Object.assign(filter, {
    async preview(input: PreviewInput): Promise<PreviewResult> {
      const started = performance.now()
      const act: CelActivation = {
        principal: { roles: [], claims: {}, ...input.principal },
        request: { method: 'POST', path: '/v1/chat/completions', headers: {}, ...input.request },
        time: input.time ?? new Date(),
        source: { ip: '127.0.0.1' },
      }
      const on = conditionsHold(conditions, act, config.onConditionError)
      const active = new Uint8Array(policy.rules.length)
      const inactive: string[] = []
      policy.rules.forEach((r, i) => {
        if (r.direction !== 'both' && r.direction !== input.direction) return
        if (on[i]) active[i] = 1
        else inactive.push(r.name)
      })
      const findings: Finding[] = []
      const step = await moderateWhole(policy, { active, direction: input.direction, captureExcerpts: true, onFinding: (f) => findings.push(f) }, input.text)
      let decision: PreviewResult['decision'] = 'allow'
      for (const f of findings) {
        if (f.shadow) continue
        if (decision === 'allow' || ACTION_RANK[f.action] > ACTION_RANK[decision]) decision = f.action
      }
      const matches = findings.map(
        (f): PreviewMatch => ({
          rule: f.name,
          action: f.action,
          shadow: f.shadow,
          ...(f.label !== undefined ? { label: f.label } : {}),
          ...(f.score !== undefined ? { score: f.score } : {}),
          span: [f.start, f.end],
          original: input.text.slice(f.start, f.end),
          ...(f.normalized !== undefined ? { normalized: f.normalized } : {}),
        }),
      )
      return {
        decision,
        ...(step.block ? {} : { output: step.text }),
        matches,
        inactive,
        tookMs: Math.round((performance.now() - started) * 1000) / 1000,
      }
    },
  })
}

