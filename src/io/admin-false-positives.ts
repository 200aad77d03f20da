/**
 * POST /admin/moderation/false-positives: a report that a moderation decision was wrong (a user
 * clicked "this should not have been blocked" in the chatbot's UI, and its backend tells
 * Chaperone). Reports are counted per rule for the false-positive alert and logged with the
 * request id, so the decision can be found; the text itself is never sent here.
 */
const RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
/** Distinct rule labels kept; reports beyond them count under `other`, so no client can grow the registry. */
export const MAX_REPORTED_RULES = 500

export interface FalsePositiveReport {
  readonly rule: string
  readonly requestId?: string
  readonly note?: string
}

export function parseFalsePositive(body: unknown): { ok: true; report: FalsePositiveReport } | { ok: false; errors: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: ['(body): expected a JSON object'] }
  const b = body as Record<string, unknown>
  const errors: string[] = []
  for (const k of Object.keys(b)) if (!['rule', 'requestId', 'note'].includes(k)) errors.push(`${k}: unknown field`)
  if (typeof b.rule !== 'string' || !RULE.test(b.rule)) errors.push('rule: the name of a moderation rule (letters, digits, ".", "_", "-")')
  if (b.requestId !== undefined && (typeof b.requestId !== 'string' || !REQUEST_ID.test(b.requestId))) errors.push('requestId: the X-Request-Id of the refused request')
  if (b.note !== undefined && (typeof b.note !== 'string' || b.note.length > 500)) errors.push('note: at most 500 characters')
  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, report: { rule: b.rule as string, ...(typeof b.requestId === 'string' ? { requestId: b.requestId } : {}), ...(typeof b.note === 'string' ? { note: b.note } : {}) } }
}
