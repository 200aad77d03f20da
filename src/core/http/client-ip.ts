/**
 * The client's address for limits and conditions: the socket peer, or, behind `trustedHops`
 * proxies that each append to X-Forwarded-For (an ingress, a mesh gateway), the address the
 * outermost trusted hop saw, which is the `trustedHops`-th entry from the right. Entries left of
 * it were written by the client and are never used. Too few entries mean the request did not
 * come through the trusted hops: the peer is used.
 */
export function clientIp(rawHeaders: readonly string[], peer: string, trustedHops: number): string {
  if (trustedHops <= 0) return peer
  let chain: string[] | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 15 || name.toLowerCase() !== 'x-forwarded-for') continue
    for (const part of rawHeaders[i + 1]!.split(',')) (chain ??= []).push(part.trim())
  }
  if (!chain || chain.length < trustedHops) return peer
  const ip = chain[chain.length - trustedHops]!
  return ip === '' ? peer : ip
}
