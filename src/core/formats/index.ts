/**
 * Text extraction and rebuilding for every supported API format, in both directions: the
 * moderation filter sees TextSlots and never a format's JSON.
 *
 * - Streams: createStreamCodec() → StreamCodec (OpenAI chat, OpenAI Responses, Anthropic
 *   Messages, legacy OpenAI completions, any other text/event-stream as plain text).
 * - Non-streamed responses: responseBodyCodec(), and blockedBody() for the refusal that replaces
 *   a blocked one.
 * - Requests: requestBodyCodec().
 *
 * What is not text, by decision: SSE comment lines and `id:` fields (no client renders them;
 * they pass through untouched), event names, identifiers and enums (ids, types, statuses, stop
 * reasons), signatures and encrypted or base64 payloads, logprobs (dropped from an event whose
 * text was rewritten), annotations and citations (they come from tools and documents, not the
 * model). An event of a known format that a codec does not recognize has each of its other
 * strings moderated whole.
 */
export type { BodyCodec, FormatName, StreamCodec, TextSlot } from './types.js'
export { createStreamCodec } from './stream-codec.js'
export { responseBodyCodec, responseFormat, blockedBody } from './response-bodies.js'
export { requestBodyCodec, requestFormat } from './request-bodies.js'
export { formatForPath } from './detect.js'
