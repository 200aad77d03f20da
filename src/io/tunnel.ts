import net from 'node:net'
import { ChaperoneError } from '../core/errors.js'

export interface TunnelOptions {
  /** http://host:port of the upstream. */
  origin: string
  connectMs: number
  /** Both directions silent this long: the tunnel is closed. */
  idleMs: number
}

export interface Tunnel {
  close(): void
}

/**
 * A byte-for-byte tunnel for an upgraded connection (WebSocket): the upstream gets the request
 * head and whatever the client sent after it, and from then on both sockets are piped with
 * backpressure. The upstream's answer, 101 or a refusal, reaches the client untouched.
 */
export function openTunnel(
  client: net.Socket,
  requestHead: string,
  clientHead: Buffer,
  opts: TunnelOptions,
  on: { connectFailed(err: ChaperoneError): void; closed(): void },
): Tunnel {
  const u = new URL(opts.origin)
  const upstream = net.connect({ host: u.hostname, port: Number(u.port || 80), noDelay: true })
  let connected = false
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    clearTimeout(connectTimer)
    upstream.destroy()
    client.destroy()
    on.closed()
  }
  const connectTimer = setTimeout(() => {
    if (connected) return
    upstream.destroy()
    fail(new ChaperoneError('upstream_timeout', `connect timeout ${opts.connectMs} ms`))
  }, opts.connectMs)

  const fail = (err: ChaperoneError) => {
    if (closed) return
    closed = true
    clearTimeout(connectTimer)
    on.connectFailed(err)
    on.closed()
  }

  upstream.once('connect', () => {
    connected = true
    clearTimeout(connectTimer)
    upstream.write(Buffer.from(requestHead, 'latin1'))
    if (clientHead.length > 0) upstream.write(clientHead)
    upstream.pipe(client)
    client.pipe(upstream)
    upstream.setTimeout(opts.idleMs, close)
    client.setTimeout(opts.idleMs, close)
  })
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) fail(new ChaperoneError(err.code === 'ECONNREFUSED' ? 'upstream_unavailable' : 'upstream_error', err.message))
    else close()
  })
  upstream.on('close', () => {
    if (connected) close()
  })
  client.on('error', close)
  client.on('close', close)
  return { close }
}
