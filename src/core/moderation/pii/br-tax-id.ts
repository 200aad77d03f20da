/** Brazilian taxpayer numbers: CPF (people, 11 digits) and CNPJ (companies, 14 digits). */

function digitsOf(s: string, n: number, format: RegExp): string | null {
  if (!format.test(s)) return null
  const d = s.replace(/\D/g, '')
  if (d.length !== n) return null
  // All-equal digits pass both checksums but are never issued.
  if (/^(\d)\1*$/.test(d)) return null
  return d
}

/** Mod-11 check digit over d[0..n) with the given weights, as CPF and CNPJ compute it. */
function checkDigit(d: string, n: number, weights: readonly number[]): number {
  let sum = 0
  for (let i = 0; i < n; i++) sum += (d.charCodeAt(i) - 48) * weights[i]!
  const r = sum % 11
  return r < 2 ? 0 : 11 - r
}

const CPF_W1 = [10, 9, 8, 7, 6, 5, 4, 3, 2]
const CPF_W2 = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
const CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
const CNPJ_W2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]

/** `123.456.789-09` or 11 bare digits. */
export function validateCpf(s: string): boolean {
  const d = digitsOf(s, 11, /^(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})$/)
  if (d === null) return false
  return (
    checkDigit(d, 9, CPF_W1) === d.charCodeAt(9) - 48 && checkDigit(d, 10, CPF_W2) === d.charCodeAt(10) - 48
  )
}

/** `12.345.678/0001-95` or 14 bare digits. */
export function validateCnpj(s: string): boolean {
  const d = digitsOf(s, 14, /^(?:\d{2}\.\d{3}\.\d{3}\/\d{4}-\d{2}|\d{14})$/)
  if (d === null) return false
  return (
    checkDigit(d, 12, CNPJ_W1) === d.charCodeAt(12) - 48 &&
    checkDigit(d, 13, CNPJ_W2) === d.charCodeAt(13) - 48
  )
}
