/** The PII kinds a policy can name in `pii: [...]`. The order is the bit order of a TypeMask. */
export const PII_TYPES = [
  'email',
  'phone',
  'credit_card',
  'iban',
  'us_ssn',
  'br_cpf',
  'br_cnpj',
  'ipv4',
  'ipv6',
  'jwt',
  'api_key',
  'mrn',
] as const

export type PiiType = (typeof PII_TYPES)[number]

/** Bit i stands for PII_TYPES[i]. */
export type TypeMask = number

export const EMAIL = 1 << 0
export const PHONE = 1 << 1
export const CARD = 1 << 2
export const IBAN = 1 << 3
export const SSN = 1 << 4
export const CPF = 1 << 5
export const CNPJ = 1 << 6
export const IPV4 = 1 << 7
export const IPV6 = 1 << 8
export const JWT = 1 << 9
export const API_KEY = 1 << 10
export const MRN = 1 << 11

/** Types found inside one whitespace-free token (or a chain of them, for spaced IBANs). */
export const TOKEN_TYPES = EMAIL | IBAN | IPV6 | JWT | API_KEY
/** Types found in a run of digits and number punctuation. */
export const NUMBER_TYPES = PHONE | CARD | SSN | CPF | CNPJ | IPV4 | MRN

export function isPiiType(s: string): s is PiiType {
  return (PII_TYPES as readonly string[]).includes(s)
}

/** One bit per type, in PII_TYPES order. */
export function typeBit(t: PiiType): number {
  return 1 << PII_TYPES.indexOf(t)
}

/** Log2 of a single-bit mask: the index of the type in PII_TYPES. */
export function bitIndex(bit: number): number {
  return 31 - Math.clz32(bit)
}
