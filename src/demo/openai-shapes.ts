/**
 * The JSON shapes of OpenAI's chat completions API, as the official API sends them (field order
 * and nulls included), so that the official SDK and Chaperone's format parsers see exactly what
 * they will see in production.
 */
import { createHash } from 'node:crypto'

// A fixed timestamp keeps whole responses byte-identical across runs.
export const DEMO_CREATED = 1_700_000_000

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens }
}

export function completionId(model: string, content: string): string {
  return 'chatcmpl-demo' + createHash('sha256').update(model).update('\0').update(content).digest('hex').slice(0, 24)
}

export function completion(id: string, model: string, content: string, usage: Usage) {
  return {
    id,
    object: 'chat.completion',
    created: DEMO_CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
    system_fingerprint: null,
  }
}

type Delta = { role?: 'assistant'; content?: string; refusal?: null }

/** One streamed chunk; `withUsage` adds the `usage: null` the API sends when usage was asked for. */
export function chunk(id: string, model: string, delta: Delta, finishReason: 'stop' | null, withUsage: boolean) {
  return {
    id,
    object: 'chat.completion.chunk',
    created: DEMO_CREATED,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(withUsage ? { usage: null } : {}),
  }
}

/** The trailing usage chunk of `stream_options.include_usage`: no choices, only usage. */
export function usageChunk(id: string, model: string, usage: Usage) {
  return { id, object: 'chat.completion.chunk', created: DEMO_CREATED, model, system_fingerprint: null, choices: [], usage }
}

export function errorBody(status: number, message: string, code: string | null = null) {
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error'
  return { error: { message, type, param: null, code } }
}
