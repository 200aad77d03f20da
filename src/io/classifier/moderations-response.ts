import type { ClassifierScores } from '../../core/ports.js'

/** A response that does not have the shape of OpenAI's /v1/moderations answer. */
export class BadModerationResponse extends Error {}

// Labels come from the endpoint, not from the user, but an error message still has no business
// carrying an unbounded string from the network.
const MAX_LABEL_IN_MESSAGE = 64

/**
 * Scores per input from a /v1/moderations body: every `category_scores` entry under its own
 * name, plus `flagged` as 1 or 0. Validation is strict (a guard that answers garbage must not
 * pass as "nothing flagged"), and no message quotes the body, which may echo the inputs.
 */
export function parseModerationsResponse(body: Buffer, inputs: number): ClassifierScores[] {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch {
    // JSON.parse's own message quotes the body.
    throw new BadModerationResponse('body is not valid JSON')
  }
  if (!isObject(doc)) throw new BadModerationResponse('body is not a JSON object')
  const results = doc.results
  if (!Array.isArray(results)) throw new BadModerationResponse('"results" is not an array')
  if (results.length !== inputs) throw new BadModerationResponse(`"results" has ${results.length} entries for ${inputs} inputs`)
  return results.map((r: unknown, i) => parseResult(r, i))
}

function parseResult(r: unknown, i: number): ClassifierScores {
  if (!isObject(r)) throw new BadModerationResponse(`results[${i}] is not an object`)
  if (typeof r.flagged !== 'boolean') throw new BadModerationResponse(`results[${i}].flagged is not a boolean`)
  const cs = r.category_scores
  if (!isObject(cs)) throw new BadModerationResponse(`results[${i}].category_scores is not an object`)
  const entries: [string, number][] = []
  for (const [label, score] of Object.entries(cs)) {
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) {
      throw new BadModerationResponse(`results[${i}].category_scores[${JSON.stringify(label.slice(0, MAX_LABEL_IN_MESSAGE))}] is not a number in [0, 1]`)
    }
    entries.push([label, score])
  }
  entries.push(['flagged', r.flagged ? 1 : 0])
  // fromEntries defines own properties, so a "__proto__" label stays a label.
  return Object.freeze(Object.fromEntries(entries))
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
