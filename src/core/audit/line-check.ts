/**
 * One line of a log, checked on its own: valid JSON, a record's shape, canonical form (the line
 * is exactly the canonical JSON of what it parses to) and its own hash.
 */
import { recordShapeProblem, type ParsedRecord } from './record.js'
import { sealChained, type Sealed } from './serialize.js'

export type LineCheck =
  | { readonly ok: true; readonly record: ParsedRecord }
  /** `record` is set when the line parsed as a record but is not canonical or its hash is wrong. */
  | { readonly ok: false; readonly reason: string; readonly record?: ParsedRecord }

export function checkLine(text: string): LineCheck {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not valid JSON' }
  }
  const shape = recordShapeProblem(value)
  if (shape) return { ok: false, reason: shape }
  const record = value as ParsedRecord
  const { hash: _hash, ...fields } = record
  let sealed: Sealed
  try {
    // Sealing the parsed record again gives both its canonical line and its hash in one pass.
    sealed = sealChained(fields, record)
  } catch (err) {
    return { ok: false, reason: (err as Error).message, record }
  }
  if (sealed.hash !== record.hash) return { ok: false, reason: 'hash does not match the record', record }
  // After the hash: a re-serialized line with a valid hash is an edit of the bytes, not the content.
  if (sealed.line !== text) return { ok: false, reason: 'not in canonical form', record }
  return { ok: true, record }
}
