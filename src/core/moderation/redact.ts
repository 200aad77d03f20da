/**
 * How a redacted span is written. A template names the kind of thing removed and nothing of it;
 * a partial mask keeps a few original characters at either end (`****1234`), counted in code
 * points so that a mask never splits a surrogate pair.
 */
export interface RedactSpec {
  readonly template?: string
  readonly keepFirst?: number
  readonly keepLast?: number
  readonly maskChar?: string
}

export function maskFor(spec: RedactSpec | undefined, isPii: boolean): (original: string, label: string | undefined) => string {
  const keepFirst = spec?.keepFirst ?? 0
  const keepLast = spec?.keepLast ?? 0
  if (keepFirst > 0 || keepLast > 0) {
    const maskChar = spec?.maskChar ?? '*'
    return (original) => {
      const cps = Array.from(original)
      if (keepFirst + keepLast >= cps.length) return maskChar.repeat(cps.length)
      return cps.slice(0, keepFirst).join('') + maskChar.repeat(cps.length - keepFirst - keepLast) + cps.slice(cps.length - keepLast).join('')
    }
  }
  const template = spec?.template ?? (isPii ? '[REDACTED:{label}]' : '[REDACTED]')
  if (!template.includes('{label}')) return () => template
  return (_original, label) => template.split('{label}').join((label ?? 'TEXT').toUpperCase())
}
