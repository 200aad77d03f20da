/** JSON Web Tokens: three base64url segments whose first decodes to a JSON header with "alg". */

/** Longest token considered: a JWT carrying a large claim set is still well under this. */
export const MAX_JWT = 8192

const SHAPE = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

function decodeBase64Url(s: string): string | null {
  let b = s.replace(/-/g, '+').replace(/_/g, '/')
  if (b.length % 4 === 1) return null
  while (b.length % 4 !== 0) b += '='
  try {
    return atob(b)
  } catch {
    return null
  }
}

export function validateJwt(s: string): boolean {
  if (s.length > MAX_JWT || !SHAPE.test(s)) return false
  const header = decodeBase64Url(s.slice(0, s.indexOf('.')))
  if (header === null) return false
  try {
    const h: unknown = JSON.parse(header)
    return typeof h === 'object' && h !== null && typeof (h as { alg?: unknown }).alg === 'string'
  } catch {
    return false
  }
}

// A JSON object's base64url always starts "ey" ('{' then '"' or whitespace).
const CANDIDATE = /(?<![A-Za-z0-9_-])ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g

/** Every JWT inside one whitespace-free token, as [start, end) pairs relative to it. */
export function findJwts(token: string, out: number[]): void {
  CANDIDATE.lastIndex = 0
  for (let m = CANDIDATE.exec(token); m !== null; m = CANDIDATE.exec(token)) {
    if (validateJwt(m[0])) out.push(m.index, m.index + m[0].length)
  }
}
