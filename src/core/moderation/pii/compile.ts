import { isSupportedCountry, type CountryCode } from 'libphonenumber-js'
import type { CompiledMatcher } from '../types.js'
import { PII_TYPES, type PiiType } from './pii-types.js'
import { PiiScanner } from './scanner.js'

export interface PiiOptions {
  /** Country whose national phone formats count without a `+` prefix. Default `US`. */
  defaultCountry?: CountryCode
}

/**
 * Compiles a PII matcher over the literal view. A hit's id is the index in `types` of its type
 * (the first, if a type is listed twice).
 */
export function compilePii(types: readonly PiiType[], options: PiiOptions = {}): CompiledMatcher {
  const ids = new Int32Array(PII_TYPES.length).fill(-1)
  let want = 0
  types.forEach((t, i) => {
    const k = PII_TYPES.indexOf(t)
    if (k < 0) throw new Error(`unknown PII type "${String(t)}"; known: ${PII_TYPES.join(', ')}`)
    if (ids[k]! < 0) {
      ids[k] = i
      want |= 1 << k
    }
  })
  const country = options.defaultCountry ?? 'US'
  if (!isSupportedCountry(country)) throw new Error(`unknown phone country "${country}"`)
  return { view: 'literal', scanner: () => new PiiScanner(want, ids, country) }
}
