import type { InFlight, ResponseSink } from '../chain/origin.js'
import type { CacheEntry } from './types.js'

export type Pacing = 'instant' | 'original'

/**
 * Plays a stored entry into a sink as the upstream would have sent it. `instant` hands over the
 * body in one piece (the SSE framing inside it keeps every event boundary); `original` hands over
 * one event at a time, each at the offset from the head at which the upstream sent it. The sink
 * hears nothing before this returns, and backpressure holds (a paused sink is resumed first).
 */
export function replayEntry(entry: CacheEntry, sink: ResponseSink, pacing: Pacing, extraHeaders: readonly string[]): InFlight {
  let stopped = false
  let paused = false
  let next = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const pieces = pacing === 'original' && entry.events && entry.events.ends.length > 1 ? slices(entry) : [{ bytes: Buffer.from(entry.body.buffer, entry.body.byteOffset, entry.body.byteLength), at: 0 }]
  let started = 0

  const pump = (): void => {
    timer = undefined
    while (!stopped && !paused && next < pieces.length) {
      const piece = pieces[next]!
      const wait = started + piece.at - performance.now()
      if (wait > 1) {
        timer = setTimeout(pump, wait)
        return
      }
      next++
      if (piece.bytes.byteLength > 0 && !sink.onData(piece.bytes)) paused = true
    }
    // A paused sink is still busy with the last piece: the end, too, waits for its resume.
    if (!stopped && !paused && next === pieces.length) {
      stopped = true
      sink.onEnd()
    }
  }

  queueMicrotask(() => {
    if (stopped) return
    started = performance.now()
    const ok = sink.onHead(entry.status, [...entry.headers, ...extraHeaders], () => {
      if (!paused) return
      paused = false
      if (!timer) pump()
    })
    if (!ok) paused = true
    if (!stopped) pump()
  })

  return {
    abort() {
      stopped = true
      if (timer) clearTimeout(timer)
    },
  }
}

function slices(entry: CacheEntry): Array<{ bytes: Buffer; at: number }> {
  const out: Array<{ bytes: Buffer; at: number }> = []
  const body = Buffer.from(entry.body.buffer, entry.body.byteOffset, entry.body.byteLength)
  const { ends, at } = entry.events!
  let from = 0
  for (let i = 0; i < ends.length; i++) {
    out.push({ bytes: body.subarray(from, ends[i]), at: at[i] ?? 0 })
    from = ends[i]!
  }
  // Bytes after the last boundary cannot exist in a stored entry (it would be incomplete), but a
  // replay must never drop bytes it was given.
  if (from < body.byteLength) out.push({ bytes: body.subarray(from), at: at[at.length - 1] ?? 0 })
  return out
}
