import { rawHeaderValue, stripHopByHop } from './hop-by-hop.js'

/**
 * WebSocket is the one upgrade Chaperone tunnels (RFC 6455 §4.1: a GET with `Upgrade: websocket`
 * and `Connection: Upgrade`). Anything else, such as h2c, would hand the connection to a
 * protocol the filters cannot see, so it is refused.
 */
export function isWebSocketUpgrade(method: string | undefined, raw: readonly string[]): boolean {
  if (method !== 'GET') return false
  const upgrade = rawHeaderValue(raw, 'upgrade')
  const connection = rawHeaderValue(raw, 'connection')
  return (
    upgrade !== undefined &&
    connection !== undefined &&
    upgrade.split(',').some((t) => t.trim().toLowerCase() === 'websocket') &&
    connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')
  )
}

/**
 * Headers for the upstream handshake: hop-by-hop headers go as for any request, then the two
 * that make it an upgrade are put back (a proxy that forwards an upgrade must keep them).
 */
export function upgradeRequestHeaders(raw: readonly string[], drop: ReadonlySet<string>): string[] {
  const out = stripHopByHop(raw, drop)
  out.push('Connection', 'Upgrade', 'Upgrade', 'websocket')
  return out
}

/** The request head as bytes for a raw socket. Values are Latin-1, as Node decoded them. */
export function serializeRequestHead(method: string, target: string, headers: readonly string[]): string {
  let head = `${method} ${target} HTTP/1.1\r\n`
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`
  return head + '\r\n'
}
