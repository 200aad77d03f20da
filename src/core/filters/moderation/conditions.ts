import type { CelActivation, Condition } from '../../cel/index.js'

/**
 * Which rules' `when` holds for one activation: out[i] is 1 for a rule without a condition or
 * whose condition is true. A condition that fails to evaluate counts as `onError` says (`apply`
 * fails closed) and is reported. The proxy and the preview both decide through here.
 */
export function conditionsHold(
  conditions: readonly (Condition | undefined)[],
  act: CelActivation,
  onError: 'apply' | 'skip',
  report?: (rule: number, applied: boolean, detail: string) => void,
): Uint8Array {
  const out = new Uint8Array(conditions.length)
  conditions.forEach((c, i) => {
    if (!c) return void (out[i] = 1)
    const v = c.evaluate(act)
    if (typeof v === 'boolean') return void (out[i] = v ? 1 : 0)
    const applied = onError === 'apply'
    out[i] = applied ? 1 : 0
    report?.(i, applied, v.error)
  })
  return out
}
