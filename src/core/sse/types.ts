/** One server-sent event as the parser yields it (WHATWG HTML §9.2 field semantics). */
export interface SseEvent {
  /** The `event:` field; undefined when absent (which means "message"). */
  event?: string
  /** `data:` lines joined with "\n". */
  data: string
  /** The `id:` field when this event carried one. */
  id?: string
  /** The `retry:` field when it was a valid integer. */
  retry?: number
  /** Comment lines (without the leading colon) seen since the previous event. */
  comments?: string[]
}
