/**
 * E-mail addresses, a practical subset of RFC 5322: a dot-atom local part of the characters
 * people actually use, `@`, then a domain of at least two dot-separated labels ending in an
 * alphabetic TLD of two letters or more.
 */

const LOCAL = /^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*$/
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
const TLD = /^[A-Za-z]{2,63}$/

export function validateEmail(s: string): boolean {
  if (s.length > 254) return false
  const at = s.indexOf('@')
  if (at < 1 || at > 64 || s.indexOf('@', at + 1) >= 0) return false
  if (!LOCAL.test(s.slice(0, at))) return false
  const labels = s.slice(at + 1).split('.')
  if (labels.length < 2) return false
  for (let i = 0; i < labels.length - 1; i++) if (!LABEL.test(labels[i]!)) return false
  return TLD.test(labels[labels.length - 1]!)
}

// Candidate: the local-part characters before an '@' and the domain characters after it.
const CANDIDATE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+/g

/**
 * Every e-mail address inside one whitespace-free token, as [start, end) pairs relative to it.
 * Dots and hyphens at the edges belong to the sentence, not the address.
 */
export function findEmails(token: string, out: number[]): void {
  CANDIDATE.lastIndex = 0
  for (let m = CANDIDATE.exec(token); m !== null; m = CANDIDATE.exec(token)) {
    let start = m.index
    let end = start + m[0].length
    const at = token.indexOf('@', start)
    // A run of dots cannot be inside a local part: the address starts after the last one.
    const dots = token.lastIndexOf('..', at)
    if (dots >= start) start = dots + 2
    while (start < at && token.charCodeAt(start) === 46) start++
    while (end > at + 1 && isDotOrDash(token.charCodeAt(end - 1))) end--
    if (validateEmail(token.slice(start, end))) out.push(start, end)
  }
}

function isDotOrDash(c: number): boolean {
  return c === 46 || c === 45
}
