export { createNormalizer, MAX_SEGMENT, type NormalizerOptions } from './normalizer.js'
export { foldText, literalText } from './fold-text.js'
