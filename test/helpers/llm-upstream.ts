import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { chatChunk, DONE } from './scripted-upstream.js'

export interface Answer {
  status?: number
  headers?: Record<string, string | string[]>
  /** SSE events (already framed) or a JSON body; each string is written as its own TCP write. */
  chunks: string[]
  /** Destroy the socket after the chunks instead of ending the response. */
  reset?: boolean
  /** Pause between chunks. */
  gapMs?: number
}

export interface LlmUpstream {
  url: string
  /** Requests received so far, in order. */
  readonly requests: Array<{ url: string; body: string; headers: http.IncomingHttpHeaders }>
  /** Answers wait until `release()` while held. */
  hold(): void
  release(): void
  close(): Promise<void>
}

/**
 * A chatbot stand-in that counts what reaches it and can hold every answer until released, so a
 * test can pile identical requests up in flight. `answer` decides each response.
 */
export async function startLlmUpstream(answer: (req: { url: string; body: string; n: number }) => Answer): Promise<LlmUpstream> {
  const requests: LlmUpstream['requests'] = []
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = []
    for await (const c of req as AsyncIterable<Buffer>) parts.push(c)
    const body = Buffer.concat(parts).toString('utf8')
    requests.push({ url: req.url ?? '/', body, headers: req.headers })
    const a = answer({ url: req.url ?? '/', body, n: requests.length })
    if (gate) await gate
    req.socket.setNoDelay(true)
    res.writeHead(a.status ?? 200, a.headers ?? { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.flushHeaders()
    for (const c of a.chunks) {
      if (res.destroyed) return
      res.write(c)
      await new Promise((r) => setTimeout(r, a.gapMs ?? 1))
    }
    if (a.reset) return void req.socket.destroy()
    res.end()
  })
  server.keepAliveTimeout = 1000
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hold() {
      gate = new Promise((r) => (open = r))
    },
    release() {
      open?.()
      gate = undefined
    },
    close: () =>
      new Promise<void>((resolve) => {
        open?.()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A complete OpenAI chat stream answering `text`, one event per word, with usage and [DONE]. */
export function chatStream(text: string, usage = { prompt_tokens: 7, completion_tokens: 5 }): string[] {
  const words = text.split(/(?<= )/)
  return [
    chatChunk('', { role: 'assistant' }),
    ...words.map((w) => chatChunk(w)),
    chatChunk(null, { finish: 'stop' }),
    `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })}\n\n`,
    DONE,
  ]
}

/** A complete non-streaming OpenAI chat answer. */
export function chatJson(text: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
  })
}
