/** IP address syntax, written out here because core code must not import node:net. */

/** Dotted quad, each octet 0–255 without leading zeros. */
export function validateIpv4(s: string): boolean {
  const parts = s.split('.')
  if (parts.length !== 4) return false
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return false
  }
  return true
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/

/** Counts the 16-bit groups in one side of `::`; -1 when malformed. */
function countGroups(side: string, mayEndInIpv4: boolean): number {
  if (side === '') return 0
  const parts = side.split(':')
  let n = 0
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    if (HEX_GROUP.test(p)) n++
    else if (mayEndInIpv4 && i === parts.length - 1 && validateIpv4(p)) n += 2
    else return -1
  }
  return n
}

/** RFC 4291 text forms: eight groups, `::` compression once, an embedded IPv4 tail. */
export function validateIpv6(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false
  const gap = s.indexOf('::')
  if (gap < 0) return countGroups(s, true) === 8
  if (s.indexOf('::', gap + 1) >= 0) return false
  const head = s.slice(0, gap)
  const tail = s.slice(gap + 2)
  const h = countGroups(head, false)
  const t = countGroups(tail, true)
  return h >= 0 && t >= 0 && h + t <= 7
}
