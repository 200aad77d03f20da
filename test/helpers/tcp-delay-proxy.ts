import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'

export interface TcpDelayProxy {
  url: string
  port: number
  /** Added to every chunk, both ways; may change at any time (order is kept either way). */
  delayMs: number
  close(): Promise<void>
}

/**
 * A loopback TCP proxy to `targetPort` that holds every chunk for `delayMs` before passing it on:
 * a slow network or an overloaded Redis, as clients see it.
 */
export async function startTcpDelayProxy(targetPort: number, delayMs = 0): Promise<TcpDelayProxy> {
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const proxy: TcpDelayProxy = {
    url: '',
    port: 0,
    delayMs,
    close: async () => {
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    },
  }

  /** Forwards `from` to `to`, each chunk no earlier than delayMs after it came and never before the previous one. */
  const pipeDelayed = (from: Socket, to: Socket) => {
    let lastDue = 0
    from.on('data', (chunk) => {
      const due = Math.max(Date.now() + proxy.delayMs, lastDue)
      lastDue = due
      setTimeout(() => void (to.destroyed || to.write(chunk)), Math.max(0, due - Date.now()))
    })
    from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, lastDue - Date.now())))
    from.on('error', () => from.destroy())
  }

  const server = createServer((client) => {
    track(client)
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' })
    track(upstream)
    pipeDelayed(client, upstream)
    pipeDelayed(upstream, client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  proxy.port = (server.address() as { port: number }).port
  proxy.url = `redis://127.0.0.1:${proxy.port}`
  return proxy
}
