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
  /**
   * True for a block that dispatches no message (it had no `data:` line) but still carries
   * something a client reacts to: comments (keep-alive pings), an `id:` (it moves the client's
   * Last-Event-ID) or a `retry:`. A proxy forwards it as is and never treats it as content;
   * `data` is always '' and `event` is never set on it.
   */
  commentOnly?: boolean
}
