/** Reads what the demo chatbot needs out of an OpenAI chat completions request body. */
import { countWords } from './reply-text.js'

export interface ChatRequest {
  model: string
  prompt: string
  promptTokens: number
  stream: boolean
  includeUsage: boolean
}

export type Parsed = { ok: true; request: ChatRequest } | { ok: false; message: string }

export function parseChatRequest(body: Buffer): Parsed {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return { ok: false, message: 'The request body is not valid JSON.' }
  }
  if (!isRecord(json) || !Array.isArray(json.messages)) return { ok: false, message: "'messages' must be an array." }
  const messages = json.messages.filter(isRecord)
  let prompt = ''
  let promptTokens = 0
  for (const m of messages) {
    const text = textOf(m.content)
    promptTokens += countWords(text)
    if (m.role === 'user') prompt = text
  }
  const options = isRecord(json.stream_options) ? json.stream_options : {}
  return {
    ok: true,
    request: {
      model: typeof json.model === 'string' && json.model !== '' ? json.model : 'demo',
      prompt,
      promptTokens,
      stream: json.stream === true,
      includeUsage: options.include_usage === true,
    },
  }
}

// Content is either a string or, for multimodal requests, a list of parts of which only the text
// parts have words to echo.
function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((p): p is { type: 'text'; text: string } => isRecord(p) && p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('\n')
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
