/**
 * US Social Security numbers: `123-45-6789`, `123 45 6789`, or nine bare digits (the caller
 * only offers those next to a context word). Rules from the SSA: area 000, 666 and 900–999 are
 * never issued, nor group 00 or serial 0000.
 */
export function validateSsn(s: string): boolean {
  const m = /^(\d{3})([- ]?)(\d{2})\2(\d{4})$/.exec(s)
  if (m === null) return false
  const area = m[1]!
  if (area === '000' || area === '666' || area.charCodeAt(0) === 57) return false
  return m[3] !== '00' && m[4] !== '0000'
}
