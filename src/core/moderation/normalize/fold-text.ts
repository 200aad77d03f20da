import type { ViewName } from '../types.js'
import { createNormalizer } from './normalizer.js'

function view(text: string, name: ViewName): string {
  const n = createNormalizer()
  n.push(text)
  n.end()
  return n[name].slice(0)
}

/**
 * The folded view of a whole text: what the incremental normalizer produces for it pushed at
 * once and ended. Keywords are compiled through this so that they match the stream's view.
 */
export const foldText = (text: string): string => view(text, 'folded')

/** The literal view of a whole text (NFKC, default-ignorables removed). */
export const literalText = (text: string): string => view(text, 'literal')
