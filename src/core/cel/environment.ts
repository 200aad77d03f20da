/** The one CEL environment every condition is planned in: the standard library plus extensions. */
import { celEnv } from '@bufbuild/cel'
import { strings } from '@bufbuild/cel/ext'
import { regexEngine } from './regex-cache.js'
import { timeAccessors } from './time-accessors.js'

export const celEnvironment = celEnv({
  // Later functions replace earlier ones with the same signature, so the accessors override std.
  funcs: [...strings, ...timeAccessors],
  re2: regexEngine,
})
