import { findApiKeys, MIN_PREFIXED_KEY } from './api-key.js'
import { AT, COLON, DIGIT, DOT, LETTER } from './char-class.js'
import { findEmails } from './email.js'
import { validateIban } from './iban.js'
import { validateIpv6 } from './ip.js'
import { findJwts } from './jwt.js'
import { API_KEY, EMAIL, IBAN, IPV6, JWT, type TypeMask } from './pii-types.js'

/** Which token types a token with these character classes and length could contain. */
export function tokenCandidates(want: TypeMask, classes: number, length: number): TypeMask {
  let m = 0
  if (classes & AT) m |= EMAIL
  if (classes & COLON && length >= 2) m |= IPV6
  if (classes & DOT && length >= 20) m |= JWT
  if (length >= MIN_PREFIXED_KEY) m |= API_KEY
  if (length >= 15 && classes & DIGIT && classes & LETTER) m |= IBAN
  return m & want
}

const IBAN_COMPACT = /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}[A-Za-z0-9]{11,30}(?![A-Za-z0-9])/g
const IPV6_CANDIDATE = /(?<![A-Za-z0-9:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?![A-Za-z0-9:])/g

/**
 * Finds the hits inside one finished whitespace-free token. Appends (typeBit, start, end)
 * triples to `out`, offsets relative to `token`.
 */
export function evaluateToken(token: string, types: TypeMask, out: number[], scratch: number[]): void {
  const each = (type: number, find: (t: string, o: number[]) => void): void => {
    if (!(types & type)) return
    scratch.length = 0
    find(token, scratch)
    for (let k = 0; k < scratch.length; k += 2) out.push(type, scratch[k]!, scratch[k + 1]!)
  }
  each(EMAIL, findEmails)
  each(JWT, findJwts)
  each(API_KEY, findApiKeys)
  each(IBAN, findIbans)
  each(IPV6, findIpv6)
}

function findIbans(token: string, out: number[]): void {
  IBAN_COMPACT.lastIndex = 0
  for (let m = IBAN_COMPACT.exec(token); m !== null; m = IBAN_COMPACT.exec(token)) {
    if (validateIban(m[0])) out.push(m.index, m.index + m[0].length)
  }
}

function findIpv6(token: string, out: number[]): void {
  IPV6_CANDIDATE.lastIndex = 0
  for (let m = IPV6_CANDIDATE.exec(token); m !== null; m = IPV6_CANDIDATE.exec(token)) {
    let s = m[0]
    // A sentence's full stop or a label's colon after the address is not part of it.
    while (s.length > 0 && s.endsWith('.')) s = s.slice(0, -1)
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1)
    // A lone "::" is punctuation in prose, not the unspecified address.
    if (s !== '::' && validateIpv6(s)) out.push(m.index, m.index + s.length)
  }
}
