/**
 * Credentials with a recognisable shape: cloud and SaaS key formats by prefix, and (via
 * isHighEntropySecret) values written after a word like `key=` or `token:`.
 */

const KEY = new RegExp(
  '(?<![A-Za-z0-9_-])(?:' +
    [
      '(?:AKIA|ASIA)[0-9A-Z]{16}', // AWS access key id
      'gh[pousr]_[A-Za-z0-9]{36,251}', // GitHub tokens
      'github_pat_[A-Za-z0-9_]{22,255}', // GitHub fine-grained token
      'sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}', // OpenAI
      '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}', // Stripe
      'xox[bpas]-[A-Za-z0-9-]{10,}', // Slack
      'AIza[0-9A-Za-z_-]{35}', // Google API key
    ].join('|') +
    ')(?![A-Za-z0-9_-])',
  'g',
)

/** Shortest token that can hold a prefixed key (a Slack token). */
export const MIN_PREFIXED_KEY = 15

/** Every prefixed key inside one whitespace-free token, as [start, end) pairs relative to it. */
export function findApiKeys(token: string, out: number[]): void {
  KEY.lastIndex = 0
  for (let m = KEY.exec(token); m !== null; m = KEY.exec(token)) out.push(m.index, m.index + m[0].length)
}

/** Whether s is a prefixed key as a whole. */
export function isApiKey(s: string): boolean {
  const out: number[] = []
  findApiKeys(s, out)
  return out.length === 2 && out[0] === 0 && out[1] === s.length
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  const n = s.length
  if (n === 0) return 0
  const counts = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    counts.set(c, (counts.get(c) ?? 0) + 1)
  }
  let h = 0
  for (const k of counts.values()) {
    const p = k / n
    h -= p * Math.log2(p)
  }
  return h
}

export const MIN_SECRET_LENGTH = 20
export const MIN_SECRET_ENTROPY = 3.5
/** Longest secret value considered after a keyword; past it the run cannot be a hit. */
export const MAX_SECRET_LENGTH = 1024

/** A value written after `key=`, `token:`… that looks random enough to be a credential. */
export function isHighEntropySecret(value: string): boolean {
  return (
    value.length >= MIN_SECRET_LENGTH &&
    value.length <= MAX_SECRET_LENGTH &&
    shannonEntropy(value) >= MIN_SECRET_ENTROPY
  )
}
