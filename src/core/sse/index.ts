export type { SseEvent } from './types.js'
export { createSseParser, SseLimitError, DEFAULT_MAX_EVENT_BYTES, type SseParser, type SseParserOptions } from './parser.js'
export { serializeEvent, encodeEvent } from './serializer.js'
