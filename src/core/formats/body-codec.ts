import { writeTexts } from './inspection.js'
import type { Path } from './json-strings.js'
import type { BodyCodec, FormatName, TextSlot } from './types.js'

/**
 * Locates the texts of a body: pushes one slot and its path per text, in document order.
 * Returns false when part of the body nests too deep to walk.
 */
export type Locator = (body: unknown, slots: TextSlot[], paths: Path[]) => boolean | void

/** What replaces a body too deep to rewrite field by field once its text changed. */
const WITHHELD = { error: { type: 'chaperone_error', code: 'content_policy_violation', message: 'The response was withheld by the content policy.' } }

/**
 * A stateless BodyCodec over a locator: extract and rebuild locate the texts the same way.
 * A body that nests deeper than the walk goes (no real API sends one) is one whole slot, its
 * JSON text; when moderation changes that text, the rewritten JSON replaces the body if it still
 * parses, else the body is withheld.
 */
export function bodyCodec(format: FormatName, locate: Locator): BodyCodec {
  const inspect = (body: unknown): { slots: TextSlot[]; paths: Path[]; opaque: boolean } => {
    const slots: TextSlot[] = []
    const paths: Path[] = []
    if (locate(body, slots, paths) !== false) return { slots, paths, opaque: false }
    let text = ''
    try {
      text = JSON.stringify(body) ?? ''
    } catch {
      // Too deep even for JSON.stringify: nothing can be said about it but that it is withheld.
      text = '\u0000'
    }
    return { slots: [{ channel: 'body', kind: 'whole', text }], paths: [[]], opaque: true }
  }
  return {
    format,
    extract: (body) => inspect(body).slots,
    rebuild(body, texts) {
      const { slots, paths, opaque } = inspect(body)
      if (!opaque) return writeTexts({ parsed: body, slots, paths, closes: [], droppable: false }, texts)
      if (texts[0] === undefined || texts[0] === slots[0]!.text) return body
      try {
        return JSON.parse(texts[0]) as unknown
      } catch {
        return WITHHELD
      }
    },
  }
}
