import type { TextView } from './types.js'

/**
 * A complete, already normalized text as a view whose offsets are its own: scanners can then
 * run over one classifier window (the keyword fallback for other languages).
 */
export function stringView(text: string): TextView {
  return {
    length: text.length,
    base: 0,
    charCodeAt: (i) => text.charCodeAt(i),
    slice: (from, to) => text.slice(from, to),
    origStart: (i) => i,
    origEnd: (i) => i + 1,
    trim: () => {},
  }
}
