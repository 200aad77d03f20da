/**
 * Writes a chat completion as OpenAI's SSE stream, paced like a model emitting tokens. Pacing is
 * against absolute deadlines from the first delta, so timer lateness does not accumulate over a
 * long stream and benchmarks see the same schedule through any proxy.
 */
import type { ServerResponse } from 'node:http'
import { chunk, usageChunk, type Usage } from './openai-shapes.js'

export interface StreamStats {
  activeStreams: number
  streamsStarted: number
  streamsCompleted: number
  streamsAborted: number
  deltasWritten: number
}

/** Counts streams so tests can prove a disconnect stops the writing, and close() can end them. */
export class StreamTracker {
  private readonly cancels = new Set<() => void>()
  private started = 0
  private completed = 0
  private aborted = 0
  deltasWritten = 0

  begin(cancel: () => void): void {
    this.cancels.add(cancel)
    this.started++
  }

  end(cancel: () => void, aborted: boolean): void {
    if (!this.cancels.delete(cancel)) return
    if (aborted) this.aborted++
    else this.completed++
  }

  cancelAll(): void {
    for (const cancel of [...this.cancels]) cancel()
  }

  stats(): StreamStats {
    return {
      activeStreams: this.cancels.size,
      streamsStarted: this.started,
      streamsCompleted: this.completed,
      streamsAborted: this.aborted,
      deltasWritten: this.deltasWritten,
    }
  }
}

export interface StreamPlan {
  id: string
  model: string
  deltas: string[]
  /** Present when the client asked for `stream_options.include_usage`. */
  usage?: Usage | undefined
}

// Content events differ only in their text: building them from a template cut around a marker
// keeps the exact field order of chunk() while sparing a JSON.stringify of the whole object per
// delta, which matters when hundreds of benchmark streams share the machine with the proxy.
function contentEvent(id: string, model: string, withUsage: boolean): (text: string) => string {
  const marker = '\u0000delta\u0000'
  const [head, tail] = JSON.stringify(chunk(id, model, { content: marker }, null, withUsage)).split(JSON.stringify(marker)) as [string, string]
  return (text) => `data: ${head}${JSON.stringify(text)}${tail}\n\n`
}

export function writeStream(res: ServerResponse, plan: StreamPlan, paceMs: number, tracker: StreamTracker): void {
  const withUsage = plan.usage !== undefined
  const { id, model, deltas } = plan
  let timer: NodeJS.Timeout | undefined
  let done = false
  let i = 0

  const finish = (aborted: boolean) => {
    if (done) return
    done = true
    if (timer !== undefined) clearTimeout(timer)
    res.off('drain', step)
    tracker.end(cancel, aborted)
  }
  const cancel = () => {
    finish(true)
    res.destroy()
  }
  const send = (value: unknown) => res.write(`data: ${JSON.stringify(value)}\n\n`)
  const sendDelta = contentEvent(id, model, withUsage)

  tracker.begin(cancel)
  res.on('close', () => finish(true))
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
  send(chunk(id, model, { role: 'assistant', content: '', refusal: null }, null, withUsage))
  const t0 = performance.now()

  function step(): void {
    timer = undefined
    if (done) return
    if (res.destroyed) return finish(true)
    while (i < deltas.length) {
      const wait = t0 + i * paceMs - performance.now()
      // Under a millisecond the timer would only add its own minimum delay.
      if (wait >= 1) {
        timer = setTimeout(step, wait)
        return
      }
      const flushed = res.write(sendDelta(deltas[i]!))
      i++
      tracker.deltasWritten++
      if (!flushed) {
        res.once('drain', step)
        return
      }
    }
    send(chunk(id, model, {}, 'stop', withUsage))
    if (plan.usage !== undefined) send(usageChunk(id, model, plan.usage))
    res.write('data: [DONE]\n\n')
    finish(false)
    res.end()
  }
  step()
}
