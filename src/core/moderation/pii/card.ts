/** Payment card numbers: issuer prefix (IIN) and length sanity, then the Luhn checksum. */

/** Luhn mod-10 over a string of ASCII digits. */
export function luhn(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (d < 0 || d > 9) return false
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/**
 * Whether an issuer uses this prefix at this length. Loose on purpose (a network's ranges move),
 * but it rules out numbers no card network issues: leading 0, 7, 8, 9 and impossible lengths.
 */
export function plausibleIin(d: string): boolean {
  const n = d.length
  if (n < 12 || n > 19) return false
  const p2 = (d.charCodeAt(0) - 48) * 10 + (d.charCodeAt(1) - 48)
  const p4 = p2 * 100 + (d.charCodeAt(2) - 48) * 10 + (d.charCodeAt(3) - 48)
  switch (d.charCodeAt(0) - 48) {
    case 1: // UATP, and JCB's old 1800 range
      return n === 15
    case 2:
      if (p4 === 2131) return n === 15 // JCB
      if (p4 >= 2200 && p4 <= 2204) return n >= 16 // Mir
      return p4 >= 2221 && p4 <= 2720 && n === 16 // Mastercard 2-series
    case 3:
      if (p2 === 34 || p2 === 37) return n === 15 // American Express
      if (p2 === 35) return n >= 16 // JCB
      if (p2 === 30 || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 // Diners Club
      return false
    case 4: // Visa
      return n === 13 || n === 16 || n === 19
    case 5:
      if (p2 >= 51 && p2 <= 55) return n === 16 // Mastercard
      return true // Maestro (50, 56–59): 12–19 digits
    case 6: // Discover, UnionPay, Maestro, RuPay…
      return true
    default:
      return false
  }
}

/** A card number, digits optionally grouped by spaces or dashes. */
export function validateCard(s: string): boolean {
  const d = s.replace(/[ -]/g, '')
  if (!/^\d{12,19}$/.test(d)) return false
  return plausibleIin(d) && luhn(d)
}
