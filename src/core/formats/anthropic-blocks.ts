import { pushScanned } from './inspection.js'
import { isObject } from './json.js'
import type { Path } from './json-strings.js'
import type { TextSlot } from './types.js'

/**
 * Where the text is in Anthropic content blocks, for message bodies, message_start and
 * content_block_start. Channel `anthropic:block<index>`.
 *
 * A tool_use `input` is an object, not text: each of its string values is a whole slot at its
 * own path, so a redaction rewrites one value and the object stays valid (stringifying it would
 * make a redaction that lands on JSON syntax unrecoverable). Keys are not moderated. Streamed,
 * the same input arrives as `partial_json` deltas and is moderated as JSON text, so a match that
 * spans two values is only seen streamed.
 * Citations (quotes of the caller's own documents) and signatures are not moderated;
 * redacted_thinking is opaque.
 */

export function blockChannel(index: number | string): string {
  return `anthropic:block${index}`
}

const SILENT_BLOCKS = new Set(['redacted_thinking', 'image', 'container_upload'])

/** Pushes one block's texts; `kind` 'delta' for the initial text of a content_block_start. */
export function pushBlock(slots: TextSlot[], paths: Path[], block: unknown, base: Path, index: number | string, kind: TextSlot['kind']): boolean {
  if (!isObject(block)) return true
  const channel = blockChannel(index)
  switch (block.type) {
    case 'text':
    case 'thinking': {
      const field = block.type
      const text = block[field]
      if (typeof text === 'string' && text !== '') {
        slots.push({ channel, kind, text })
        paths.push([...base, field])
      }
      return true
    }
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use':
      return pushScanned(slots, paths, block.input, [...base, 'input'], channel)
    default:
      if (typeof block.type === 'string' && SILENT_BLOCKS.has(block.type)) return true
      // Server tool results (web search titles…) and newer block types.
      return pushScanned(slots, paths, block, base, channel)
  }
}

export function pushBlocks(slots: TextSlot[], paths: Path[], content: unknown, base: Path): boolean {
  if (!Array.isArray(content)) return true
  let ok = true
  content.forEach((block, i) => {
    ok = pushBlock(slots, paths, block, [...base, i], i, 'whole') && ok
  })
  return ok
}
