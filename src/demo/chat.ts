/** `POST /v1/chat/completions`: a deterministic answer, whole or streamed. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseChatRequest } from './chat-request.js'
import { intHeader, readBody, sendError, sendJson, waitUnlessClosed } from './http-util.js'
import { completion, completionId, usageOf } from './openai-shapes.js'
import { countWords, replyDeltas } from './reply-text.js'
import { writeStream, type StreamTracker } from './stream-writer.js'

export interface ChatSettings {
  paceMs: number
  deltas?: number | undefined
  chunkWords?: number | undefined
}

// Bounds on the override headers: enough for any test or benchmark, small enough that a typo
// cannot make the chatbot hold a connection for hours or build a gigabyte answer.
const MAX_PACE_MS = 60_000
const MAX_DELAY_MS = 600_000
const MAX_DELTAS = 100_000

export async function handleChat(req: IncomingMessage, res: ServerResponse, settings: ChatSettings, tracker: StreamTracker): Promise<void> {
  const read = await readBody(req)
  if (!read.ok) {
    if (read.reason === 'too_large') sendError(res, 413, 'The request body exceeds 1 MiB.', 'body_too_large')
    return
  }
  const delay = intHeader(req, 'x-demo-delay-headers-ms', 0, MAX_DELAY_MS) ?? 0
  if (!(await waitUnlessClosed(res, delay))) return

  const forcedStatus = intHeader(req, 'x-demo-status', 400, 599)
  if (forcedStatus !== undefined) {
    sendError(res, forcedStatus, `Demo chatbot error ${forcedStatus}, as asked by x-demo-status.`, 'demo_forced_status')
    return
  }

  const parsed = parseChatRequest(read.body)
  if (!parsed.ok) {
    sendError(res, 400, parsed.message)
    return
  }
  const { model, prompt, promptTokens, stream, includeUsage } = parsed.request
  const deltas = replyDeltas(prompt, {
    deltas: intHeader(req, 'x-demo-deltas', 1, MAX_DELTAS) ?? settings.deltas,
    chunkWords: intHeader(req, 'x-demo-chunk-words', 1, MAX_DELTAS) ?? settings.chunkWords,
  })
  const content = deltas.join('')
  const id = completionId(model, content)
  const usage = usageOf(promptTokens, countWords(content))

  if (!stream) {
    sendJson(res, 200, completion(id, model, content, usage))
    return
  }
  const paceMs = intHeader(req, 'x-demo-pace-ms', 0, MAX_PACE_MS) ?? settings.paceMs
  writeStream(res, { id, model, deltas, usage: includeUsage ? usage : undefined }, paceMs, tracker)
}
