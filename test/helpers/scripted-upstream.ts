import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** One step of a scripted response body: bytes written as one TCP write, a pause, or a reset. */
export type Step = Buffer | string | { pause: number } | { reset: true } | { hang: true }

export interface Script {
  status?: number
  headers?: Record<string, string>
  body: Step[]
}

export interface ScriptedUpstream {
  url: string
  /** Requests received, with their bodies, in order. */
  readonly requests: { method: string; url: string; body: string }[]
  /** How many responses the client side closed before the script ended. */
  readonly aborted: () => number
  close(): Promise<void>
}

/**
 * An upstream that answers every request with `script(req)`, writing each step as its own TCP
 * write (Nagle off, a macrotask between writes) so that tests control exactly where event and
 * UTF-8 boundaries fall on the wire.
 */
export async function startScriptedUpstream(script: (req: { method: string; url: string; body: string }) => Script): Promise<ScriptedUpstream> {
  const requests: { method: string; url: string; body: string }[] = []
  let aborted = 0
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c)
    const info = { method: req.method ?? 'GET', url: req.url ?? '/', body: Buffer.concat(parts).toString('utf8') }
    requests.push(info)
    const s = script(info)
    req.socket.setNoDelay(true)
    res.writeHead(s.status ?? 200, s.headers ?? { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.flushHeaders()
    let closed = false
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true
        aborted++
      }
    })
    for (const step of s.body) {
      if (closed) return
      if (typeof step === 'string' || Buffer.isBuffer(step)) {
        res.write(step)
        await sleep(1)
      } else if ('pause' in step) await sleep(step.pause)
      else if ('reset' in step) return void req.socket.destroy()
      else if ('hang' in step) return
    }
    res.end()
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    aborted: () => aborted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** An OpenAI chat stream event carrying `content`. */
export function chatChunk(content: string | null, extra: { finish?: string; role?: string } = {}): string {
  const delta: Record<string, unknown> = {}
  if (extra.role) delta.role = extra.role
  if (content !== null) delta.content = content
  return `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: extra.finish ?? null }] })}\n\n`
}

export const DONE = 'data: [DONE]\n\n'
